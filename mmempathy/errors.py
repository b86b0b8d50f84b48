"""Exceptions raised for bad input, so that callers can catch mmempathy's own errors."""

from __future__ import annotations


class MMEmpathyError(Exception):
    """Base class of every error mmempathy raises on purpose."""


class InputError(MMEmpathyError, ValueError):
    """An input (text, audio, faces, media file, subtitles) is unusable; the message says why."""


class CheckpointError(MMEmpathyError, OSError):
    """A checkpoint directory or preset is missing files or does not match the model."""


class ConfigError(MMEmpathyError, ValueError):
    """A configuration (``config.json``, a preset, a training config) has an unknown key, a value of the
    wrong type or one out of range; the message names the field."""
