"""mmempathy: multimodal emotion recognition from text, speech and faces.

Example:
    >>> from mmempathy import EmotionFuser
    >>> fuser = EmotionFuser.from_pretrained("tiny")
    >>> fuser.predict(text="What a lovely surprise!").label in fuser.labels
    True
"""

from mmempathy.config import (
    FaceEncoderConfig,
    FusionConfig,
    ModelConfig,
    SpeechEncoderConfig,
    TextEncoderConfig,
)
from mmempathy.errors import CheckpointError, InputError, MMEmpathyError
from mmempathy.hub import list_models
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.modality import Modality
from mmempathy.model import EmotionFuser
from mmempathy.output import EmotionResult, FuserOutput
from mmempathy.sample import Sample

__version__ = "0.1.0"


def __getattr__(name: str):
    """Media types load on first use, so that ``import mmempathy`` does not load PyAV and FFmpeg."""
    if name == "Timeline":
        from mmempathy.media.timeline import Timeline

        return Timeline
    if name == "VideoConfig":
        from mmempathy.media.pipeline import VideoConfig

        return VideoConfig
    raise AttributeError(f"module 'mmempathy' has no attribute {name!r}")


__all__ = [
    "DEFAULT_LABELS",
    "CheckpointError",
    "EmotionFuser",
    "EmotionResult",
    "FaceEncoderConfig",
    "FuserOutput",
    "FusionConfig",
    "InputError",
    "MMEmpathyError",
    "Modality",
    "ModelConfig",
    "Sample",
    "SpeechEncoderConfig",
    "TextEncoderConfig",
    "Timeline",
    "VideoConfig",
    "list_models",
]
