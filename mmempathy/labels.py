"""The default label space shared by MELD, FER2013 and GoEmotions-Ekman."""

from __future__ import annotations

DEFAULT_LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
