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
