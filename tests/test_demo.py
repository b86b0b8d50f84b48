"""The shipped lite model on the committed demo clip (real faces, voices and lines of known emotion)."""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import pytest

from mmempathy import EmotionFuser, hub

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
SHIPPED = hub.packaged_weights(hub.load_preset("lite"))
DATA = Path(os.environ.get("MMEMPATHY_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="module")
def timeline():
    if SHIPPED is None:
        pytest.skip("no trained lite weights installed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a trained model must not warn that it is untrained
        fuser = EmotionFuser.from_pretrained("lite", device="cpu")
    return fuser.predict_video(DEMO / "demo.mp4", subtitles=DEMO / "demo.srt", progress=False)


def truth() -> list[str]:
    with open(DEMO / "truth.csv") as f:
        return [row["emotion"] for row in csv.DictReader(f)]


def test_shipped_lite_is_trained_and_small():
    assert SHIPPED is not None, "mmempathy/weights/lite is missing: the README's main command would be untrained"
    assert (SHIPPED / "model.safetensors").stat().st_size < 40 * 2**20


def test_demo_segments_are_recognised(timeline):
    expected = truth()
    assert len(timeline.segments) == len(expected)
    for segment in timeline.segments:
        assert segment.present == ["text", "audio", "face"]
    dominant = [max(s.probs, key=s.probs.get) for s in timeline.segments]
    assert dominant == expected


@pytest.mark.skipif(not (DATA / "fer2013").is_dir(), reason="needs ../shared/data to rebuild the clip")
def test_demo_clip_rebuilds_from_shared_data(tmp_path):
    """The committed truth table is what the builder makes from the shared data."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "build_demo_clip.py"
    subprocess.run(
        [sys.executable, str(script), "--data-dir", str(DATA), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert (tmp_path / "truth.csv").read_text() == (DEMO / "truth.csv").read_text()
    assert (tmp_path / "demo.srt").read_text() == (DEMO / "demo.srt").read_text()
