"""The spans a video is cut into: fixed windows, subtitle cues (tiny or crowded ones merged), and the
words of a transcript or of subtitles spread over them.

Speech turns are spans too; they are cut from the voice activity detector's regions as the stream goes
(:class:`~mmempathy.media.assembler._Assembler`). :mod:`mmempathy.media.pipeline` chooses the spans,
and the assembler makes each into a sample once the streams have passed its end.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmempathy.errors import InputError
from mmempathy.media.subtitles import Cue, consolidate_cues, read_subtitles, spread_transcript

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Span:
    start: float
    end: float
    text: str | None


def _windows(window: float, hop: float, text: str | None = None) -> Iterator[_Span]:
    """Endless fixed windows (each with ``text``, if given); the assembler stops them where the file ends."""
    for k in itertools.count():
        start = k * hop
        yield _Span(start, start + window, text)


def _cues(
    subtitles: str | Path | Iterable[Cue] | None, *, merge: bool = False, min_duration: float = 0.5
) -> tuple[list[Cue] | None, dict[str, Any] | None]:
    """The cues, sorted; with ``merge``, consolidated into segments (:func:`consolidate_cues`), and its report."""
    if subtitles is None:
        return None, None
    cues = read_subtitles(subtitles) if isinstance(subtitles, (str, Path)) else sorted(subtitles, key=lambda c: c.start)
    if not cues:
        raise InputError(f"no subtitle cues in {subtitles if isinstance(subtitles, (str, Path)) else 'the list given'}")
    if not merge:
        return cues, None
    cues, report = consolidate_cues(cues, min_duration=min_duration)
    if report["merged"]:
        log.info("%d subtitle cue(s) merged into %d segments", report["cues"], report["segments"])
    return cues, report


def _words(transcript: str | None, duration: float | None) -> list[Cue] | str | None:
    if transcript is None or not transcript.strip():
        return None
    if not duration:
        return transcript  # no duration to spread it over: every window gets all of it
    return spread_transcript(transcript, duration)


def _words_in(words: list[Cue], start: float, end: float) -> str | None:
    # A word belongs to the windows that hold its midpoint, so it is not cut in two.
    inside = [w.text for w in words if start <= (w.start + w.end) / 2 < end]
    return " ".join(inside) if inside else None
