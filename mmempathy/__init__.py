"""mmempathy: multimodal emotion recognition from text, speech and faces.

The public names load on first use (PEP 562), so that ``import mmempathy`` and its light modules
(``mmempathy.errors``, ``mmempathy.hub``, the command line's parser) do not load PyTorch, PyAV or
FFmpeg; ``from mmempathy import EmotionFuser`` loads what the model needs.

Example:
    >>> from mmempathy import EmotionFuser
    >>> fuser = EmotionFuser.from_pretrained("tiny")
    >>> fuser.predict(text="What a lovely surprise!").label in fuser.labels
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmempathy.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "FaceEncoderConfig": "mmempathy.config",
    "FusionConfig": "mmempathy.config",
    "ModelConfig": "mmempathy.config",
    "SpeechEncoderConfig": "mmempathy.config",
    "TextEncoderConfig": "mmempathy.config",
    "CheckpointError": "mmempathy.errors",
    "InputError": "mmempathy.errors",
    "MMEmpathyError": "mmempathy.errors",
    "list_models": "mmempathy.hub",
    "DEFAULT_LABELS": "mmempathy.labels",
    "Modality": "mmempathy.modality",
    "EmotionFuser": "mmempathy.model",
    "EmotionResult": "mmempathy.output",
    "FuserOutput": "mmempathy.output",
    "Sample": "mmempathy.sample",
    "Timeline": "mmempathy.media.timeline",
    "VideoConfig": "mmempathy.media.config",
}

__all__ = [
    "CheckpointError",
    "DEFAULT_LABELS",
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

if TYPE_CHECKING:
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
    from mmempathy.media.config import VideoConfig
    from mmempathy.media.timeline import Timeline
    from mmempathy.modality import Modality
    from mmempathy.model import EmotionFuser
    from mmempathy.output import EmotionResult, FuserOutput
    from mmempathy.sample import Sample


# without torch, EmotionFuser is a stand-in that loads ONNX exports (EmotionFuser.from_onnx) and says what to install
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, without_torch={"EmotionFuser": "mmempathy.without_torch"})
