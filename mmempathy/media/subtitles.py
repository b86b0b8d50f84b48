"""SRT and WebVTT subtitles: parsing into timed :class:`Cue` s and aligning text with time spans.

Both parsers are lenient where files in the wild differ (byte-order mark, UTF-16/32 with a BOM,
CRLF, missing cue numbers, ``.`` or ``,`` before milliseconds, hours left out, cue settings, markup
tags) and strict where a guess would be wrong: a timing line that does not parse, an absurd
timestamp (over :data:`MAX_HOURS`), or a cue that ends before it starts, raises
:class:`~mmempathy.errors.InputError` naming the file and the line. No other exception leaves the
parsers, whatever the text.

Subtitle files meant for reading can hold far more cues than a model needs segments (karaoke,
word-level captions): :func:`consolidate_cues` merges them to a bounded number and says so.

Example:
    >>> cues = parse_srt("1\\n00:00:01,000 --> 00:00:02,500\\nHello <i>there</i>\\n")
    >>> cues[0]
    Cue(start=1.0, end=2.5, text='Hello there')
"""

from __future__ import annotations

import codecs
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmempathy.errors import InputError

# Hours are unbounded in the grammar; longer than this (about six weeks) is a broken file.
MAX_HOURS = 999
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t]+")
# A numeric character reference longer than any code point: html.unescape would int() it (and
# fail past Python's 4,300-digit limit); it stands for nothing, so it becomes U+FFFD.
_HUGE_ENTITY = re.compile(r"&#(?:[xX]0*[0-9a-fA-F]{7,}|0*[0-9]{8,});?")
# Longest BOMs first: UTF-32-LE's BOM starts with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start`` to ``end`` seconds, with plain ``text`` (tags removed)."""

    start: float
    end: float
    text: str


def read_subtitles(path: str | Path) -> list[Cue]:
    """Parse an ``.srt`` or ``.vtt`` file (WebVTT is also recognised by its header), sorted by start."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"subtitle file not found: {path}")
    if not path.is_file():
        raise InputError(f"subtitle path is not a file: {path}")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read the subtitle file {path}: {err.strerror or err}") from None
    text = decode_subtitles(raw, str(path))
    if path.suffix.lower() == ".vtt" or text.lstrip("\ufeff").startswith("WEBVTT"):
        return parse_vtt(text, source=str(path))
    return parse_srt(text, source=str(path))


def decode_subtitles(raw: bytes, source: str = "<subtitles>") -> str:
    """Text of a subtitle file: the encoding its BOM names, else UTF-8, else Windows-1252.

    Raises:
        InputError: The BOM names an encoding the bytes do not follow, or the file looks like
            UTF-16 without a BOM (NUL bytes between characters), which cannot be told apart safely.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom) :].decode(encoding)
            except UnicodeDecodeError as err:
                raise InputError(
                    f"{source}: starts with a {encoding.upper()} byte-order mark but is not valid {encoding.upper()} "
                    f"(byte {err.start + len(bom)}); re-save it as UTF-8"
                ) from None
    if raw.count(0) > len(raw) // 4:  # text never holds NULs; UTF-16/32 holds many
        raise InputError(f"{source}: looks like UTF-16 or UTF-32 without a byte-order mark; re-save it as UTF-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")  # old SRT files are often Windows-1252


def parse_srt(text: str, source: str = "<srt>") -> list[Cue]:
    """Cues of SubRip text, sorted by start time."""
    cues = []
    for first, block in _blocks(text):
        lines = list(block)
        # The cue number is optional in practice; the timing is the first line with an arrow.
        timing = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        if timing is None:
            raise InputError(f"{source}:{first}: expected a timing line 'HH:MM:SS,mmm --> HH:MM:SS,mmm'")
        if timing == 1 and not lines[0].strip().isdigit():
            raise InputError(f"{source}:{first}: expected a cue number, got {_show(lines[0])}")
        cues.append(_cue(lines[timing], lines[timing + 1 :], source, first + timing))
    return sorted(cues, key=lambda c: (c.start, c.end))


def parse_vtt(text: str, source: str = "<vtt>") -> list[Cue]:
    """Cues of WebVTT text (NOTE, STYLE and REGION blocks are skipped), sorted by start time."""
    blocks = list(_blocks(text))
    if not blocks or not blocks[0][1][0].lstrip("\ufeff").startswith("WEBVTT"):
        raise InputError(f"{source}:1: a WebVTT file must start with 'WEBVTT'")
    cues = []
    for first, lines in blocks[1:]:
        head = lines[0].strip()
        if head.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in head:
            continue
        timing = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        if timing is None:
            raise InputError(f"{source}:{first}: expected a timing line 'MM:SS.mmm --> MM:SS.mmm'")
        cues.append(_cue(lines[timing], lines[timing + 1 :], source, first + timing))
    return sorted(cues, key=lambda c: (c.start, c.end))


def text_between(cues: list[Cue], start: float, end: float) -> str | None:
    """The text of every cue overlapping ``[start, end)``, joined by spaces, or ``None``."""
    parts = [c.text for c in cues if c.start < end and c.end > start and c.text]
    return " ".join(parts) if parts else None


def consolidate_cues(
    cues: list[Cue], *, min_duration: float = 0.5, max_per_second: float = 2.0
) -> tuple[list[Cue], dict[str, Any]]:
    """Merge cues into at most about ``max_per_second`` segments a second, none shorter than ``min_duration``.

    Each cue becomes one segment downstream, so a file of tens of thousands of tiny cues (word-level
    or karaoke captions) inside a short video would cost tens of thousands of model calls. Two
    passes, both keeping time order and all text:

    1. cues that start within the same ``1 / max_per_second`` slot are merged (this bounds the
       count by the time the cues span, even when they all overlap);
    2. a segment shorter than ``min_duration`` is merged into the one after it (the last one
       into the one before), unless it is the only one.

    Args:
        cues: Parsed cues, sorted by start (as the parsers return them).
        min_duration: Shortest segment kept on its own, in seconds (``VideoConfig.min_segment``).
        max_per_second: Most segments per second of cue time.

    Returns:
        The merged cues (a merged cue spans its parts and joins their texts with spaces) and a
        report for ``meta``: ``{"cues": n_in, "segments": n_out, "merged": n_in - n_out,
        "min_duration": ..., "max_per_second": ...}``.

    Example:
        >>> cues = [Cue(i * 0.1, i * 0.1 + 0.1, f"w{i}") for i in range(30)]
        >>> merged, report = consolidate_cues(cues)
        >>> len(merged), report["merged"], merged[0].text
        (6, 24, 'w0 w1 w2 w3 w4')
    """
    if not (max_per_second > 0 and math.isfinite(max_per_second)) or not (min_duration >= 0):
        raise InputError(
            f"consolidate_cues needs max_per_second > 0 and min_duration >= 0, got {max_per_second}, {min_duration}"
        )
    slot = 1.0 / max_per_second
    groups: list[list[Cue]] = []
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        if groups and math.floor(cue.start / slot) == math.floor(groups[-1][0].start / slot):
            groups[-1].append(cue)
        else:
            groups.append([cue])
    merged = [_join(g) for g in groups]
    out: list[Cue] = []
    carry: Cue | None = None  # short segments waiting to be merged into the next one
    for cue in merged:
        cue = _join([carry, cue]) if carry is not None else cue
        carry = None
        if cue.end - cue.start < min_duration:
            carry = cue
        else:
            out.append(cue)
    if carry is not None:
        if out:
            out[-1] = _join([out[-1], carry])
        else:
            out.append(carry)
    report = {
        "cues": len(cues),
        "segments": len(out),
        "merged": len(cues) - len(out),
        "min_duration": min_duration,
        "max_per_second": max_per_second,
    }
    return out, report


def _join(cues: list[Cue]) -> Cue:
    """One cue spanning ``cues``, texts joined in order."""
    if len(cues) == 1:
        return cues[0]
    text = " ".join(c.text for c in cues if c.text)
    return Cue(start=min(c.start for c in cues), end=max(c.end for c in cues), text=text)


def spread_transcript(transcript: str, duration: float) -> list[Cue]:
    """One cue per word, spread over ``[0, duration]`` in proportion to word length.

    A transcript without timing can only be aligned approximately; this assumes an even speaking
    rate, so a window gets roughly the words spoken in it.
    """
    words = transcript.split()
    if not words or duration <= 0:
        return []
    total = sum(len(w) + 1 for w in words)
    cues, cursor = [], 0.0
    for word in words:
        length = duration * (len(word) + 1) / total
        cues.append(Cue(cursor, cursor + length, word))
        cursor += length
    return cues


def _blocks(text: str):
    """``(first line number, lines)`` of each run of non-blank lines."""
    block: list[str] = []
    first = 0
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if line.strip():
            if not block:
                first = number
            block.append(line)
        elif block:
            yield first, block
            block = []
    if block:
        yield first, block


def _cue(timing: str, body: list[str], source: str, line: int) -> Cue:
    """One cue; every failure, foreseen or not, is an InputError at ``source:line``."""
    try:
        match = _TIMING.match(timing)
        if match is None:
            raise InputError(f"{source}:{line}: cannot parse the timing line {_show(timing)}")
        groups = match.groups()
        start, end = _seconds(groups[:4], timing, source, line), _seconds(groups[4:], timing, source, line)
        if end < start:
            raise InputError(f"{source}:{line}: the cue ends ({end:.3f} s) before it starts ({start:.3f} s)")
        text = " ".join(_clean(b) for b in body)
    except InputError:
        raise
    except (ValueError, OverflowError, RecursionError) as err:  # what the standard library may still raise
        raise InputError(f"{source}:{line}: cannot read this cue ({type(err).__name__}: {err})") from None
    return Cue(start=start, end=end, text=_SPACES.sub(" ", text).strip())


def _seconds(parts: tuple[str | None, ...], timing: str, source: str, line: int) -> float:
    hours, minutes, seconds, millis = parts
    if (hours is not None and len(hours.lstrip("0")) > len(str(MAX_HOURS))) or int(hours or 0) > MAX_HOURS:
        raise InputError(f"{source}:{line}: absurd timestamp (over {MAX_HOURS} hours) in {_show(timing)}")
    if int(minutes) > 59 or int(seconds) > 59:
        raise InputError(f"{source}:{line}: minutes or seconds over 59 in {_show(timing)}")
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def _show(text: str, limit: int = 60) -> str:
    """``text`` quoted for an error message, cut so that a 5 MB line does not become the message."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _clean(line: str) -> str:
    line = _HUGE_ENTITY.sub("\ufffd", _TAG.sub("", line))
    return html.unescape(line).replace("\u00a0", " ").strip()
