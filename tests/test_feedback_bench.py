"""Smoke runs of benchmarks/feedback.py and benchmarks/rl_baselines.py on the tiny model and a slice of
the shared data, so the recipes cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (DATA / "ravdess").is_dir() or not (DATA / "meld").is_dir(), reason="no shared data"
)


def run(script: str, *args: str) -> None:
    env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], check=True, env=env, cwd=ROOT,
                   capture_output=True)  # fmt: skip


@pytest.mark.shared_data
@pytest.mark.slow
@needs_data
def test_feedback_benchmark_smoke(tmp_path):
    run("feedback.py", "--smoke", "3", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    tag = "calibration-lora-finetune-finetune+replay"
    result = json.loads((tmp_path / "out" / f"results-{tag}.json").read_text())
    assert (tmp_path / "out" / f"feedback-{tag}.png").stat().st_size > 0
    rows = result["rows"]
    assert len(rows) == 2 * 2 and {r["k"] for r in rows} == {0, 2}
    for r in rows:
        assert r["n_eval"] == 3 - r["k"]
        if r["k"] == 0:  # no correction: every method is the base model
            assert all(r[m] == r["base"] and r[f"{m}_general"] == r["base_general"] for m in result["methods"])


@pytest.mark.shared_data
@pytest.mark.slow
@needs_data
def test_feedback_selection_smoke(tmp_path):
    """The dev selection of the anchor: users are the dev actors, never a test speaker."""
    run("feedback.py", "--smoke", "3", "--select", "--grid-anchor", "0", "30", "--grid-temperature", "2",
        "--grid-replay-weight", "1", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))  # fmt: skip
    result = json.loads((tmp_path / "out" / "select-dev.json").read_text())
    assert result["speakers"] == ["ravdess-17", "ravdess-18"]
    assert [g["anchor"] for g in result["grid"]] == [0, 30] and result["chosen"] in result["grid"]


@pytest.mark.shared_data
@pytest.mark.slow
@needs_data
def test_rl_benchmark_smoke(tmp_path):
    pytest.importorskip("stable_baselines3")
    from mmempathy.rl.env import DialogueSet

    run("rl_baselines.py", "--smoke", "--cost-warmup", "0.5", "--out", str(tmp_path / "out"),
        "--cache", str(tmp_path / "cache"))  # fmt: skip
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(summary["results"]) == {"random", "always-majority", "always-text", "always-consult-all",
                                       "threshold (fit on train)", "PPO (SB3)",
                                       "PPO + consult-cost curriculum (warm-up 0.5, chosen on dev)"}  # fmt: skip
    assert summary["curriculum"]["chosen"] == 0.5 and set(summary["curriculum"]["dev"]) == {"0.5"}
    assert summary["sizes"]["test"]["dialogues"] == 3
    data = DialogueSet.load(tmp_path / "cache" / "dialogues" / "meld-test.safetensors")
    assert data.consultable == ["audio", "face"] and len(data) == 3
    consult = summary["results"]["always-consult-all"][0]
    assert consult["consults_per_turn"] == 2.0 and consult["cost_per_turn"] == pytest.approx(0.1)
