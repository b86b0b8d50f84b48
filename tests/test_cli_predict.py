"""``mmempathy predict``: user errors end in one line and exit status 2; outputs are written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mmempathy.cli as cli
from mmempathy.testing import draw_face, tone, write_clip

pytestmark = pytest.mark.filterwarnings("ignore:this model.s weights are untrained")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    frames = [draw_face(np.full((180, 320, 3), 90, np.uint8), (160, 90), 40) for _ in range(40)]
    return write_clip(root / "clip.mp4", frames, fps=10, audio=tone(4.0))


def test_missing_file_is_one_line_and_status_2(tmp_path, capsys):
    status = cli.main(["predict", str(tmp_path / "nope.mp4"), "--model", "tiny"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "nope.mp4" in err and err.startswith("mmempathy: error:")


def test_missing_subtitles_and_non_media_are_user_errors(tmp_path, clip, capsys):
    assert cli.main(["predict", str(clip), "--subtitles", str(tmp_path / "x.srt"), "--model", "tiny"]) == 2
    assert "subtitle file not found" in capsys.readouterr().err
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"\x00" * 1000)
    assert cli.main(["predict", str(junk), "--model", "tiny"]) == 2
    assert "junk.mkv" in capsys.readouterr().err


def test_subtitles_and_transcript_exclude_each_other(clip):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", str(clip), "--subtitles", "a.srt", "--transcript", "hi"])
    assert exit_info.value.code == 2


def test_predict_prints_a_table_and_writes_outputs(tmp_path, clip, capsys):
    out = tmp_path / "out"
    args = ["predict", str(clip), "--model", "tiny", "--window", "2", "--hop", "2", "--smooth", "2"]
    args += ["--json", str(out / "t.json"), "--csv", str(out / "t.csv"), "--plot", str(out / "t.png"), "--quiet"]
    assert cli.main(args) == 0
    printed = capsys.readouterr()
    assert "dominant" not in printed.out + printed.err  # --quiet leaves out the table
    assert f"wrote {out / 't.json'}\n" in printed.err  # status lines go to stderr
    data = json.loads((out / "t.json").read_text())
    assert [(s["start"], s["end"]) for s in data["segments"]] == [(0.0, 2.0), (2.0, 4.0)]
    assert data["meta"]["config"]["window"] == 2.0 and data["meta"]["smoothed"] == 2  # the settings are kept
    assert data["meta"]["model"] == "tiny"
    assert len(pd.read_csv(out / "t.csv")) == 2
    assert (out / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_table_on_stdout(clip, capsys):
    assert cli.main(["predict", str(clip), "--model", "tiny", "--transcript", "so very happy today"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "dominant" in lines[0] and len(lines) == 2 + 2
    assert "so very happy" in lines[2] + lines[3]
