"""SRT and WebVTT parsing: the variations found in the wild, and errors that name file and line."""

from __future__ import annotations

import pytest

from mmempathy.errors import InputError
from mmempathy.media.subtitles import Cue, parse_srt, parse_vtt, read_subtitles, spread_transcript, text_between

SRT = """\ufeff1\r
00:00:01,000 --> 00:00:02,500\r
Hello <i>there</i>,\r
  general Kenobi!\r
\r
\r
2\r
00:01:02.05 --> 01:00:03,100 X1:10 X2:20\r
Tom &amp; Jerry\r
"""


def test_srt_bom_crlf_tags_multiline_and_dot_millis():
    cues = parse_srt(SRT)
    assert cues == [
        Cue(1.0, 2.5, "Hello there, general Kenobi!"),
        Cue(62.05, 3603.1, "Tom & Jerry"),
    ]


def test_srt_without_numbers_and_unsorted_blocks():
    text = "00:00:05,000 --> 00:00:06,000\nlater\n\n00:00:01,000 --> 00:00:02,000\nearlier\n"
    assert [c.text for c in parse_srt(text)] == ["earlier", "later"]


def test_srt_cue_without_text_is_kept_empty():
    assert parse_srt("1\n00:00:01,000 --> 00:00:02,000\n") == [Cue(1.0, 2.0, "")]


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("1\n00:00:01,000 -> 00:00:02,000\nhi\n", 1, "timing line"),
        ("1\n00:00:0x,000 --> 00:00:02,000\nhi\n", 2, "cannot parse"),
        ("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:05,000 --> 00:00:04,000\nbad\n", 6, "ends"),
        ("1\n00:00:61,000 --> 00:01:02,000\nhi\n", 2, "over 59"),
        ("one\n00:00:01,000 --> 00:00:02,000\nhi\n", 1, "cue number"),
    ],
)
def test_srt_errors_name_the_line(text, line, message):
    with pytest.raises(InputError, match=rf"movie\.srt:{line}: .*{message}"):
        parse_srt(text, source="movie.srt")


VTT = """WEBVTT - a title
Kind: captions

NOTE this is a comment
that spans lines

STYLE
::cue { color: red }

intro
00:01.000 --> 00:02.500 align:start position:10%
<v Roger Bingham>We are in New York City</v>

00:00:03.000 --> 00:00:04.000
<c.loud>Really</c> <00:00:03.500>now&nbsp;?
"""


def test_vtt_header_notes_style_ids_settings_and_voice_tags():
    assert parse_vtt(VTT) == [Cue(1.0, 2.5, "We are in New York City"), Cue(3.0, 4.0, "Really now ?")]


def test_vtt_needs_its_header():
    with pytest.raises(InputError, match="x.vtt:1: .*WEBVTT"):
        parse_vtt("00:01.000 --> 00:02.000\nhi\n", source="x.vtt")


def test_read_subtitles_by_extension_and_sniffing(tmp_path):
    (tmp_path / "a.srt").write_text(SRT, encoding="utf-8")
    (tmp_path / "b.vtt").write_text(VTT, encoding="utf-8")
    (tmp_path / "c.txt").write_text(VTT, encoding="utf-8")  # WebVTT content whatever the name
    assert len(read_subtitles(tmp_path / "a.srt")) == 2
    assert read_subtitles(tmp_path / "b.vtt") == read_subtitles(tmp_path / "c.txt")
    (tmp_path / "latin1.srt").write_bytes("1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n".encode("cp1252"))
    assert read_subtitles(tmp_path / "latin1.srt")[0].text == "café"


def test_read_subtitles_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_subtitles(tmp_path / "missing.srt")
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nnot a timing\n")
    with pytest.raises(InputError, match=r"bad\.srt:5"):
        read_subtitles(bad)


def test_text_between_joins_overlapping_cues():
    cues = [Cue(0, 1, "a"), Cue(0.5, 2, "b"), Cue(2, 3, "c")]
    assert text_between(cues, 0.9, 2.0) == "a b"
    assert text_between(cues, 3.0, 4.0) is None


def test_spread_transcript_covers_the_duration_in_order():
    cues = spread_transcript("one two three four", 8.0)
    assert [c.text for c in cues] == ["one", "two", "three", "four"]
    assert cues[0].start == 0 and cues[-1].end == pytest.approx(8.0)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(cues, cues[1:]))
    assert cues[2].end - cues[2].start > cues[0].end - cues[0].start  # longer words take longer
