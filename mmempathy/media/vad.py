"""Voice activity: where a 16 kHz mono signal holds speech, with Silero VAD (v6, ONNX).

The model is the Silero VAD ONNX file that ``faster-whisper`` ships in its package assets, run
through ``onnxruntime`` (which faster-whisper already needs). We do not depend on the
``silero-vad`` package: it ships the same model, but its core dependency is torch (the model as
TorchScript) and its audio helpers want torchaudio or torchcodec, none of which we need.

:class:`VadStream` takes audio as it arrives (any chunk size), scores each 512-sample frame
(32 ms) with the recurrent state carried over, labels frames with hysteresis (speech starts above
``threshold`` and lasts until the probability falls below ``threshold - 0.15``), and closes a
speech *region* once ``min_silence`` seconds of non-speech follow it. What it holds grows by one
byte and one float per 32 ms (about 560 KB for an hour), never the audio itself.

Example:
    >>> import numpy as np
    >>> stream = VadStream()
    >>> stream.push(np.zeros(16_000, np.float32))
    >>> stream.finish()
    >>> stream.regions, stream.speech_seconds(0.0, 1.0)
    ([], 0.0)
"""

from __future__ import annotations

import functools
import math
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmempathy.errors import CheckpointError, InputError

SAMPLE_RATE = 16_000
FRAME = 512  # samples the model scores at a time (32 ms at 16 kHz)
CONTEXT = 64  # samples of the previous frame the model sees with each frame
# Frames scored per model call (256 ms): the clock, and so every live result, is at most this far behind;
# 8 frames a call cost what 32 do (0.25 s per minute of audio on 2 cores), fewer than 8 a third more.
BATCH_FRAMES = 8


@dataclass(frozen=True)
class VadOptions:
    """How frame probabilities become speech regions."""

    threshold: float = 0.5  # a frame above this starts (or continues) speech
    min_silence: float = 0.3  # seconds of non-speech that end a region; shorter pauses are bridged
    min_speech: float = 0.1  # regions shorter than this (seconds) are dropped as clicks
    pad: float = 0.1  # seconds added on both sides of each region (words start softly)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"VAD threshold must be between 0 and 1, got {self.threshold}")
        if min(self.min_silence, self.min_speech, self.pad) < 0:
            raise InputError("VAD min_silence, min_speech and pad must not be negative")


@functools.lru_cache(maxsize=1)
def _session():
    """The ONNX session, created once per process (two threads at most: it is a small model)."""
    try:
        import onnxruntime
        from faster_whisper.utils import get_assets_path
    except ImportError as err:  # both are dependencies; say which one is broken
        raise CheckpointError(
            f"voice activity detection needs the packages faster-whisper and onnxruntime ({err}); "
            "pip install faster-whisper"
        ) from None
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    if not path.is_file():
        raise CheckpointError(f"the Silero VAD model is missing from faster-whisper's assets: {path}")
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 4
    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"], sess_options=opts)
    except Exception as err:  # onnxruntime raises its own exception types
        raise CheckpointError(f"could not load the Silero VAD model {path}: {err}") from None


class VadStream:
    """Streaming Silero VAD over 16 kHz mono audio; see the module docstring.

    Attributes:
        origin: Time (seconds) of the first sample pushed.
        regions: Closed speech regions ``(start, end)`` in seconds, padded, in order.
    """

    def __init__(
        self,
        options: VadOptions | None = None,
        *,
        origin: float = 0.0,
        sample_rate: int = SAMPLE_RATE,
        batch_frames: int = BATCH_FRAMES,
    ):
        if sample_rate != SAMPLE_RATE:
            raise InputError(f"Silero VAD runs on {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
        if batch_frames < 1:
            raise InputError(f"batch_frames must be at least 1, got {batch_frames}")
        self.batch_frames = batch_frames  # frames scored per model call: fewer calls, or a clock less behind
        self.options = options or VadOptions()
        self.origin = origin
        self.session = _session()
        self.h = np.zeros((1, 1, 128), np.float32)
        self.c = np.zeros((1, 1, 128), np.float32)
        self.context = np.zeros(CONTEXT, np.float32)
        self.pending = np.zeros(0, np.float32)  # samples not yet scored (less than a batch)
        self.probs = array("f")  # one speech probability per frame
        self.labels = bytearray()  # 1 where a frame is speech (after hysteresis)
        self.regions: list[tuple[float, float]] = []
        self.finished = False
        self._in_speech = False
        self._open: int | None = None  # first frame of the region being built
        self._last_speech = -1  # last speech frame of that region
        step = FRAME / SAMPLE_RATE
        self._silence_frames = max(1, math.ceil(self.options.min_silence / step))
        self._speech_frames = self.options.min_speech / step

    @property
    def frame_seconds(self) -> float:
        return FRAME / SAMPLE_RATE

    @property
    def clock(self) -> float:
        """Time up to which frames have been scored."""
        return self.origin + len(self.labels) * self.frame_seconds

    @property
    def open_start(self) -> float | None:
        """Start (padded) of a speech region not yet closed, or ``None``: no region starts before
        :attr:`clock` other than those in :attr:`regions`."""
        if self._open is None:
            return None
        return max(self.origin, self._time(self._open) - self.options.pad)

    def push(self, samples: np.ndarray) -> None:
        """Add consecutive samples (float32 mono at 16 kHz)."""
        if self.finished:
            raise RuntimeError("push() after finish()")
        self.pending = np.concatenate([self.pending, np.asarray(samples, np.float32).reshape(-1)])
        usable = len(self.pending) // (FRAME * self.batch_frames) * FRAME * self.batch_frames
        if usable:
            self._score(self.pending[:usable])
            self.pending = self.pending[usable:]

    def finish(self) -> None:
        """Score what is left (zero-padded to a frame) and close the open region at the end."""
        if self.finished:
            return
        if len(self.pending):
            end = len(self.labels) * FRAME + len(self.pending)  # in samples, for the last region
            self._score(np.pad(self.pending, (0, -len(self.pending) % FRAME)))
            self.pending = np.zeros(0, np.float32)
        else:
            end = len(self.labels) * FRAME
        self.finished = True
        if self._open is not None:
            self._close(end_time=min(self._time(self._last_speech + 1), self.origin + end / SAMPLE_RATE))

    def speech_seconds(self, start: float, end: float) -> float:
        """Seconds of frames labelled speech within ``[start, end)`` (unpadded)."""
        lo = max(0, math.floor((start - self.origin) / self.frame_seconds))
        hi = max(lo, math.ceil((end - self.origin) / self.frame_seconds))
        return self.labels[lo:hi].count(1) * self.frame_seconds

    def quietest(self, start: float, end: float) -> float:
        """The middle of the scored frame within ``[start, end)`` least likely to be speech (``end``
        when no whole frame lies there): where to cut speech that must be cut."""
        lo = max(0, math.ceil((start - self.origin) / self.frame_seconds - 1e-9))
        hi = min(len(self.probs), math.floor((end - self.origin) / self.frame_seconds + 1e-9))
        if hi <= lo:
            return end
        frame = lo + int(np.argmin(np.frombuffer(self.probs, np.float32, hi - lo, lo * 4)))
        return self._time(frame) + self.frame_seconds / 2

    def _time(self, frame: int) -> float:
        return self.origin + frame * self.frame_seconds

    def _score(self, samples: np.ndarray) -> None:
        frames = samples.reshape(-1, FRAME)
        # Each frame is scored with the last 64 samples of the frame before it, as Silero expects.
        previous = np.concatenate([self.context[None], frames[:-1, -CONTEXT:]], axis=0)
        batch = np.concatenate([previous, frames], axis=1)
        probs, self.h, self.c = self.session.run(None, {"input": batch, "h": self.h, "c": self.c})
        self.context = frames[-1, -CONTEXT:].copy()
        for p in np.asarray(probs, np.float32).reshape(-1):
            self._label(float(p))

    def _label(self, prob: float) -> None:
        opts = self.options
        index = len(self.labels)
        speech = prob >= opts.threshold or (self._in_speech and prob >= max(opts.threshold - 0.15, 0.01))
        self.probs.append(prob)
        self.labels.append(speech)
        self._in_speech = speech
        if speech:
            if self._open is None:
                self._open = index
            self._last_speech = index
        elif self._open is not None and index - self._last_speech >= self._silence_frames:
            self._close()

    def _close(self, end_time: float | None = None) -> None:
        assert self._open is not None
        start, last = self._open, self._last_speech
        self._open = None
        if last + 1 - start < self._speech_frames:
            return
        pad = self.options.pad
        begin = max(self.origin, self._time(start) - pad)
        if self.regions:
            begin = max(begin, self.regions[-1][1])
        finish = (end_time if end_time is not None else self._time(last + 1)) + pad
        if self.finished:
            finish = min(finish, self.origin + (len(self.labels) * FRAME) / SAMPLE_RATE)
        self.regions.append((begin, finish))


def speech_timestamps(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE, options: VadOptions | None = None
) -> list[tuple[float, float]]:
    """Speech regions ``(start, end)`` in seconds of a whole 16 kHz mono signal."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise InputError(f"expected mono audio (one dimension), got shape {audio.shape}")
    stream = VadStream(options, sample_rate=sample_rate)
    stream.push(audio)
    stream.finish()
    return list(stream.regions)
