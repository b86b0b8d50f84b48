"""The watchable report (mmempathy.media.report): a self-contained page, its data, and the CLI's --html."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

import mmempathy.cli as cli
from mmempathy.media.report import baseline_text, render_report, write_report
from mmempathy.media.timeline import Segment, Timeline

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
HOSTILE = "</script><script>alert(1)</script>"


def page_data(page: str) -> dict:
    """The JSON the page's script reads."""
    match = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert match, "no data element"
    return json.loads(match.group(1))


def timeline(source: str | None = None, adapt: dict | None = None) -> Timeline:
    why = {"label": "anger", "shares": {"text": 1.0}, "words": [{"word": HOSTILE, "score": 0.2}]}
    segments = [
        Segment(0.0, 2.0, {"anger": 0.8, "joy": 0.2}, {"text": {"anger": 0.8, "joy": 0.2}}, {"text": 1.0}, ["text"],
                text=HOSTILE, why=why),
        Segment(2.0, 4.0, {"anger": 0.1, "joy": 0.9}, {}, {}, [], baseline={"face": {"segments": 5, "strength": 1}}),
    ]  # fmt: skip
    return Timeline(segments, labels=("anger", "joy"), source=source, meta={"adapt": adapt or {}})


def test_the_page_holds_everything_and_nothing_escapes_its_data():
    page = render_report(timeline())
    assert not re.search(r"https?://", page)  # no outside URL: styles, script and data are inside
    assert page.count("</script>") == 2  # the data element and the script: the hostile text did not end one
    data = page_data(page)
    assert data["segments"][0]["why"]["words"][0]["word"] == HOSTILE and data["segments"][0]["text"] == HOSTILE
    assert data["modalities"] == ["text"] and data["duration"] == 4.0
    assert (
        data["segments"][1]["baseline_text"]
        == "Adjusted to this person's usual face (from 5 stretches of this person)."
    )


def test_small_videos_go_inside_larger_ones_are_linked_from_the_pages_folder(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    video = clips / "talk.mp4"
    video.write_bytes(b"\x00" * 100)
    inside = write_report(timeline(str(video)), tmp_path / "inside.html").read_text()
    assert page_data(inside)["video"].startswith("data:video/mp4;base64,")
    (tmp_path / "pages").mkdir()
    linked = write_report(timeline(str(video)), tmp_path / "pages" / "linked.html", embed=False).read_text()
    assert page_data(linked)["video"] == "../clips/talk.mp4"
    odd = clips / "take #2?.mp4"
    odd.write_bytes(b"\x00")
    assert page_data(write_report(timeline(str(odd)), tmp_path / "odd.html", embed=False).read_text())["video"] == (
        "clips/take%20%232%3F.mp4"
    )
    assert page_data(render_report(timeline()))["video"] is None  # no media file: the page shows the readings


def test_the_person_baseline_is_said_in_plain_words():
    applied = {"mode": "auto", "applied": True, "adapted": {"audio": 4, "face": 6}, "read_plainly": {"face": 2}}
    text = baseline_text(applied)
    assert "voice in 4 stretches" in text and "face in 6 stretches" in text and "2 stretches of the face" in text
    assert "switched off" in baseline_text({"mode": "off", "applied": False, "reason": "off"})
    no_refs = {"mode": "auto", "applied": False, "reason": "the model has no person-baseline references"}
    assert "no person-baseline references" in baseline_text(no_refs)


@pytest.mark.parametrize(
    ("html", "needle"), [("-", "standard output"), ("report.txt", "--html")]
)  # fmt: skip
def test_cli_html_to_stdout_or_a_wrong_suffix_is_one_line(html, needle, capsys, no_model):
    assert cli.main(["predict", str(DEMO / "demo.mp4"), "--html", html]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmempathy: error:") and err.count("\n") == 1 and needle in err, err


def test_cli_html_writes_an_explained_report(tmp_path):
    out = tmp_path / "report.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model is untrained on purpose
        args = ["predict", str(DEMO / "demo.mp4"), "--subtitles", str(DEMO / "demo.srt"), "--model", "tiny"]
        assert cli.main([*args, "--quiet", "--html", str(out)]) == 0
    data = page_data(out.read_text())
    assert data["video"].startswith("data:video/mp4;base64,")  # the demo clip is small
    assert len(data["segments"]) == 6 and all(seg["why"]["words"] for seg in data["segments"])
    for seg in data["segments"]:
        pictures = [f["image"] for f in seg["why"]["face"] if "image" in f]
        assert len(pictures) == min(3, len(seg["why"]["face"]))
        assert all(p.startswith("data:image/jpeg;base64,") for p in pictures)
