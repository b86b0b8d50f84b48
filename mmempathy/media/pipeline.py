"""From a video (or audio) file to an emotion :class:`~mmempathy.media.timeline.Timeline`.

The file is decoded once, as a stream: sampled frames go through face detection and tracking as
they arrive, audio is buffered only as far back as the oldest segment still open, and each
segment becomes a :class:`~mmempathy.sample.Sample` the moment both streams have passed its end.
Samples are predicted in batches as they complete, so memory does not grow with the video.

Segments (``segment_by``) are the subtitle cues when subtitles are given, otherwise fixed windows
(``window`` seconds every ``hop`` seconds), or speech turns (``"speech"``: the regions the voice
activity detector finds, cut to ``max_segment`` and stretched to ``min_segment`` seconds).

Text comes from the subtitles, else from a plain transcript (spread over the file in proportion to
word length: an even speaking rate is assumed), else, with ``asr="auto"``, from Whisper
(:mod:`mmempathy.media.asr`): the speech is transcribed in VAD-chosen pieces as the file streams by,
and each word goes to the segments that hold its midpoint. ``Timeline.meta["text_source"]`` says
which (``"subtitles"``, ``"transcript"``, ``"asr"`` or ``None``).

With ``vad=True`` a segment whose audio holds less than ``min_speech`` seconds of speech has its
audio modality marked missing (its ``meta["audio_missing"]`` says ``"no speech"``): an emotion is
not read from silence or noise. A modality that a segment lacks (no audio track, no speech, no face
found, no text) is simply missing from its sample; the model fuses what is there.

Memory: besides the model, the stream holds the frames (face crops) and audio of the segments
still open, the audio from the first speech not yet transcribed (at most about a minute: Whisper
calls take up to 28 s of speech and wait at most 30 s for more), the words of open segments, and
per 32 ms of audio one VAD probability and label (about 0.5 MB an hour). No stream is held whole.
With the person baseline (``adapt="auto"``, :mod:`mmempathy.baseline`) every segment's encoder outputs are
kept until the end, when the faces and voice are read again against their people's baselines: about
0.25 MB a segment with ``lite`` (measured on the demo clip: text, voice and face; some 300 MB for an hour of
3-s windows); ``adapt="off"`` keeps memory flat.

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
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from mmempathy.errors import InputError
from mmempathy.media.ahead import run_ahead
from mmempathy.media.asr import SpeechRecognizer, StreamingTranscriber
from mmempathy.media.config import SEGMENT_BY, VideoConfig  # noqa: F401  (SEGMENT_BY: this module's name for it too)
from mmempathy.media.decode import SAMPLE_RATE, AudioChunk, VideoFrame, iter_media, open_media, probe
from mmempathy.media.faces import FaceDetector, FaceExtractor, FrameFaces
from mmempathy.media.sources import LiveSource
from mmempathy.media.subtitles import Cue, consolidate_cues, read_subtitles, spread_transcript
from mmempathy.media.timeline import Segment, Timeline
from mmempathy.media.vad import VadStream
from mmempathy.modality import Modality
from mmempathy.sample import Sample

if TYPE_CHECKING:
    from mmempathy.baseline import BaselineReader
    from mmempathy.media.live import Pacer
    from mmempathy.model import EmotionFuser
    from mmempathy.output import EmotionResult

log = logging.getLogger(__name__)


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
        transcript: Text of the whole file without timing, spread over the segments.
        config: Segmenting and decoding settings; keyword arguments override its fields
            (``fps=1, window=5, hop=2.5, batch_size=32, asr="off", segment_by="speech"`` ...).

    Returns:
        One segment per cue, window or speech turn, with fused and per-modality probabilities.
        ``meta`` records the segmentation, ``text_source`` and, when Whisper ran, ``asr`` (model,
        language, number of calls and words); ``cue_merging`` (segmenting by subtitles: how many
        cues :func:`~mmempathy.media.subtitles.consolidate_cues` merged, else ``None``); ``dropped``
        (every cue, window or speech turn not made into a segment: ``kind``, ``start``, ``end``,
        ``reason``, and ``text`` for a cue; dropped cues are also logged as a warning); and
        ``skipped`` (``[start, end]`` of the segments that had nothing the model reads).

    Raises:
        InputError: The file is missing or unusable, the subtitles do not parse, or both
            subtitles and a transcript were given.
        CheckpointError: Speech-to-text was needed and its model could not be found or loaded.
    """
    config = _resolve(config, overrides)
    settings = sample_settings(fuser, config)
    reads = settings["modalities"]
    segments: list[Segment] = []
    skipped: list[list[float]] = []  # segments with nothing the model reads (no speech, face or text)
    batch: list[Sample] = []
    report: dict[str, Any] = {}
    samples = iter_samples(
        path,
        subtitles,
        transcript,
        config=config,
        **settings,
        report=report,
    )
    if config.overlap:  # segments are made (speech to text included) while the model reads the ones made
        samples = run_ahead(samples, depth=2 * config.batch_size, name=f"mmempathy-segments:{Path(path).name}")
    reader = baseline_reader(fuser, config.adapt)
    kept: list[Sample] = []  # with a person baseline: the samples (their media dropped) until all are read
    try:
        for sample in samples:
            if not readable(sample, reads):
                skipped.append([sample.meta["start"], sample.meta["end"]])
                continue
            batch.append(sample)
            if len(batch) == config.batch_size:
                segments += read_batch(fuser, reader, batch, kept, explain=config.explain)
                batch = []
        if batch:
            segments += read_batch(fuser, reader, batch, kept, explain=config.explain)
    finally:
        # On an error or Ctrl-C the file and the progress bar close now, not at garbage collection
        # (a bar closed then would be drawn again after the error message).
        samples.close()
    if reader is not None:
        segments = segments_of(kept, reader.results())
    meta = {**report, "config": asdict(replace(config, face_size=settings["face_size"])), "skipped": skipped}
    meta["adapt"] = adapt_report(config.adapt, reader, segments)
    if skipped:
        log.warning("%d segment(s) of %s had no speech, face or text and were left out", len(skipped), path)
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
    report: dict[str, Any] | None = None,
    pacer: Pacer | None = None,
) -> Iterator[Sample]:
    """The segments of a media file (or live source) as :class:`Sample` s, yielded as soon as each is complete.

    Each sample has the segment's audio slice, the crops of the main face in its sampled frames
    (``[F, face_size, face_size, 3]`` uint8), its text, and ``meta`` with ``start``, ``end``,
    ``frames`` (frames sampled), ``face_frames`` (those with a face), ``speech`` (seconds of
    speech the VAD found, when it ran) and ``audio_missing`` (``"no speech"`` when the VAD set the
    audio aside). A segment may have none of them (silence without a face or words).
    ``modalities`` (``"text"``, ``"audio"``, ``"face"``) limits the work to what a model reads:
    without ``"face"`` no frame is even decoded. ``report``, if given, receives the file's
    ``duration``, ``has_video`` and ``has_audio``, then ``segmentation``, ``text_source``, ``asr``,
    ``cue_merging`` and ``dropped`` (see :func:`predict_video`). ``path`` may be a
    :class:`~mmempathy.media.sources.LiveSource`; a :class:`~mmempathy.media.live.Pacer` given as
    ``pacer`` sees every decoded item first (it plays a file in real time and clocks the results).
    """
    with open_media(path) as container:  # opened once: a live source cannot be opened twice
        yield from _samples(
            container,
            path,
            subtitles,
            transcript,
            config=config or VideoConfig(),
            face_size=face_size,
            sample_rate=sample_rate,
            modalities=modalities,
            report=report if report is not None else {},
            pacer=pacer,
        )


def _samples(
    container: Any,
    path: str | Path | LiveSource,
    subtitles: str | Path | list[Cue] | None,
    transcript: str | None,
    *,
    config: VideoConfig,
    face_size: int,
    sample_rate: int,
    modalities: Iterable[str] | None,
    report: dict[str, Any],
    pacer: Pacer | None,
) -> Iterator[Sample]:
    wanted = {Modality.parse(m) for m in (modalities if modalities is not None else Modality)}
    if subtitles is not None and transcript is not None:
        raise InputError("give either subtitles or a transcript, not both")
    info = probe(container)
    report.update(duration=info.duration, has_video=info.has_video, has_audio=info.has_audio)
    if info.duration is not None and info.duration <= 0:
        raise InputError(f"media file has zero duration: {path}")
    by = config.segment_by if config.segment_by != "auto" else ("subtitles" if subtitles is not None else "window")
    if by == "subtitles" and subtitles is None:
        raise InputError("segment_by='subtitles' needs subtitles")
    # Cues become segments only when segmenting by them: then tiny or crowded cues are merged.
    cues, cue_merging = _cues(subtitles, merge=by == "subtitles", min_duration=config.min_segment)
    if by == "speech" and not info.has_audio:
        raise InputError(f"segment_by='speech' needs an audio track, and {path} has none")
    keep_text = Modality.TEXT in wanted
    transcribe = config.asr == "auto" and cues is None and transcript is None and keep_text and info.has_audio
    recognizer = (
        SpeechRecognizer(config.asr_model, language=config.asr_language, threads=config.asr_threads)
        if transcribe
        else None
    )  # made now: a bad model directory fails before any decoding; the model itself loads on first speech
    words: list[Cue] | None = None
    whole_text: str | None = None
    if keep_text and cues is not None and by != "subtitles":
        words = list(cues)  # subtitle text over windows or turns: each cue goes where its midpoint is
    elif keep_text and transcript is not None:
        spread = _words(transcript, info.duration)
        words, whole_text = (None, spread) if isinstance(spread, str) else (spread, None)
    elif transcribe:
        words = []  # filled by Whisper as the stream goes
    report.update(
        segmentation={"subtitles": "subtitles", "window": "windows", "speech": "speech"}[by],
        text_source=("subtitles" if cues is not None else "transcript" if transcript is not None else "asr")
        if keep_text and (cues is not None or transcript is not None or transcribe)
        else None,
        asr=None,
        cue_merging=cue_merging,
    )
    spans: Iterator[_Span] | None
    if by == "subtitles":
        spans = (_Span(c.start, c.end, (c.text or None) if keep_text else None) for c in cues)
    elif by == "window":
        spans = _windows(config.window, config.hop)
    else:
        spans = None  # speech turns come from the VAD as it goes
    attach_audio = info.has_audio and Modality.AUDIO in wanted
    decode_audio = info.has_audio and (attach_audio or transcribe or by == "speech")
    info = replace(info, has_video=info.has_video and Modality.FACE in wanted, has_audio=decode_audio)
    assembler = _Assembler(
        spans,
        FaceExtractor(
            face_size,
            detector=FaceDetector(
                detector=config.face_detector,
                detect_side=config.detect_side,
                threads=1 if config.overlap else 2,  # overlapped, the other stages use the second core
            ),
            detect_every=config.detect_every,
        ),
        config,
        info=info,
        sample_rate=sample_rate,
        source=str(path),
        kind=by,
        words=words,
        whole_text=whole_text,
        attach_audio=attach_audio,
        recognizer=recognizer,
    )
    show = config.progress if config.progress is not None else (info.duration or 0) > 60
    name = str(path) if isinstance(path, LiveSource) else Path(path).name
    with tqdm(total=round(info.duration or 0, 1), unit="s", disable=not show, desc=name) as bar:
        stream = iter_media(
            container,
            fps=config.fps,
            video=info.has_video,
            audio=info.has_audio,
            sample_rate=sample_rate,
            max_side=config.frame_max_side,
            threads=1 if config.overlap else 0,
        )
        items: Iterable[VideoFrame | AudioChunk] = pacer(stream) if pacer is not None else stream
        if config.overlap:  # decoding, face finding and the rest each in a thread: three stages, two cores
            items = run_ahead(items, name=f"mmempathy-decode:{name}")
        faced = _with_faces(items, assembler.extractor)
        if config.overlap and info.has_video:
            faced = run_ahead(faced, name=f"mmempathy-faces:{name}")
        try:
            for item in faced:
                yield from assembler.add(item)
                if show and math.isfinite(assembler.clock):
                    bar.update(max(0.0, round(min(assembler.clock, bar.total) - bar.n, 1)))
        finally:
            faced.close()  # the stages stop now, however the loop ended (an error here, Ctrl-C, the reader closing)
        yield from assembler.finish()
        bar.update(max(0.0, bar.total - bar.n))
    if assembler.transcriber is not None:
        report["asr"] = {
            "model": recognizer.name,
            "language": assembler.transcriber.language,
            "language_probability": assembler.transcriber.language_probability,
            "calls": assembler.transcriber.calls,
            "words": assembler.heard,
        }
    report["dropped"] = assembler.dropped
    cues_dropped = [d for d in assembler.dropped if d["kind"] == "cue"]
    if cues_dropped:
        first = cues_dropped[0]
        log.warning(
            "%d subtitle cue(s) of %s were dropped (listed in meta['dropped']); the first, %.2f-%.2f s: %s",
            len(cues_dropped),
            path,
            first["start"],
            first["end"],
            first["reason"],
        )
    if assembler.emitted == 0:
        why = {
            "subtitles": "no subtitle cue falls within it",
            "speech": "no speech was found in it",
        }.get(by, "nothing in it could be decoded")
        raise InputError(f"no segment could be made from {path}: {why}")


def _with_faces(
    items: Iterable[VideoFrame | AudioChunk], extractor: FaceExtractor
) -> Iterator[FrameFaces | AudioChunk]:
    """The decoded stream with each sampled frame replaced by its faces (the frame itself is let go).

    Closing it closes ``items``: a decoding stage behind it stops now, not when the stream is collected.
    """
    try:
        for item in items:
            yield extractor(item.image, item.time) if isinstance(item, VideoFrame) else item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


class _Assembler:
    """Buffers face crops, audio and words until segments close, then turns each into a Sample."""

    def __init__(
        self,
        spans: Iterator[_Span] | None,
        extractor: FaceExtractor,
        config: VideoConfig,
        *,
        info,
        sample_rate,
        source,
        kind: str = "window",
        words: list[Cue] | None = None,
        whole_text: str | None = None,
        attach_audio: bool = True,
        recognizer: SpeechRecognizer | None = None,
    ):
        self.spans = spans  # None: speech turns, made from the VAD's regions as they close
        self.extractor = extractor
        self.config = config
        self.info = info
        self.sample_rate = sample_rate
        self.source = source
        self.kind = kind  # "window" (endless), "subtitles" (a finite list) or "speech"
        self.words = words  # word cues whose midpoints place them in segments
        self.whole_text = whole_text
        self.attach_audio = attach_audio
        self.recognizer = recognizer
        self.vad: VadStream | None = None
        self.transcriber: StreamingTranscriber | None = None
        self.want_vad = info.has_audio and (config.vad or recognizer is not None or spans is None)
        self.turns: deque[_Span] = deque()
        self.regions_taken = 0
        self.heard = 0  # words Whisper gave
        self.frames: deque[FrameFaces] = deque()
        # How often each face track was seen in the frames taken so far: the tracker may run ahead
        # (in the decoding thread), and the main face is chosen as it stood when the segment closed.
        self.hits: Counter[int] = Counter()
        self.audio: deque[AudioChunk] = deque()
        # A stream that the file lacks never holds a segment back.
        self.video_clock = -math.inf if info.has_video else math.inf
        self.audio_clock = -math.inf if info.has_audio else math.inf
        self.last_frame = -math.inf
        self.last_audio = -math.inf
        self.emitted = 0
        self.last_end = -math.inf
        self.dropped: list[dict[str, Any]] = []  # spans not made into segments, each with its reason
        self.pending: _Span | None = self._next()

    @property
    def clock(self) -> float:
        """Time up to which every stream (frames, audio, voice activity, words) is complete."""
        clock = min(self.video_clock, self.audio_clock)
        if self.vad is not None:
            clock = min(clock, self.vad.clock)
        if self.transcriber is not None:
            clock = min(clock, self.transcriber.clock)
        return clock

    def add(self, item: FrameFaces | AudioChunk) -> Iterator[Sample]:
        if isinstance(item, FrameFaces):
            self.frames.append(item)
            self.hits.update(item.track_ids)
            self.video_clock = self.last_frame = item.time
        else:
            self._hear(item)
            self.audio_clock = self.last_audio = item.end
        if self.pending is None:
            self.pending = self._next()
        while self.pending is not None and self.pending.end <= self.clock:
            yield self._emit(self.pending)

    def finish(self) -> Iterator[Sample]:
        """The segments still open when the file ends, clipped to where it really ended."""
        if self.transcriber is not None:
            self._take_words(self.transcriber.finish())
        elif self.vad is not None:
            self.vad.finish()
        self._take_turns()
        if self.pending is None:
            self.pending = self._next()
        end = max(self.last_frame + 1.0 / self.config.fps, self.last_audio)
        if not math.isfinite(end):  # neither stream was read (text-only model): trust the header
            end = self.info.duration or 0.0
        if self.info.duration:
            end = min(end, self.info.duration)
        endless = self.kind == "window"
        while self.pending is not None and self.pending.start < end:
            span = replace(self.pending, end=min(self.pending.end, end))
            long_enough = span.end - span.start >= self.config.min_segment
            # A clipped overlapping window that lies inside the previous one adds nothing.
            redundant = endless and span.end <= self.last_end
            if (long_enough and not redundant) or (self.emitted == 0 and span.end > span.start):
                yield self._emit(span)
                continue
            if redundant:
                self._drop(self.pending, f"cut at the end of the media ({end:.2f} s), it lies inside the previous one")
            else:
                self._drop(
                    self.pending,
                    f"cut at the end of the media ({end:.2f} s), it is {span.end - span.start:.2f} s long, "
                    f"under min_segment ({self.config.min_segment} s)",
                )
            self._advance()
        if self.kind == "subtitles":  # a finite list: every cue left starts after the end
            rest = [self.pending, *self.spans] if self.pending is not None else []
            for span in rest:
                self._drop(span, f"starts at or after the end of the media ({end:.2f} s)")
            self.pending = None

    def _drop(self, span: _Span, reason: str) -> None:
        kind = {"subtitles": "cue", "window": "window", "speech": "speech turn"}[self.kind]
        entry: dict[str, Any] = {"kind": kind, "start": span.start, "end": span.end, "reason": reason}
        if span.text:
            entry["text"] = span.text[:80]
        self.dropped.append(entry)

    def _hear(self, chunk: AudioChunk) -> None:
        if self.attach_audio:
            self.audio.append(chunk)
        if not self.want_vad:
            return
        if self.vad is None:
            self.vad = VadStream(origin=chunk.time, sample_rate=chunk.sample_rate)
            if self.recognizer is not None:
                self.transcriber = StreamingTranscriber(
                    self.recognizer, self.vad, max_chunk=self.config.asr_max_chunk, max_wait=self.config.asr_max_wait
                )
        if self.transcriber is not None:
            self._take_words(self.transcriber.add(chunk))  # it feeds the VAD too
        else:
            self.vad.push(chunk.samples)
        self._take_turns()

    def _take_words(self, words: list[Cue]) -> None:
        assert self.words is not None
        self.words += words
        self.heard += len(words)

    def _take_turns(self) -> None:
        """New speech turns from the regions the VAD closed: long ones cut, short ones stretched."""
        if self.spans is not None or self.vad is None:
            return
        while self.regions_taken < len(self.vad.regions):
            start, end = self.vad.regions[self.regions_taken]
            self.regions_taken += 1
            start = max(start, self.turns[-1].end if self.turns else self.last_end)
            end = max(end, start + self.config.min_segment)  # stretched forward only: turns stay causal
            parts = max(1, math.ceil((end - start) / self.config.max_segment - 1e-9))
            edges = np.linspace(start, end, parts + 1)
            self.turns.extend(_Span(float(a), float(b), None) for a, b in zip(edges[:-1], edges[1:]))

    def _next(self) -> _Span | None:
        if self.spans is not None:
            return next(self.spans, None)
        return self.turns.popleft() if self.turns else None

    def _emit(self, span: _Span) -> Sample:
        frames = [f for f in self.frames if span.start <= f.time < span.end]
        track, crops = self.extractor.main_face(frames, self.hits)
        if len(crops) > self.config.max_faces:
            keep = np.linspace(0, len(crops) - 1, self.config.max_faces).round().astype(int)
            crops = [crops[i] for i in keep]
        audio = self._audio(span.start, span.end) if self.attach_audio else None
        meta: dict[str, Any] = {
            "source": self.source,
            "start": span.start,
            "end": span.end,
            "frames": len(frames),
            "face_frames": sum(f.found for f in frames),
            "face_track": track,
        }
        if self.vad is not None:
            meta["speech"] = round(self.vad.speech_seconds(span.start, span.end), 3)
            if audio is not None and self.config.vad and meta["speech"] < self.config.min_speech:
                audio = None  # silence or noise: no emotion is read from it
                meta["audio_missing"] = "no speech"
        text = span.text if self.words is None else _words_in(self.words, span.start, span.end)
        sample = Sample(
            text=text if text is not None else self.whole_text,
            audio=audio,
            sample_rate=self.sample_rate if audio is not None else None,
            faces=np.stack(crops) if crops else None,
            meta=meta,
        )
        self.emitted += 1
        self.last_end = span.end
        self._advance()
        return sample

    def _advance(self) -> None:
        self.pending = self._next()
        # Spans come by start time: nothing before the next one's start is needed again. Without
        # a next turn yet, no turn can start before the VAD's open region (or its clock).
        if self.pending is not None:
            keep_from = self.pending.start
        elif self.spans is None and self.vad is not None and not self.vad.finished:
            keep_from = min(self.vad.open_start if self.vad.open_start is not None else math.inf, self.vad.clock)
        else:
            keep_from = math.inf
        while self.frames and self.frames[0].time < keep_from:
            self.frames.popleft()
        while self.audio and self.audio[0].end <= keep_from:
            self.audio.popleft()
        if self.words:
            done = 0
            while done < len(self.words) and (self.words[done].start + self.words[done].end) / 2 < keep_from:
                done += 1
            if done:
                del self.words[:done]

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


WHOLE = 1e9  # seconds: a window longer than any clip, cut where the clip ends


def clip_inputs(
    path: str | Path, *, face_size: int = 112, fps: float = 2.0, max_faces: int = 16, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A whole clip's audio and main-face crops, decoded exactly as :func:`predict_video` decodes a segment.

    The one path from a clip to model inputs: datasets (:func:`mmempathy.data.base.load_clip`) and
    training (:class:`mmempathy.train.data.ClipDataset`) use it, so they see what inference sees.

    Returns:
        ``(audio, faces)``: mono float32 at ``sample_rate`` (``None`` without an audio track, or
        under 0.1 s), and ``[F, face_size, face_size, 3]`` uint8 crops of the main face from frames
        sampled at ``fps``, evenly thinned to ``max_faces`` (``None`` where no face was found).

    Raises:
        InputError: The file is missing, not media, or holds nothing that decodes.
    """
    config = VideoConfig(
        fps=fps, window=WHOLE, hop=WHOLE, max_faces=max_faces, min_segment=0.0, vad=False, asr="off", progress=False
    )
    samples = list(
        iter_samples(path, config=config, face_size=face_size, sample_rate=sample_rate, modalities=("audio", "face"))
    )
    return samples[0].audio, samples[0].faces


def sample_settings(fuser: Any, config: VideoConfig) -> dict[str, Any]:
    """What :func:`iter_samples` needs from a model, as keyword arguments: ``face_size`` (the config's,
    else the processor's), ``sample_rate`` (the processor's) and ``modalities`` (the names it reads)."""
    processor = getattr(fuser, "processor", None)
    return {
        "face_size": config.face_size or getattr(processor, "face_size", None) or 112,
        "sample_rate": getattr(processor, "sample_rate", None) or SAMPLE_RATE,
        "modalities": {_name(m) for m in getattr(fuser, "modalities", Modality)},
    }


def readable(sample: Sample, reads: Iterable[str]) -> bool:
    """Whether ``sample`` has a modality among ``reads`` (a model's modality names)."""
    return bool(set(reads) & {m.value for m in sample.present()})


def predict_segments(fuser: EmotionFuser, samples: list[Sample], *, explain: bool = False) -> list[Segment]:
    """One model call on ``samples`` (from :func:`iter_samples`); a :class:`Segment` for each (``explain``: with
    its ``why``, :mod:`mmempathy.explain`)."""
    results = fuser.predict_samples(samples, batch_size=len(samples), progress=False)
    if explain:
        from mmempathy.explain import explain_samples

        for result, why in zip(results, explain_samples(fuser, samples)):
            result.why = why
    return segments_of(samples, results)


def baseline_reader(fuser: Any, adapt: str) -> BaselineReader | None:
    """A reader of segments against person baselines, or ``None`` where they are off or the model has none."""
    if adapt == "off" or getattr(fuser, "baseline", None) is None:
        return None
    from mmempathy.baseline import BaselineReader  # torch: not for the ONNX runtime's fuser

    return BaselineReader(fuser)


def people_of(sample: Sample) -> dict[str, Any]:
    """Whose face and voice a segment holds: its main face track, and the recording's one voice
    (speakers are not told apart)."""
    track = sample.meta.get("face_track")
    return {"face": None if track is None else f"face-{track}", "audio": "voice"}


BASELINE_SPEECH = 1.5  # seconds of speech a segment needs to inform its voice's baseline


def informs_of(sample: Sample) -> dict[str, bool]:
    """Whether a segment may inform its voice's baseline: a window that catches a pause or the edge of a
    sentence reads differently from one full of speech for reasons of its own (on RAVDESS recordings cut
    in 3-s windows, such windows made a voice angry throughout look as varied as a mixed one)."""
    speech = sample.meta.get("speech")
    return {"audio": speech is None or speech >= BASELINE_SPEECH}


def adapt_report(adapt: str, reader: BaselineReader | None, segments: list[Segment]) -> dict[str, Any]:
    """``Timeline.meta["adapt"]``: the mode, and per modality how many segments were read against a baseline."""
    if reader is None:
        why = "off" if adapt == "off" else "the model has no person-baseline references"
        return {"mode": adapt, "applied": False, "reason": why}
    counts = {m.value: sum(m.value in seg.baseline for seg in segments) for m in reader.adapted}
    present = {m: sum(m in seg.present for seg in segments) for m in counts}
    plain = {m: present[m] - counts[m] for m in counts if present[m] > counts[m]}
    if plain:
        log.info(
            "person baseline: too few segments of some people to estimate one (%s read plainly; at least %d needed)",
            ", ".join(f"{n} {m}" for m, n in plain.items()),
            reader.settings.min_segments,
        )
    return {"mode": adapt, "applied": any(counts.values()), "adapted": counts, "read_plainly": plain}


def read_batch(
    fuser: EmotionFuser,
    reader: BaselineReader | None,
    batch: list[Sample],
    kept: list[Sample],
    *,
    explain: bool = False,
) -> list[Segment]:
    """Predict a batch now, or (with a person baseline) encode it now and predict once all are read.

    ``explain``: each segment gets its ``why``; with a person baseline it is made now, while the batch's media
    are at hand, and explains the plain reading (the baseline is not part of it)."""
    if reader is None:
        return predict_segments(fuser, batch, explain=explain)
    reader.add(batch, [people_of(s) for s in batch], batch_size=len(batch), informs=[informs_of(s) for s in batch])
    if explain:
        from mmempathy.explain import explain_samples

        batch = [replace(s, meta={**s.meta, "why": why}) for s, why in zip(batch, explain_samples(fuser, batch))]
    kept += [replace(s, audio=None, faces=None, features=None) for s in batch]  # what segments_of reads
    return []


def segments_of(samples: list[Sample], results: list[EmotionResult]) -> list[Segment]:
    """A :class:`Segment` for each sample and its result."""
    return [
        Segment(
            start=float(sample.meta["start"]),
            end=float(sample.meta["end"]),
            probs={str(k): float(v) for k, v in result.probs.items()},
            modalities={_name(m): {str(k): float(v) for k, v in p.items()} for m, p in result.modalities.items()},
            weights={_name(m): float(w) for m, w in result.weights.items()},
            present=[_name(m) for m in result.present],
            text=sample.text,
            speech=sample.meta.get("speech"),
            incongruity=float(result.incongruity),
            baseline={m: dict(b) for m, b in result.baseline.items()},
            why=result.why or sample.meta.get("why", {}),
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


def _windows(window: float, hop: float, text: str | None = None) -> Iterator[_Span]:
    """Endless fixed windows (each with ``text``, if given); the assembler stops them where the file ends."""
    for k in itertools.count():
        start = k * hop
        yield _Span(start, start + window, text)
