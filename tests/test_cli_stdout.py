"""``-`` as an output of ``mmempathy predict``: the data alone on standard output, the rest on stderr.

``mmempathy predict clip.mp4 --json - | jq`` must read nothing but JSON: the table and the status
lines ("wrote ...") go to standard error. Captured at the file-descriptor level (``capfd``), so a
library writing to fd 1 behind Python's back would show too.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import mmempathy.cli as cli
from mmempathy.errors import InputError
from mmempathy.testing import draw_face, tone, write_clip

pytestmark = pytest.mark.filterwarnings("ignore:this model.s weights are untrained")

WINDOWS = ["--model", "tiny", "--window", "2", "--hop", "2", "--asr", "off"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("stdout")
    frames = [draw_face(np.full((120, 160, 3), 90, np.uint8), (80, 60), 30) for _ in range(40)]
    return write_clip(root / "clip.mp4", frames, fps=10, audio=tone(4.0))


def test_json_to_stdout_is_pure_json_and_the_rest_goes_to_stderr(clip, tmp_path, capfd):
    csv = tmp_path / "t.csv"
    assert cli.main(["predict", str(clip), *WINDOWS, "--json", "-", "--csv", str(csv)]) == 0
    out, err = capfd.readouterr()
    data = json.loads(out)
    assert [(s["start"], s["end"]) for s in data["segments"]] == [(0.0, 2.0), (2.0, 4.0)]
    assert "dominant" in err and f"wrote {csv}\n" in err  # the table and the status line
    assert "wrote -" not in err and len(pd.read_csv(csv)) == 2
    assert not (tmp_path / "-").exists()


def test_csv_to_stdout(clip, capfd):
    assert cli.main(["predict", str(clip), *WINDOWS, "--csv", "-", "--quiet"]) == 0
    out, err = capfd.readouterr()
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame["start"]) == [0.0, 2.0] and "p_joy" in frame.columns
    assert err == ""


def test_a_file_named_dash_is_dot_slash_dash(clip, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["predict", str(clip), *WINDOWS, "--json", "./-", "--quiet"]) == 0
    out, err = capfd.readouterr()
    assert out == "" and err == "wrote -\n"
    assert len(json.loads((tmp_path / "-").read_text())["segments"]) == 2


def test_a_failed_output_leaves_stdout_empty(clip, tmp_path, monkeypatch, capfd):
    from mmempathy.media.timeline import Timeline

    def broken(self, path):
        raise InputError(f"cannot write {path}: no space left on the device")

    monkeypatch.setattr(Timeline, "to_csv", broken)
    assert cli.main(["predict", str(clip), *WINDOWS, "--json", "-", "--csv", str(tmp_path / "t.csv")]) == 2
    out, err = capfd.readouterr()
    assert out == "" and "no space left" in err


@pytest.mark.parametrize(
    "outputs, needle",
    [
        (["--plot", "-"], "--plot cannot go to standard output ('-'): give a file"),
        (["--json", "-", "--csv", "-"], "--json and --csv both ask for standard output"),
    ],
)
def test_dash_where_it_makes_no_sense_is_one_line(clip, capfd, no_model, outputs, needle):
    assert cli.main(["predict", str(clip), *WINDOWS, *outputs]) == 2
    out, err = capfd.readouterr()
    assert out == "" and err.startswith("mmempathy: error:") and err.count("\n") == 1
    assert needle in err


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    # `mmempathy models | head -0`: the pipe is closed before the command writes to it
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmempathy.cli", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""
