"""One labelled or unlabelled example, the unit that datasets yield and ``predict`` consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmempathy.modality import Modality


@dataclass
class Sample:
    """Raw inputs for one item; any modality may be ``None`` (missing).

    Attributes:
        text: An utterance or transcript (valid Unicode: no lone surrogates).
        audio: Mono waveform (or ``[channels, samples]``), float in [-1, 1] or integer PCM, at
            ``sample_rate``. Float audio peaking past 2 (say, on the int16 scale) is refused.
        sample_rate: Sampling rate of ``audio`` in Hz (1,000 to 384,000); required whenever
            ``audio`` is given.
        faces: Face crops of one person, ``[F, H, W]`` or ``[F, H, W, 3]`` uint8 RGB (or a list of
            ``[H, W]`` / ``[H, W, 3]`` arrays), channels last; several frames of one segment. A
            channels-first ``[F, 3, H, W]`` stack is transposed with a warning; a single
            ``[3, H, W]`` array is refused as ambiguous (it could be three grayscale frames).
        features: Pre-extracted features per modality name (``"audio"``, ``"face"``, ``"text"``),
            each ``[D]`` or ``[T, D]``, for encoders of kind ``"features"``.
        label: Class index (classification) or float target (regression), if known.
        meta: Free-form provenance (file, speaker, split, times).

    Example:
        >>> s = Sample(text="I am thrilled!", label=3)
        >>> s.present()
        [<Modality.TEXT: 'text'>]
    """

    text: str | None = None
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    faces: np.ndarray | list[np.ndarray] | None = None
    features: dict[str, np.ndarray] | None = None
    label: int | float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def present(self) -> list[Modality]:
        """The modalities this sample carries, raw or as features, in canonical order."""
        feats = self.features or {}
        raw = {Modality.TEXT: self.text, Modality.AUDIO: self.audio, Modality.FACE: self.faces}
        return [m for m in Modality if raw[m] is not None or m.value in feats]


def samples_of(
    text: Any = None, audio: Any = None, sample_rate: int | None = None, faces: Any = None
) -> tuple[list[Sample], bool]:
    """The :class:`Sample` s that ``predict``'s arguments describe, and whether they were a batch.

    A batch is ``text`` or ``audio`` given as a list (``faces`` then holds one entry per item);
    otherwise the arguments are one item.

    Raises:
        InputError: ``audio`` is a list of numbers (one waveform that would read as a batch of
            one-sample clips), or the batch's lists differ in length.
    """
    from mmempathy.errors import InputError

    if isinstance(audio, (list, tuple)) and audio and isinstance(audio[0], (int, float, np.number)):
        raise InputError(
            "audio is a list of numbers, which reads as a batch of one-sample clips: pass one waveform as an "
            "array (np.asarray(audio, dtype=np.float32)), or a batch as a list of arrays"
        )
    if not (isinstance(text, (list, tuple)) or isinstance(audio, (list, tuple))):
        return [Sample(text=text, audio=audio, sample_rate=sample_rate, faces=faces)], False
    columns = {k: v for k, v in {"text": text, "audio": audio, "faces": faces}.items() if v is not None}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise InputError(f"batch inputs have different lengths: {lengths}")
    n = next(iter(lengths.values()))
    return [Sample(**{k: v[i] for k, v in columns.items()}, sample_rate=sample_rate) for i in range(n)], True
