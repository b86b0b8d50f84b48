"""How a media file is cut into segments and read: :class:`VideoConfig`.

Kept apart from :mod:`mmempathy.media.pipeline` so that reading the settings (the command line's
parser, a config file) does not load PyAV, OpenCV or the speech models.

Example:
    >>> VideoConfig(window=2.0, hop=1.0).segment_by
    'auto'
"""

from __future__ import annotations

from dataclasses import dataclass

from mmempathy.errors import InputError

SEGMENT_BY = ("auto", "window", "speech", "subtitles")
DETECTORS = ("auto", "centerface", "haar")
ADAPT = ("auto", "off")  # the person baseline (mmempathy.baseline)


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
    face_detector: str = "auto"  # "auto" (CenterFace, Haar where it finds nothing), "centerface" or "haar"
    frame_max_side: int | None = 960  # frames are converted at most this large (crops come from them)
    detect_every: float = 1.0  # seconds between face searches, found faces carried in between (0: every frame)
    fast_decode: bool = True  # no deblocking filter, fast downscaling: a quarter less decoding, pixels differ a bit
    overlap: bool = True  # decode and find faces in a thread of their own while speech and the model run
    face_size: int | None = None  # crop side; None: the model's ``processor.face_size``
    progress: bool | None = None  # a progress bar; None: only for files longer than a minute
    segment_by: str = "auto"  # "auto" (cues if subtitles, else windows), "window", "speech" or "subtitles"
    max_segment: float = 10.0  # speech turns longer than this (seconds) are cut into equal parts
    asr: str = "auto"  # "auto": transcribe the speech when no subtitles or transcript are given; "off"
    asr_model: str = "tiny.en"  # "tiny.en", "base" (both packaged), a CTranslate2 model directory or a hub name
    asr_language: str | None = None  # force a language code ("en"); None: Whisper detects it
    asr_threads: int = 0  # CPU threads for Whisper; 0: CTranslate2's default
    asr_max_chunk: float = 28.0  # seconds of speech per Whisper call at most (it reads 30-s windows)
    asr_max_wait: float = 60.0  # seconds queued speech waits for more before Whisper is called (live: less)
    vad: bool = True  # audio with less than min_speech seconds of speech counts as missing
    min_speech: float = 0.2  # seconds of speech a segment needs for its audio to be read
    adapt: str = "auto"  # "auto": face tracks and the voice read against their own person baseline; "off": plainly
    explain: bool = False  # each segment's why: the words, face frames and speech that moved it (mmempathy.explain)

    def __post_init__(self) -> None:
        for name in ("fps", "window", "hop", "max_segment", "asr_max_chunk", "asr_max_wait"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.asr_max_chunk > 30:
            raise InputError(f"asr_max_chunk is at most 30 (Whisper hears 30-s windows), got {self.asr_max_chunk}")
        if self.batch_size < 1 or self.max_faces < 1:
            raise InputError("batch_size and max_faces must be at least 1")
        if self.segment_by not in SEGMENT_BY:
            raise InputError(f"segment_by must be one of {', '.join(SEGMENT_BY)}, got {self.segment_by!r}")
        if self.asr not in ("auto", "off"):
            raise InputError(f"asr must be 'auto' or 'off', got {self.asr!r}")
        if self.detect_every < 0:
            raise InputError(f"detect_every must not be negative, got {self.detect_every}")
        if self.min_speech < 0 or self.asr_threads < 0:
            raise InputError("min_speech and asr_threads must not be negative")
        if self.adapt not in ADAPT:
            raise InputError(f"adapt must be one of {', '.join(ADAPT)}, got {self.adapt!r}")
        if self.face_detector not in DETECTORS:
            raise InputError(f"face_detector must be one of {', '.join(DETECTORS)}, got {self.face_detector!r}")
