"""Live input: a webcam, a network stream or a file played in real time, predicted window by window.

:func:`~mmempathy.media.sources.parse_source` turns what a user types into a
:class:`~mmempathy.media.sources.LiveSource` (cameras, network streams, standard input, files
played in real time); :func:`stream` runs the same segmenting as
:func:`~mmempathy.media.pipeline.predict_video` on it and yields each segment the moment its
window has passed and the model has read it, as a :class:`LiveSegment` that also says how late
it came (:attr:`LiveSegment.latency`).

Latency is bounded: a window is emitted once both streams have passed its end, the voice activity
detector has settled it and, with speech-to-text, Whisper has heard it. Live defaults
(:data:`LIVE_DEFAULTS`) make Whisper transcribe at most 6 s of speech per call and wait at most
2 s for more, instead of 28 s and 30 s for files, so text is never far behind; a call still waits
for a pause (0.6 s without speech) rather than cut a sentence, which made Whisper drop or invent
words (:class:`~mmempathy.media.asr.StreamingTranscriber`). Memory is what the file pipeline
holds: the open windows' frames and audio, nothing from before.

Example:
    >>> from mmempathy import EmotionFuser  # doctest: +SKIP
    >>> fuser = EmotionFuser.from_pretrained("lite")  # doctest: +SKIP
    >>> for seg in fuser.stream("rtsp://camera.local/stream"):  # doctest: +SKIP
    ...     print(f"{seg.start:6.1f}s {seg.dominant:10s} {seg.latency:.2f}s late")
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmempathy.media.pacing import Pacer  # also this module's name for it
from mmempathy.media.sources import LiveSource, parse_source
from mmempathy.media.timeline import Segment

if TYPE_CHECKING:
    from mmempathy.media.config import VideoConfig
    from mmempathy.media.subtitles import Cue
    from mmempathy.model import EmotionFuser

# Settings that keep a live feed's results close behind it (VideoConfig field -> value).
LIVE_DEFAULTS: dict[str, Any] = {"asr_max_chunk": 6.0, "asr_max_wait": 2.0, "progress": False}


@dataclass
class LiveSegment(Segment):
    """A :class:`~mmempathy.media.timeline.Segment` from a live feed.

    Attributes:
        latency: Seconds from the moment the segment's end was live to the moment its result was
            ready (waiting for the streams, voice activity, speech-to-text and the model).
        wall: Seconds since the feed was opened, when the result was ready.
    """

    latency: float | None = None
    wall: float = 0.0


def stream(
    fuser: EmotionFuser,
    source: str | int | Path | LiveSource,
    subtitles: str | Path | list[Cue] | None = None,
    *,
    realtime: bool | None = None,
    speed: float = 1.0,
    config: VideoConfig | None = None,
    **overrides: Any,
) -> Iterator[LiveSegment]:
    """Segments of a live source, each yielded as soon as it is predicted.

    Args:
        fuser: The model (its ``predict_samples`` is called on each segment as it closes).
        source: A camera, URL, ``-`` or file (:func:`parse_source`), or a :class:`LiveSource`.
        subtitles: Cues for a file played live (their times are media times).
        realtime: Pace a file (or a fast server) to the wall clock; ``None``: files only.
        speed: Playback speed of a paced source.
        config: Segmenting settings; :data:`LIVE_DEFAULTS` and then keyword arguments override it.

    Yields:
        One :class:`LiveSegment` per window, cue or speech turn that had something to read, in
        time order. Stop early by breaking out of the loop (or Ctrl-C): the source is closed.

    Raises:
        InputError: The source cannot be opened or read, or a setting is invalid.
    """
    from mmempathy.media.pipeline import (
        _resolve,
        baseline_reader,
        informs_of,
        iter_samples,
        people_of,
        predict_segments,
        readable,
        sample_settings,
        segments_of,
    )

    live = source if isinstance(source, LiveSource) else parse_source(source, realtime=realtime)
    config = _resolve(config, {**LIVE_DEFAULTS, **overrides})
    pacer = Pacer(live.realtime, speed=speed)
    opened = pacer.clock()
    settings = sample_settings(fuser, config)
    samples = iter_samples(live, subtitles, config=config, **settings, pacer=pacer)
    reader = baseline_reader(fuser, config.adapt)  # baselines that grow with the stream: see BaselineReader.latest
    try:
        for sample in samples:
            if not readable(sample, settings["modalities"]):
                continue
            if reader is None:
                (segment,) = predict_segments(fuser, [sample])
            else:
                reader.add([sample], [people_of(sample)], batch_size=1, informs=[informs_of(sample)])
                (segment,) = segments_of([sample], reader.latest())
            yield LiveSegment(**vars(segment), latency=pacer.latency(segment.end), wall=pacer.clock() - opened)
    finally:
        samples.close()  # the source is closed now, not at garbage collection
