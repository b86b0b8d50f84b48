"""The modalities mmempathy understands, as data rather than attribute names."""

from __future__ import annotations

from enum import Enum


class Modality(str, Enum):
    """One input channel of the model; iteration order is the canonical order everywhere."""

    TEXT = "text"
    AUDIO = "audio"
    FACE = "face"

    @classmethod
    def parse(cls, value: str | Modality) -> Modality:
        """Turn ``"text"``/``"audio"``/``"face"`` (or a member) into a member, with a clear error."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown modality {value!r}; expected one of: {names}") from None


# The channels a person baseline reads relative to the person (mmempathy.baseline): a face and a voice
# belong to someone; the words said do not need their speaker's resting state.
PERSONAL = (Modality.AUDIO.value, Modality.FACE.value)
