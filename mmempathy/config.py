"""Configuration dataclasses: one per component, composed into :class:`ModelConfig`.

Every builder accepts either the dataclass or a plain dict (as found in ``config.json`` or a preset).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mmempathy.labels import DEFAULT_LABELS
from mmempathy.modality import Modality

T = TypeVar("T")


@dataclass
class EncoderConfig:
    """Fields every encoder shares."""

    kind: str = "hf"  # which implementation: "hf", "timm", "lite" or "features" (per modality, see below)
    name: str = ""  # hub name or local directory of pretrained weights ("" for project-defined encoders)
    arch: dict[str, Any] = field(default_factory=dict)  # architecture overrides; filled in full on save
    freeze: bool = False  # freeze the encoder's weights
    external: bool = False  # with freeze: frozen weights load from `name` at build time and stay out of checkpoints
    unfreeze_top: int = 0  # with freeze: leave the top N layers trainable
    gradient_checkpointing: bool = False  # trade compute for memory while training
    input_dim: int = 0  # kind "features": size of each pre-extracted feature vector
    dim: int = 128  # kinds "lite" and "features": width of the project-defined encoder


@dataclass
class TextEncoderConfig(EncoderConfig):
    """A BERT-family encoder through transformers (``kind="hf"``), or features."""

    name: str = "bert-base-uncased"
    tokenizer: str = ""  # where the tokenizer comes from; "" means the same place as the weights
    max_length: int = 128  # tokens kept per utterance


@dataclass
class SpeechEncoderConfig(EncoderConfig):
    """wav2vec2 / HuBERT / WavLM through transformers (``"hf"``), a small log-mel network (``"lite"``)."""

    name: str = "facebook/wav2vec2-base"
    sample_rate: int = 16000  # the rate every waveform is resampled to
    max_seconds: float = 20.0  # longer waveforms are cut (with a warning)
    n_mels: int = 64  # kind "lite": mel bands
    depth: int = 2  # kind "lite": transformer layers after the convolutional front end


@dataclass
class FaceEncoderConfig(EncoderConfig):
    """A ViT through timm (``"timm"``), a small CNN (``"lite"``) on face crops, or features."""

    name: str = "vit_base_patch16_224.augreg2_in21k_ft_in1k"
    image_size: int = 224  # side of the square crop the encoder sees
    channels: int = 3  # 3 for RGB, 1 for grayscale
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)  # per-channel normalisation
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    max_frames: int = 8  # frames per item; more are subsampled evenly


@dataclass
class FusionConfig:
    """Cross-modal attention fusion."""

    mode: str = "attention"  # "attention" (cross-modal blocks + gate) or "concat" (baseline: concatenate + MLP)
    dim: int = 256  # width of the shared token space
    depth: int = 2  # cross-attention blocks
    heads: int = 4  # attention heads
    dim_head: int = 64  # width of each head
    ff_mult: int = 4  # feed-forward expansion
    dropout: float = 0.1  # dropout inside blocks and heads
    modality_dropout: float = 0.0  # training only: chance of hiding each present modality of an item


@dataclass
class ModelConfig:
    """The whole model: label set, the encoders it has (``None`` = modality unused) and the fusion."""

    labels: tuple[str, ...] = DEFAULT_LABELS  # class names (classification) or target names (regression)
    task: str = "classification"  # "classification" or "regression"
    text: TextEncoderConfig | None = field(default_factory=TextEncoderConfig)
    audio: SpeechEncoderConfig | None = field(default_factory=SpeechEncoderConfig)
    face: FaceEncoderConfig | None = field(default_factory=FaceEncoderConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    aux_loss_weight: float = 0.5  # weight of the per-modality heads' losses beside the fused loss
    lora: dict[str, Any] | None = None  # LoRA adapters on the encoders (mmempathy.train.lora); None: none
    trained: bool = False  # set once the weights have been trained; predict warns otherwise

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        if self.task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', not {self.task!r}")
        if len(self.labels) < (2 if self.task == "classification" else 1):
            raise ValueError("a classification model needs at least two labels")
        if not self.modalities:
            raise ValueError("a model needs at least one encoder (text, audio or face)")

    def encoder(self, modality: Modality) -> EncoderConfig | None:
        """The encoder config of one modality, or ``None`` if the model lacks it."""
        return getattr(self, modality.value)

    @property
    def modalities(self) -> list[Modality]:
        """The modalities this model has, in canonical order."""
        return [m for m in Modality if self.encoder(m) is not None]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | ModelConfig) -> ModelConfig:
        """Build from a plain dict (unknown keys are an error, so typos do not pass silently)."""
        if isinstance(data, ModelConfig):
            return data
        data = dict(data)
        sub = {"text": TextEncoderConfig, "audio": SpeechEncoderConfig, "face": FaceEncoderConfig}
        for key, kind in sub.items():
            if key in data and data[key] is not None:
                data[key] = coerce(kind, data[key])
        if "fusion" in data:
            data["fusion"] = coerce(FusionConfig, data["fusion"])
        return coerce(cls, data)


def coerce(cls: type[T], value: T | dict[str, Any]) -> T:
    """Turn a dict into dataclass ``cls`` (passing instances through), rejecting unknown keys."""
    if isinstance(value, cls):
        return value
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(
        **{k: tuple(v) if isinstance(v, list) and k in ("mean", "std", "labels") else v for k, v in value.items()}
    )
