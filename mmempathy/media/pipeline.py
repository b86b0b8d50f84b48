"""From a video (or audio) file to an emotion :class:`~mmempathy.media.timeline.Timeline`.

The file is decoded once, as a stream: sampled frames go through face detection and tracking as
they arrive, audio is buffered only as far back as the oldest segment still open, and each
segment becomes a :class:`~mmempathy.sample.Sample` the moment both streams have passed its end.
Samples are predicted in batches as they complete, so memory does not grow with the video.

Segments are the subtitle cues when subtitles are given, otherwise fixed windows (``window``
seconds every ``hop`` seconds). A plain transcript is spread over the windows in proportion to
word length (an even speaking rate is assumed). A modality that a segment lacks (no audio track,
no face found, no text) is simply missing from its sample; the model fuses what is there.

Example:
    >>> from mmempathy import EmotionFuser  # doctest: +SKIP
    >>> fuser = EmotionFuser.from_pretrained("lite")  # doctest: +SKIP
    >>> timeline = predict_video(fuser, "clip.mp4", subtitles="clip.srt")  # doctest: +SKIP
    >>> print(timeline.to_table())  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from mmempathy.errors import InputError
from mmempathy.media.decode import SAMPLE_RATE, AudioChunk, VideoFrame, iter_media, probe
from mmempathy.media.faces import FaceDetector, FaceExtractor, FrameFaces
from mmempathy.media.subtitles import Cue, read_subtitles, spread_transcript
from mmempathy.media.timeline import Segment, Timeline
from mmempathy.modality import Modality
from mmempathy.sample import Sample

if TYPE_CHECKING:
    from mmempathy.model import EmotionFuser

log = logging.getLogger(__name__)


@dataclass
class VideoConfig:
    """How a media file is cut into segments and read."""

    fps: float = 2.0  # video frames sampled per second (for faces)
    window: float = 3.0  # segment length in seconds, when there are no subtitles
    hop: float = 3.0  # step between segment starts, when there are no subtitles
    min_segment: float = 0.5  # a last window shorter than this (seconds), or inside the previous one, is dropped
    batch_size: int = 16  # segments per model call
    max_faces: int = 8  # face crops per segment at most, evenly spaced in time
    min_audio: float = 0.1  # shorter audio (seconds) counts as missing
    detect_side: int = 400  # longer side of the image the face detector sees
    frame_max_side: int | None = 960  # frames are converted at most this large (crops come from them)
    face_size: int | None = None  # crop side; None: the model's ``processor.face_size``
    progress: bool | None = None  # a progress bar; None: only for files longer than a minute

    def __post_init__(self) -> None:
        for name in ("fps", "window", "hop"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_size < 1 or self.max_faces < 1:
            raise InputError("batch_size and max_faces must be at least 1")


@dataclass(frozen=True)
class _Span:
    start: float
    end: float
    text: str | None


def predict_video(
    fuser: EmotionFuser,
    path: str | Path,
    subtitles: str | Path | list[Cue] | None = None,
    transcript: str | None = None,
    *,
    config: VideoConfig | None = None,
    **overrides: Any,
) -> Timeline:
    """Predict an emotion timeline for a video or audio file.

    Args:
        fuser: The model; its ``predict_samples`` is called on batches of segments.
        path: The media file (anything FFmpeg reads; audio-only files work too).
        subtitles: An ``.srt``/``.vtt`` file, or parsed cues: one segment per cue, with its text.
        transcript: Text of the whole file without timing, spread over fixed windows.
        config: Segmenting and decoding settings; keyword arguments override its fields
            (``fps=1, window=5, hop=2.5, batch_size=32, progress=True`` ...).

    Returns:
        One segment per cue or window, with fused and per-modality probabilities.

    Raises:
        InputError: The file is missing or unusable, the subtitles do not parse, or both
            subtitles and a transcript were given.
    """
    config = _resolve(config, overrides)
    processor = getattr(fuser, "processor", None)
    face_size = config.face_size or getattr(processor, "face_size", None) or 112
    sample_rate = getattr(processor, "sample_rate", None) or SAMPLE_RATE
    reads = {_name(m) for m in getattr(fuser, "modalities", Modality)}
    info = probe(path)
    segments: list[Segment] = []
    skipped: list[list[float]] = []  # segments with nothing the model reads (no speech, face or text)
    batch: list[Sample] = []
    samples = iter_samples(
        path, subtitles, transcript, config=config, face_size=face_size, sample_rate=sample_rate, modalities=reads
    )
    for sample in samples:
        if not reads & {m.value for m in sample.present()}:
            skipped.append([sample.meta["start"], sample.meta["end"]])
            continue
        batch.append(sample)
        if len(batch) == config.batch_size:
            segments += _predict(fuser, batch)
            batch = []
    if batch:
        segments += _predict(fuser, batch)
    meta = {
        "duration": info.duration,
        "has_video": info.has_video,
        "has_audio": info.has_audio,
        "segmentation": "subtitles" if subtitles is not None else "windows",
        "config": asdict(replace(config, face_size=face_size)),
        "skipped": skipped,
    }
    if skipped:
        log.warning("%d segment(s) of %s had no audio, face or text and were left out", len(skipped), path)
    return Timeline(segments, labels=tuple(fuser.labels), source=str(path), meta=meta)


def iter_samples(
    path: str | Path,
    subtitles: str | Path | list[Cue] | None = None,
    transcript: str | None = None,
    *,
    config: VideoConfig | None = None,
    face_size: int = 112,
    sample_rate: int = SAMPLE_RATE,
    modalities: Iterable[str] | None = None,
) -> Iterator[Sample]:
    """The segments of a media file as :class:`Sample` s, yielded as soon as each is complete.

    Each sample has the segment's audio slice, the crops of the main face in its sampled frames
    (``[F, face_size, face_size, 3]`` uint8), its text, and ``meta`` with ``start``, ``end``,
    ``frames`` (frames sampled) and ``face_frames`` (those with a face). A segment may have none
    of them (silence without a face or words). ``modalities`` (``"text"``, ``"audio"``, ``"face"``)
    limits the work to what a model reads: without ``"face"`` no frame is even decoded.
    See :func:`predict_video`.
    """
    wanted = {Modality.parse(m) for m in (modalities if modalities is not None else Modality)}
    config = config or VideoConfig()
    if subtitles is not None and transcript is not None:
        raise InputError("give either subtitles or a transcript, not both")
    info = probe(path)
    if info.duration is not None and info.duration <= 0:
        raise InputError(f"media file has zero duration: {path}")
    cues = _cues(subtitles)
    if Modality.TEXT not in wanted:
        transcript = None
    if cues is not None:
        keep_text = Modality.TEXT in wanted
        spans: Iterator[_Span] = (_Span(c.start, c.end, (c.text or None) if keep_text else None) for c in cues)
    else:
        words = _words(transcript, info.duration)
        spans = _windows(config.window, config.hop, words)
    info = replace(
        info,
        has_video=info.has_video and Modality.FACE in wanted,
        has_audio=info.has_audio and Modality.AUDIO in wanted,
    )
    assembler = _Assembler(
        spans,
        FaceExtractor(face_size, detector=FaceDetector(detect_side=config.detect_side)),
        config,
        info=info,
        sample_rate=sample_rate,
        source=str(path),
        endless=cues is None,
    )
    show = config.progress if config.progress is not None else (info.duration or 0) > 60
    with tqdm(total=round(info.duration or 0, 1), unit="s", disable=not show, desc=Path(path).name) as bar:
        stream = iter_media(
            path,
            fps=config.fps,
            video=info.has_video,
            audio=info.has_audio,
            sample_rate=sample_rate,
            max_side=config.frame_max_side,
        )
        for item in stream:
            yield from assembler.add(item)
            if show and math.isfinite(assembler.clock):
                bar.update(max(0.0, round(min(assembler.clock, bar.total) - bar.n, 1)))
        yield from assembler.finish()
        bar.update(max(0.0, bar.total - bar.n))
    if assembler.emitted == 0:
        why = "no subtitle cue falls within it" if cues is not None else "nothing in it could be decoded"
        raise InputError(f"no segment could be made from {path}: {why}")


class _Assembler:
    """Buffers face crops and audio until segments close, then turns each into a Sample."""

    def __init__(
        self,
        spans: Iterator[_Span],
        extractor: FaceExtractor,
        config: VideoConfig,
        *,
        info,
        sample_rate,
        source,
        endless,
    ):
        self.spans = spans
        self.pending: _Span | None = next(spans, None)
        self.extractor = extractor
        self.config = config
        self.info = info
        self.sample_rate = sample_rate
        self.source = source
        self.endless = endless  # fixed windows go on forever; cues are a finite list
        self.frames: deque[FrameFaces] = deque()
        self.audio: deque[AudioChunk] = deque()
        # A stream that the file lacks never holds a segment back.
        self.video_clock = -math.inf if info.has_video else math.inf
        self.audio_clock = -math.inf if info.has_audio else math.inf
        self.last_frame = -math.inf
        self.last_audio = -math.inf
        self.emitted = 0
        self.last_end = -math.inf

    @property
    def clock(self) -> float:
        """Time up to which both streams have been read."""
        return min(self.video_clock, self.audio_clock)

    def add(self, item: VideoFrame | AudioChunk) -> Iterator[Sample]:
        if isinstance(item, VideoFrame):
            self.frames.append(self.extractor(item.image, item.time))
            self.video_clock = self.last_frame = item.time
        else:
            self.audio.append(item)
            self.audio_clock = self.last_audio = item.end
        while self.pending is not None and self.pending.end <= self.clock:
            yield self._emit(self.pending)

    def finish(self) -> Iterator[Sample]:
        """The segments still open when the file ends, clipped to where it really ended."""
        end = max(self.last_frame + 1.0 / self.config.fps, self.last_audio)
        if not math.isfinite(end):  # neither stream was read (text-only model): trust the header
            end = self.info.duration or 0.0
        if self.info.duration:
            end = min(end, self.info.duration)
        while self.pending is not None and self.pending.start < end:
            span = replace(self.pending, end=min(self.pending.end, end))
            long_enough = span.end - span.start >= self.config.min_segment
            # A clipped overlapping window that lies inside the previous one adds nothing.
            redundant = self.endless and span.end <= self.last_end
            if (long_enough and not redundant) or (self.emitted == 0 and span.end > span.start):
                yield self._emit(span)
            else:
                self._advance()
        if self.pending is not None and not self.endless:
            log.warning("subtitle cues after the end of %s (%.2f s) were dropped", self.source, end)

    def _emit(self, span: _Span) -> Sample:
        frames = [f for f in self.frames if span.start <= f.time < span.end]
        crops = self.extractor.main_crops(frames)
        if len(crops) > self.config.max_faces:
            keep = np.linspace(0, len(crops) - 1, self.config.max_faces).round().astype(int)
            crops = [crops[i] for i in keep]
        audio = self._audio(span.start, span.end)
        sample = Sample(
            text=span.text,
            audio=audio,
            sample_rate=self.sample_rate if audio is not None else None,
            faces=np.stack(crops) if crops else None,
            meta={
                "source": self.source,
                "start": span.start,
                "end": span.end,
                "frames": len(frames),
                "face_frames": sum(f.found for f in frames),
            },
        )
        self.emitted += 1
        self.last_end = span.end
        self._advance()
        return sample

    def _advance(self) -> None:
        self.pending = next(self.spans, None)
        # Spans come by start time: nothing before the next one's start is needed again.
        keep_from = self.pending.start if self.pending is not None else math.inf
        while self.frames and self.frames[0].time < keep_from:
            self.frames.popleft()
        while self.audio and self.audio[0].end <= keep_from:
            self.audio.popleft()

    def _audio(self, start: float, end: float) -> np.ndarray | None:
        chunks = [c for c in self.audio if c.time < end and c.end > start]
        if not chunks:
            return None
        samples = np.concatenate([c.samples for c in chunks])
        first = max(0, round((start - chunks[0].time) * self.sample_rate))
        last = max(0, round((end - chunks[0].time) * self.sample_rate))
        samples = samples[first:last]
        if len(samples) < self.config.min_audio * self.sample_rate:
            return None
        return np.ascontiguousarray(samples, dtype=np.float32)


def _predict(fuser: EmotionFuser, samples: list[Sample]) -> list[Segment]:
    results = fuser.predict_samples(samples, batch_size=len(samples), progress=False)
    return [
        Segment(
            start=float(sample.meta["start"]),
            end=float(sample.meta["end"]),
            probs={str(k): float(v) for k, v in result.probs.items()},
            modalities={_name(m): {str(k): float(v) for k, v in p.items()} for m, p in result.modalities.items()},
            weights={_name(m): float(w) for m, w in result.weights.items()},
            present=[_name(m) for m in result.present],
            text=sample.text,
        )
        for sample, result in zip(samples, results)
    ]


def _name(modality: Any) -> str:
    return str(getattr(modality, "value", modality))


def _resolve(config: VideoConfig | None, overrides: dict[str, Any]) -> VideoConfig:
    known = {f.name for f in fields(VideoConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown predict_video option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return replace(config or VideoConfig(), **overrides)


def _cues(subtitles: str | Path | Iterable[Cue] | None) -> list[Cue] | None:
    if subtitles is None:
        return None
    cues = read_subtitles(subtitles) if isinstance(subtitles, (str, Path)) else sorted(subtitles, key=lambda c: c.start)
    if not cues:
        raise InputError(f"no subtitle cues in {subtitles if isinstance(subtitles, (str, Path)) else 'the list given'}")
    return cues


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


def _windows(window: float, hop: float, words: list[Cue] | str | None) -> Iterator[_Span]:
    """Endless fixed windows; the assembler stops them where the file ends."""
    for k in itertools.count():
        start = k * hop
        end = start + window
        text = words if isinstance(words, str) or words is None else _words_in(words, start, end)
        yield _Span(start, end, text)
