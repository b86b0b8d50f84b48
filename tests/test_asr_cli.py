"""``mmempathy predict`` options for speech to text and voice activity: bad values are one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mmempathy.cli as cli
from mmempathy.testing import write_clip

pytestmark = pytest.mark.filterwarnings("ignore:this model.s weights are untrained")


@pytest.fixture(scope="module")
def quiet_clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("cli_asr") / "quiet.m4a", None, audio=np.zeros(32000, np.float32))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--asr", "on"], "asr must be 'auto' or 'off'"),
        (["--segment-by", "turns"], "segment_by must be one of auto, window, speech, subtitles"),
        (["--segment-by", "subtitles"], "--segment-by subtitles needs --subtitles"),
        (["--asr-model", "/no/such/model"], "not a Whisper model directory: /no/such/model"),
        (["--min-speech", "-1"], "min_speech and asr_threads must not be negative"),
    ],
)
def test_bad_values_are_one_line_and_status_2(quiet_clip, capsys, option, message):
    assert cli.main(["predict", str(quiet_clip), "--model", "tiny", *option]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mmempathy: error:") and message in err


def test_options_reach_the_config(quiet_clip, tmp_path, capsys):
    out = tmp_path / "t.json"
    args = ["predict", str(quiet_clip), "--model", "tiny", "--no-vad", "--asr", "off", "--quiet", "--json", str(out)]
    assert cli.main(args) == 0
    data = json.loads(out.read_text())
    assert data["meta"]["config"]["vad"] is False and data["meta"]["config"]["asr"] == "off"
    assert data["meta"]["text_source"] is None
    assert [s["present"] for s in data["segments"]] == [["audio"]]  # silence read as audio: the VAD is off
    args = ["predict", str(quiet_clip), "--model", "tiny", "--quiet", "--json", str(out)]
    assert cli.main(args) == 0  # with the VAD the silence is set aside and nothing is left to predict
    data = json.loads(out.read_text())
    assert data["segments"] == [] and data["meta"]["skipped"] == [[0.0, 2.0]]
    assert data["meta"]["asr"]["calls"] == 0
