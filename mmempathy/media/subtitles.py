"""SRT and WebVTT subtitles: parsing into timed :class:`Cue` s and aligning text with time spans.

Both parsers are lenient where files in the wild differ (byte-order mark, CRLF, missing cue
numbers, ``.`` or ``,`` before milliseconds, hours left out, cue settings, markup tags) and strict
where a guess would be wrong: a timing line that does not parse, or a cue that ends before it
starts, raises :class:`~mmempathy.errors.InputError` naming the file and the line.

Example:
    >>> cues = parse_srt("1\\n00:00:01,000 --> 00:00:02,500\\nHello <i>there</i>\\n")
    >>> cues[0]
    Cue(start=1.0, end=2.5, text='Hello there')
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from mmempathy.errors import InputError

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start`` to ``end`` seconds, with plain ``text`` (tags removed)."""

    start: float
    end: float
    text: str


def read_subtitles(path: str | Path) -> list[Cue]:
    """Parse an ``.srt`` or ``.vtt`` file (WebVTT is also recognised by its header), sorted by start."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"subtitle file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # old SRT files are often Windows-1252
    if path.suffix.lower() == ".vtt" or text.lstrip("\ufeff").startswith("WEBVTT"):
        return parse_vtt(text, source=str(path))
    return parse_srt(text, source=str(path))


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
            raise InputError(f"{source}:{first}: expected a cue number, got {lines[0].strip()!r}")
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
    match = _TIMING.match(timing)
    if match is None:
        raise InputError(f"{source}:{line}: cannot parse the timing line {timing.strip()!r}")
    groups = match.groups()
    start, end = _seconds(groups[:4]), _seconds(groups[4:])
    if start is None or end is None:
        raise InputError(f"{source}:{line}: minutes or seconds over 59 in {timing.strip()!r}")
    if end < start:
        raise InputError(f"{source}:{line}: the cue ends ({end:.3f} s) before it starts ({start:.3f} s)")
    text = " ".join(_clean(b) for b in body)
    return Cue(start=start, end=end, text=_SPACES.sub(" ", text).strip())


def _seconds(parts) -> float | None:
    hours, minutes, seconds, millis = parts
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def _clean(line: str) -> str:
    return html.unescape(_TAG.sub("", line)).replace("\u00a0", " ").strip()
