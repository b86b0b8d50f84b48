"""Subtitle files that broke the parser, a fuzzer over both parsers, and merging of too many cues."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmempathy.errors import InputError
from mmempathy.media.subtitles import (
    MAX_HOURS,
    Cue,
    consolidate_cues,
    decode_subtitles,
    parse_srt,
    parse_vtt,
    read_subtitles,
)

CUE = "1\n00:00:01,000 --> {end}\n{text}\n"


@pytest.mark.parametrize(
    ("end", "text", "message"),
    [
        ("400000:00:00,000", "hi", f"absurd timestamp \\(over {MAX_HOURS} hours\\)"),
        ("9" * 5000 + ":00:00,000", "hi", "absurd timestamp"),
        ("00:00:" + "9" * 5000 + ",000", "hi", "cannot parse the timing line"),
    ],
    ids=["400000-hours", "5000-digit-hours", "5000-digit-seconds"],
)
def test_absurd_timings_are_input_errors_with_file_and_line(end, text, message):
    with pytest.raises(InputError, match=rf"movie\.srt:2: {message}") as info:
        parse_srt(CUE.format(end=end, text=text), source="movie.srt")
    assert len(str(info.value)) < 200  # a 5,000-digit field is not pasted into the message


@pytest.mark.parametrize("entity", ["&#" + "9" * 5000 + ";", "&#x" + "f" * 5000 + ";", "&#1114112;", "&#99999999"])
def test_huge_character_references_become_the_replacement_character(entity):
    assert parse_srt(CUE.format(end="00:00:02,000", text=f"a {entity} b")) == [Cue(1.0, 2.0, "a \ufffd b")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_subtitles_with_a_bom_are_decoded(tmp_path, encoding):
    path = tmp_path / "x.srt"
    text = CUE.format(end="00:00:02,000", text="café ☕")
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    assert read_subtitles(path) == [Cue(1.0, 2.0, "café ☕")]


def test_utf16_without_bom_and_broken_bom_name_the_encoding(tmp_path):
    path = tmp_path / "x.srt"
    path.write_bytes(CUE.format(end="00:00:02,000", text="hi").encode("utf-16-le"))
    with pytest.raises(InputError, match=r"x\.srt: looks like UTF-16"):
        read_subtitles(path)
    path.write_bytes(b"\xff\xfe" + b"1\x00\n\x00\x00\xd8")  # a lone high surrogate
    with pytest.raises(InputError, match=r"x\.srt: starts with a UTF-16-LE byte-order mark but is not valid"):
        read_subtitles(path)


def test_directory_as_subtitles_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a file"):
        read_subtitles(tmp_path)


# --- fuzzing: nothing but InputError leaves the parsers -------------------------------------------

# Any code point, surrogates included (the default alphabet costs seconds to set up, per process).
CHARS = st.characters(min_codepoint=0, max_codepoint=0x10FFFF)
# Mostly well-formed fields, so that the parser gets past the timing regex; the 5,000-digit kind
# that hit Python's int-string limit (built cheaply) where the grammar allows any length.
SHORT = st.text("0123456789", min_size=1, max_size=3)
HUGE = st.integers(4301, 6000).map(lambda n: "9" * n)
DIGITS = SHORT | HUGE
TIME = st.builds(
    lambda h, m, s, sep, ms: (f"{h}:" if h is not None else "") + f"{m}:{s}{sep}{ms}",
    st.none() | SHORT | HUGE | st.integers(0, 10**9).map(str),
    SHORT,
    SHORT,
    st.sampled_from([",", ".", ",", ".", ":"]),
    SHORT,
)
TIMING = st.builds(
    lambda a, arrow, b, rest: f"{a} {arrow} {b}{rest}",
    TIME,
    st.sampled_from(["-->", "-->", "-->", "->"]),
    TIME,
    st.sampled_from(["", " align:start", " X1:10"]),
)
ENTITY = st.builds(lambda d, semi: f"&#{d}{semi}", DIGITS | DIGITS.map("x{}".format), st.sampled_from([";", ""]))
MARKUP = st.sampled_from(["<i>", "</i>", "&amp;", "&nbsp;", "<v A>", "<", "-->"])
BODY = st.lists(st.text(CHARS, max_size=30) | ENTITY | MARKUP, max_size=6).map("".join)
BLOCK = st.builds(
    lambda number, timing, body: "\n".join(x for x in (number, timing, *body) if x is not None),
    st.none() | st.sampled_from(["1", "2", "x", "NOTE", "STYLE"]),
    TIMING | st.text(CHARS, max_size=20),
    st.lists(BODY, max_size=3),
)
DOCUMENT = st.builds(
    lambda head, blocks, newline: head + newline.join(blocks).replace("\n", newline),
    st.sampled_from(["", "WEBVTT\n\n", "\ufeff", "\ufeffWEBVTT\n\n", "WEBVTT - x\nKind: captions\n\n"]),
    st.lists(BLOCK, max_size=6).map("\n\n".join),
    st.sampled_from(["\n", "\r\n", "\r"]),
) | st.text(CHARS, max_size=300)
# One cue on its own, so that most examples get past the structure checks to the fields.
DOCUMENT = DOCUMENT | st.builds(
    lambda head, timing, body: f"{head}{timing}\n{body}\n", st.sampled_from(["", "WEBVTT\n\n", "1\n"]), TIMING, BODY
)


def _only_input_errors(parse, text):
    try:
        cues = parse(text, source="fuzz.sub")
    except InputError as err:
        assert str(err).startswith("fuzz.sub:"), err  # every failure names the file and line
        assert len(str(err)) < 400
        return
    assert all(0 <= c.start <= c.end and isinstance(c.text, str) for c in cues)


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=int(os.environ.get("MMEMPATHY_FUZZ_EXAMPLES", "1000")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@FAST
@given(DOCUMENT, st.sampled_from([parse_srt, parse_vtt]))
def test_fuzz_parsers_raise_only_input_errors(text, parse):
    _only_input_errors(parse, text)


@pytest.mark.slow
@LONG
@given(DOCUMENT, st.sampled_from([parse_srt, parse_vtt]))
def test_fuzz_parsers_raise_only_input_errors_long(text, parse):
    _only_input_errors(parse, text)


@FAST
@given(st.binary(max_size=200) | DOCUMENT.map(lambda t: t.encode("utf-16", "surrogatepass")))
def test_fuzz_decoding_raises_only_input_errors(raw):
    try:
        text = decode_subtitles(raw, "fuzz.sub")
    except InputError as err:
        assert str(err).startswith("fuzz.sub:")
        return
    _only_input_errors(parse_srt, text)


# --- too many cues ---------------------------------------------------------------------------------


def test_tens_of_thousands_of_tiny_cues_are_merged_and_reported():
    # 51,000 cues inside an 18 s video, as in the issue: one model call per cue would take an hour.
    cues = [Cue(i * 18 / 51_000, i * 18 / 51_000 + 0.0003, f"w{i}") for i in range(51_000)]
    merged, report = consolidate_cues(cues, min_duration=0.5, max_per_second=2.0)
    assert len(merged) <= 18 * 2 + 1
    assert report == {"cues": 51_000, "segments": len(merged), "merged": 51_000 - len(merged),
                      "min_duration": 0.5, "max_per_second": 2.0}  # fmt: skip
    assert all(b.start >= a.start for a, b in zip(merged, merged[1:]))
    assert " ".join(c.text for c in merged).split() == [c.text for c in cues]  # no word lost, order kept
    assert all(c.end - c.start >= 0.5 for c in merged)


def test_overlapping_cues_are_capped_and_ordinary_cues_untouched():
    same = [Cue(0.0, 18.0, f"line {i}") for i in range(1000)]  # all long, all at once: only the cap helps
    merged, report = consolidate_cues(same)
    assert len(merged) == 1 and report["merged"] == 999
    normal = [Cue(1.0, 2.5, "a"), Cue(3.0, 4.0, "b"), Cue(4.2, 4.4, "c"), Cue(6.0, 8.0, "d")]
    merged, report = consolidate_cues(normal)
    assert merged == [Cue(1.0, 2.5, "a"), Cue(3.0, 4.0, "b"), Cue(4.2, 8.0, "c d")]  # the 0.2 s cue joins the next
    assert report["merged"] == 1
    assert consolidate_cues([Cue(1.0, 1.1, "only")])[0] == [Cue(1.0, 1.1, "only")]
    with pytest.raises(InputError, match="max_per_second"):
        consolidate_cues(normal, max_per_second=0)
