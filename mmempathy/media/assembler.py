"""The video pipeline's assembler: face crops, audio and words are buffered as the streams pass, and
each segment becomes a :class:`~mmempathy.sample.Sample` once every stream has passed its end.

Its segments are the spans of :mod:`mmempathy.media.segmenting`, or speech turns cut from the voice
activity detector's regions as they close; :mod:`mmempathy.media.pipeline` feeds it the decoded stream.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from mmempathy.media.asr import SpeechRecognizer, StreamingTranscriber
from mmempathy.media.config import VideoConfig
from mmempathy.media.decode import AudioChunk, VideoFrame
from mmempathy.media.faces import FaceExtractor, FrameFaces
from mmempathy.media.segmenting import _Span, _words_in
from mmempathy.media.subtitles import Cue
from mmempathy.media.vad import VadStream
from mmempathy.sample import Sample


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
            "segmented_by": self.kind,
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
