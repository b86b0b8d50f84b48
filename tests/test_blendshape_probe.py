"""benchmarks/blendshape_probe.py: the per-person shift on synthetic features, and a smoke run on a slice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import benchmark

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CKPLUS = Path("/work/data/ckplus/CK+48")  # research-only data, extracted on the build machine, never committed


@pytest.fixture(scope="module")
def probe():
    pytest.importorskip("sklearn")
    return benchmark("blendshape_probe")


def test_the_mean_shift_moves_each_persons_mean_onto_the_target(probe, rng):
    x = rng.random((30, 4))
    groups = np.repeat([0, 1, 2], 10)
    target = np.array([0.1, 0.2, 0.3, 0.4])
    shifted = probe.person_shift(x, groups, target, mode="mean")
    for g in range(3):
        np.testing.assert_allclose(shifted[groups == g].mean(0), target, atol=1e-12)
        # within a person, the differences between inputs stay
        np.testing.assert_allclose(np.diff(shifted[groups == g], axis=0), np.diff(x[groups == g], axis=0))
    assert probe.person_shift(x, groups, target, mode="none") is x


def test_the_others_shift_leaves_each_unit_out_of_its_own_reference(probe, rng):
    x = rng.random((12, 2))
    groups, clips = np.zeros(12), np.repeat([0, 1, 2], 4)
    target = np.array([0.5, -0.5])
    shifted = probe.person_shift(x, groups, target, mode="others", units=clips)
    for clip in range(3):
        rest = x[clips != clip].mean(0)
        np.testing.assert_allclose(shifted[clips == clip], x[clips == clip] + target - rest)
    # a person with one clip has no other clips: the shift falls back to their own mean
    alone = probe.person_shift(x[:4], np.zeros(4), target, mode="others", units=np.zeros(4))
    np.testing.assert_allclose(alone.mean(0), target)


def test_the_bounded_shift_moves_at_most_the_bound(probe, rng):
    x = rng.random((20, 3)) + np.array([5.0, 0.0, 0.0])
    groups = np.repeat([0, 1], 10)
    scale = np.array([1.0, 1.0, 0.01])
    shifted = probe.person_shift(x, groups, np.zeros(3), mode="bounded", scale=scale, bound=0.5)
    move = shifted - x
    assert np.all(np.abs(move) <= 0.5 * scale + 1e-12)
    assert np.allclose(move[:, 0], -0.5)  # the far feature is moved by the bound only
    full = probe.person_shift(x, groups, np.zeros(3), mode="mean")
    assert np.abs(full - x)[:, 0].min() > 4


def test_the_calm_shift_anchors_the_least_emotional_quarter(probe, rng):
    x = rng.random((8, 2))
    groups = np.zeros(8)
    calm = np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.1, 0.0, 0.2])  # rows 0 and 2 are the calmest quarter
    target = np.array([1.0, -1.0])
    shifted = probe.person_shift(x, groups, np.zeros(2), mode="calm", calm=calm, calm_target=target)
    np.testing.assert_allclose(shifted[[0, 2]].mean(0), target)


def test_clip_accuracy_averages_the_frames_and_can_weight_them(probe):
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    labels, clips = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])
    plain = probe.accuracy(probs, labels, clips, by="clip")
    assert plain["clips_right"] == 2 and plain["frame_accuracy"] == 0.5
    # all the weight on the wrong frame of clip 0 turns it wrong
    weighted = probe.accuracy(probs, labels, clips, by="clip", weights=np.array([0.0, 1.0, 1.0, 1.0]))
    assert weighted["clips_right"] == 1


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.skipif(
    not (DATA / "fer2013").is_dir() or not (DATA / "ravdess-av").is_dir() or not CKPLUS.is_dir(), reason="no data"
)
def test_blendshape_probe_smoke(tmp_path):
    pytest.importorskip("ai_edge_litert")
    out = tmp_path / "probe.json"
    env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "blendshape_probe.py"), "--smoke", "6", "--cache",
         str(tmp_path / "cache"), "--out", str(out)],
        check=True, env=env, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["setup"]["per_class"] == 6 and result["train"]["n"] == 6 * 7
    assert set(result["ckplus"]) >= {"blendshapes/none", "blendshapes/others", "blendshapes/quiet", "lite-cnn/mean"}
    assert result["actor05"]["blendshapes/calm"]["clips"] == 2
    assert all(0 <= row["accuracy"] <= 1 for row in result["ckplus"].values())
    assert (tmp_path / "cache" / "single-smoke6" / "ckplus.npz").is_file()
