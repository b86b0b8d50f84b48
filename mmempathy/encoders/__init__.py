"""Encoders, one file per modality, all honouring one contract: tensors in, ``(tokens, mask)`` out."""

from __future__ import annotations

from torch import nn

from mmempathy.config import EncoderConfig
from mmempathy.encoders.face import LiteFaceEncoder, TimmFaceEncoder
from mmempathy.encoders.features import FeatureEncoder
from mmempathy.encoders.speech import HFSpeechEncoder, LiteSpeechEncoder
from mmempathy.encoders.text import TextEncoder
from mmempathy.encoders.whisper import WhisperSpeechEncoder
from mmempathy.modality import Modality

ENCODERS: dict[Modality, dict[str, type[nn.Module]]] = {
    Modality.TEXT: {"hf": TextEncoder, "features": FeatureEncoder},
    Modality.AUDIO: {
        "hf": HFSpeechEncoder,
        "lite": LiteSpeechEncoder,
        "whisper": WhisperSpeechEncoder,
        "features": FeatureEncoder,
    },
    Modality.FACE: {"timm": TimmFaceEncoder, "lite": LiteFaceEncoder, "features": FeatureEncoder},
}


def build_encoder(modality: Modality, config: EncoderConfig, *, pretrained: bool) -> nn.Module:
    """Build the encoder of ``modality`` described by ``config``.

    Args:
        modality: Which input the encoder reads.
        config: Its configuration; ``config.kind`` picks the implementation.
        pretrained: Load pretrained weights (``from_pretrained``) rather than random ones (``from_config``).
    """
    kinds = ENCODERS[modality]
    if config.kind not in kinds:
        raise ValueError(f"{modality.value} encoder kind must be one of {sorted(kinds)}, not {config.kind!r}")
    return kinds[config.kind](config, pretrained=pretrained)


__all__ = ["build_encoder", "ENCODERS"]
