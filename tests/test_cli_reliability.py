"""Reliability of ``mmempathy predict`` and the pipeline around it (issues 14 and 17).

Every bad input ends in one line and exit status 2 before any model loads; outputs are written
whole and together or not at all; Ctrl-C ends in one line and status 130; dropped cues are
reported; a timeline of an hour stays readable; encoder weights load from safetensors only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mmempathy.cli as cli
from mmempathy.errors import CheckpointError, InputError
from mmempathy.media.subtitles import Cue
from mmempathy.media.timeline import CROWDED, Segment, Timeline
from mmempathy.testing import draw_face, tone, write_clip

pytestmark = pytest.mark.filterwarnings("ignore:this model.s weights are untrained")

LABELS = ("anger", "joy", "neutral", "sadness")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reliability")
    frames = [draw_face(np.full((120, 160, 3), 90, np.uint8), (80, 60), 30) for _ in range(20)]
    return write_clip(root / "clip.mp4", frames, fps=10, audio=tone(2.0))


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("mmempathy: error:") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err


# --- inputs ---------------------------------------------------------------------------------


def test_directory_as_video_gives_the_api_message(tmp_path, capsys, no_model):
    from mmempathy.media.decode import check_media_path

    with pytest.raises(InputError) as api:
        check_media_path(tmp_path)
    assert cli.main(["predict", str(tmp_path), "--model", "tiny"]) == 2
    err = _one_line_error(capsys, "a directory")
    assert err.strip() == f"mmempathy: error: {api.value}"


@pytest.mark.parametrize("device, needle", [("tpu9", "unknown device 'tpu9'"), ("cuda", "no CUDA GPU")])
def test_bad_device_is_one_line(clip, capsys, no_model, monkeypatch, device, needle):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without a GPU
    assert cli.main(["predict", str(clip), "--model", "tiny", "--device", device]) == 2
    _one_line_error(capsys, needle, "--device")


def test_missing_gpu_index_is_one_line(clip, capsys, no_model, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert cli.main(["predict", str(clip), "--model", "tiny", "--device", "cuda:3"]) == 2
    _one_line_error(capsys, "cuda:3", "no such GPU")


def test_transcript_that_is_not_utf8_is_one_line(clip, capsys, no_model):
    # Python hands argv over decoded with surrogateescape: the Latin-1 byte 0xe9 arrives as \udce9.
    transcript = os.fsdecode(b"caf\xe9 au lait")
    assert transcript == "caf\udce9 au lait"
    assert cli.main(["predict", str(clip), "--model", "tiny", "--transcript", transcript]) == 2
    _one_line_error(capsys, "--transcript", "not valid UTF-8", "0xe9", "position 3")


# --- output paths, checked before any work ----------------------------------------------------


def test_same_path_for_two_outputs(clip, tmp_path, capsys, no_model):
    out = tmp_path / "out.png"
    assert cli.main(["predict", str(clip), "--model", "tiny", "--csv", str(out), "--plot", str(out)]) == 2
    _one_line_error(capsys, "--csv and --plot name the same file")


def test_output_whose_parent_is_a_file(clip, tmp_path, capsys, no_model):
    (tmp_path / "file").write_text("x")
    assert cli.main(["predict", str(clip), "--model", "tiny", "--json", str(tmp_path / "file" / "t.json")]) == 2
    _one_line_error(capsys, "--json", "is a file, not a directory")


def test_unknown_plot_format(clip, tmp_path, capsys, no_model):
    old = tmp_path / "t.json"
    old.write_text("old")
    args = ["predict", str(clip), "--model", "tiny", "--json", str(old), "--plot", str(tmp_path / "out.xyz")]
    assert cli.main(args) == 2
    _one_line_error(capsys, "--plot", "unsupported format '.xyz'", ".png")
    assert old.read_text() == "old"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_directory(clip, tmp_path, capsys, no_model):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["predict", str(clip), "--model", "tiny", "--csv", str(locked / "t.csv")]) == 2
    finally:
        locked.chmod(0o700)
    _one_line_error(capsys, "permission denied")


# --- outputs written whole and together -------------------------------------------------------


def _outputs(root: Path) -> dict[str, Path]:
    return {"--json": root / "t.json", "--csv": root / "t.csv", "--plot": root / "t.png"}


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def test_plot_failing_after_json_leaves_the_old_outputs(clip, tmp_path, capsys, monkeypatch):
    from matplotlib.figure import Figure

    outputs = _outputs(tmp_path)
    for path in outputs.values():
        path.write_text("old")

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    args = ["predict", str(clip), "--model", "tiny", "--quiet", "--asr", "off"]
    assert cli.main(args + [x for name, path in outputs.items() for x in (name, str(path))]) == 2
    _one_line_error(capsys, "no space left")
    assert all(path.read_text() == "old" for path in outputs.values())  # no mix of new and old
    assert _leftovers(tmp_path) == []  # and no temporary file left behind


def test_dev_full_is_written_in_place_and_fails_in_one_line(clip, tmp_path, capsys):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    csv = tmp_path / "t.csv"
    csv.write_text("old")
    args = ["predict", str(clip), "--model", "tiny", "--quiet", "--asr", "off", "--json", "/dev/full"]
    assert cli.main(args + ["--csv", str(csv)]) == 2
    _one_line_error(capsys, "/dev/full", "no space left")
    assert Path("/dev/full").is_char_device()  # still the device, not a file renamed over it
    assert csv.read_text() == "old" and _leftovers(tmp_path) == []


def test_all_outputs_replace_old_ones_together(clip, tmp_path, capsys):
    outputs = _outputs(tmp_path)
    for path in outputs.values():
        path.write_text("old")
    args = ["predict", str(clip), "--model", "tiny", "--quiet", "--asr", "off"]
    assert cli.main(args + [x for name, path in outputs.items() for x in (name, str(path))]) == 0
    assert json.loads(outputs["--json"].read_text())["segments"]
    assert outputs["--csv"].read_text().startswith("start,end,dominant")
    assert outputs["--plot"].read_bytes()[:4] == b"\x89PNG"
    assert _leftovers(tmp_path) == []


# --- Ctrl-C -------------------------------------------------------------------------------------


def test_keyboard_interrupt_in_any_subcommand_is_one_line_and_130(monkeypatch, capsys):
    import mmempathy.cli.models as models

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "run", interrupted)
    assert cli.main(["models"]) == 130
    assert capsys.readouterr().err == "mmempathy: interrupted\n"


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Twenty minutes of tiny frames and a tone: seconds to write, several seconds to predict at 1-s windows (the
    overlapped stages read it at some 300x real time; two and a half minutes were over before the interrupt)."""
    root = tmp_path_factory.mktemp("long")
    frame = np.full((32, 32, 3), 90, np.uint8)
    return write_clip(root / "long.mp4", (frame for _ in range(1200)), fps=1, audio=tone(1200.0))


@pytest.mark.slow
def test_sigint_during_predict_exits_130_and_writes_nothing(long_clip, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = out / "t.json"
    old.write_text("old")
    command = [sys.executable, "-m", "mmempathy.cli", "predict", str(long_clip), "--model", "tiny"]
    command += [
        "--asr",
        "off",
        "--no-vad",
        "--window",
        "1",
        "--hop",
        "1",
        "--json",
        str(old),
        "--csv",
        str(out / "t.csv"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # A shell's background job starts with SIGINT ignored, and Python then installs no handler:
    # give the child the default, as a terminal would.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # The progress bar (files over a minute) appears once the model has loaded and decoding started.
    os.set_blocking(process.stderr.fileno(), False)
    seen, deadline = b"", time.monotonic() + 120
    while b"long.mp4" not in seen and process.poll() is None and time.monotonic() < deadline:
        seen += process.stderr.read() or b""
        time.sleep(0.1)
    assert process.poll() is None, f"finished before the interrupt: {seen.decode(errors='replace')}"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=60)
    err = (seen + rest).decode(errors="replace")
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.rstrip().endswith("mmempathy: interrupted")
    assert [line for line in err.splitlines() if line.startswith("mmempathy:")] == ["mmempathy: interrupted"]
    assert old.read_text() == "old" and not (out / "t.csv").exists() and _leftovers(out) == []


# --- dropped and merged cues ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip18(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clip18")
    frames = [np.full((48, 64, 3), 90, np.uint8) for _ in range(18 * 5)]
    return write_clip(root / "clip18.mp4", frames, fps=5, audio=tone(18.0))


def test_short_last_cue_is_merged_not_lost(tiny, clip18):
    from mmempathy.media.pipeline import predict_video

    cues = [Cue(0.0, 6.0, "one"), Cue(6.0, 12.0, "two"), Cue(12.0, 17.0, "three"), Cue(17.5, 17.9, "four")]
    timeline = predict_video(tiny, clip18, subtitles=cues, asr="off")
    assert [s.text for s in timeline][-1] == "three four"  # the 0.4-s cue joins the one before
    assert timeline.meta["cue_merging"]["merged"] == 1 and timeline.meta["cue_merging"]["cues"] == 4
    assert timeline.meta["dropped"] == []


def test_every_dropped_cue_is_reported_with_its_reason(tiny, clip18, caplog):
    from mmempathy.media.pipeline import predict_video

    cues = [Cue(0.0, 9.0, "one"), Cue(9.0, 17.8, "two"), Cue(17.8, 25.0, "cut"), Cue(20.0, 22.0, "after")]
    with caplog.at_level("WARNING", logger="mmempathy.media.pipeline"):
        timeline = predict_video(tiny, clip18, subtitles=cues, asr="off")
    assert [s.text for s in timeline] == ["one", "two"]
    dropped = timeline.meta["dropped"]
    assert [(d["kind"], d["text"]) for d in dropped] == [("cue", "cut"), ("cue", "after")]
    assert "under min_segment" in dropped[0]["reason"] and "after the end" in dropped[1]["reason"]
    assert "2 subtitle cue(s)" in caplog.text and "meta['dropped']" in caplog.text
    json.dumps(timeline.meta)  # the report is plain data


def test_crowded_cues_are_merged_per_window(tiny, clip18):
    from mmempathy.media.pipeline import predict_video

    cues = [Cue(i * 0.01, i * 0.01 + 0.01, f"w{i}") for i in range(1_700)]  # 17 s of 10-ms cues
    timeline = predict_video(tiny, clip18, subtitles=cues, asr="off")
    assert len(timeline) <= 2 * 17 + 1 and timeline.meta["cue_merging"]["cues"] == 1_700
    assert " ".join(s.text for s in timeline).split() == [c.text for c in cues]  # no word lost


# --- timelines of an hour ---------------------------------------------------------------------------


def _timeline(n: int, hop: float = 3.0) -> Timeline:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(LABELS)), n)
    segments = [
        Segment(i * hop, (i + 1) * hop, probs=dict(zip(LABELS, map(float, p))), incongruity=float(rng.uniform()))
        for i, p in enumerate(probs)
    ]
    return Timeline(segments, labels=LABELS, source="hour.mp4")


def test_plot_of_an_hour_is_areas_not_thousands_of_bars(tmp_path):
    fig = _timeline(1_200).plot(tmp_path / "hour.png")
    ax, band, _modalities, clash = fig.axes
    assert len(ax.patches) == 0 and len(ax.collections) == len(LABELS)  # one area per label
    assert "mean of 12 segments" in ax.get_ylabel()
    assert len(band.texts) < 20  # names only where a run is wide enough
    assert clash.get_xlabel() == "time (min:s)" and clash.get_xticklabels()
    assert (tmp_path / "hour.png").read_bytes()[:4] == b"\x89PNG"
    small = _timeline(CROWDED).plot()
    assert len(small.axes[0].patches) == CROWDED * len(LABELS)  # few segments: one bar each, unsmoothed


def test_timeline_files_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    import pandas as pd

    timeline = _timeline(5)
    path = tmp_path / "t.csv"
    path.write_text("old")

    def broken(self, target, *args, **kwargs):
        Path(target).write_text("start,end,dom")  # a partial write, then the failure
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(KeyboardInterrupt):
        timeline.to_csv(path)
    assert path.read_text() == "old" and _leftovers(tmp_path) == []
    with pytest.raises(InputError, match="unsupported format '.xyz'"):
        timeline.plot(tmp_path / "t.xyz")
    timeline.to_json(tmp_path / "t.json")
    assert Timeline.from_json(tmp_path / "t.json").labels == LABELS


# --- encoder weights: safetensors only --------------------------------------------------------------


def test_encoder_directory_with_only_a_pickle_is_refused_by_the_loader(tmp_path, monkeypatch):
    import torch
    from transformers import BertConfig, BertModel

    from mmempathy.config import TextEncoderConfig
    from mmempathy.encoders.base import load_hf_model

    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)
    model = BertModel(config)
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle

    def never(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(torch, "load", never)
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        load_hf_model(TextEncoderConfig(name=str(tmp_path)), str(tmp_path), pretrained=True)
    model.save_pretrained(tmp_path)  # safetensors beside it: that is what loads
    loaded = load_hf_model(TextEncoderConfig(name=str(tmp_path)), str(tmp_path), pretrained=True)
    assert torch.equal(loaded.embeddings.word_embeddings.weight, model.embeddings.word_embeddings.weight)
