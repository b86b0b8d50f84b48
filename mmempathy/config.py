"""Configuration dataclasses: one per component, composed into :class:`ModelConfig`.

Every builder accepts either the dataclass or a plain dict (as found in ``config.json`` or a preset).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from mmempathy.errors import ConfigError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.modality import Modality

T = TypeVar("T")


@dataclass
class EncoderConfig:
    """Fields every encoder shares."""

    kind: str = "hf"  # which implementation: "hf", "timm", "lite", "whisper" or "features" (per modality, see below)
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
    """wav2vec2 / HuBERT / WavLM through transformers (``"hf"``), a small log-mel network (``"lite"``),
    or Whisper's encoder (``"whisper"``, :mod:`mmempathy.encoders.whisper`)."""

    name: str = "facebook/wav2vec2-base"
    sample_rate: int = 16000  # the rate every waveform is resampled to
    max_seconds: float = 20.0  # longer waveforms are cut (with a warning)
    n_mels: int = 64  # kind "lite": mel bands
    depth: int = 2  # kind "lite": transformer layers after the convolutional front end
    layer: int = -1  # kind "whisper": hidden state returned (0 = front end, -1 = top); higher layers are not run
    layer_mix: bool = False  # kind "whisper": a learned softmax-weighted sum of hidden states 0..layer instead
    # kind "whisper": pad each clip with silence to this many seconds (30: as Whisper was trained); 0: no padding
    pad_seconds: float = field(default=0.0, metadata={"range": (0, 30, False)})


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

    mode: str = "late"  # "late" (gated calibrated heads + attention correction), "attention" (gated features), "concat"
    dim: int = 256  # width of the shared token space
    depth: int = 2  # cross-attention blocks
    heads: int = 4  # attention heads
    dim_head: int = 64  # width of each head
    ff_mult: int = 4  # feed-forward expansion
    dropout: float = 0.1  # dropout inside blocks and heads
    modality_dropout: float = 0.0  # training only: chance of hiding each present modality of an item
    pool: dict[str, int] = field(default_factory=dict)  # average every N tokens of a modality first, e.g. {"audio": 4}


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
    calibration: dict[str, Any] | None = None  # fitted on dev data (mmempathy.calibration); None: identity

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        if self.task not in ("classification", "regression"):
            raise ConfigError(f"task must be 'classification' or 'regression', not {self.task!r}")
        if len(self.labels) < (2 if self.task == "classification" else 1):
            raise ConfigError("a classification model needs at least two labels")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"labels must be distinct, got {list(self.labels)}")
        if not self.modalities:
            raise ConfigError("a model needs at least one encoder (text, audio or face)")

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
        """Build from a plain dict (unknown keys are an error, so typos do not pass silently).

        Raises:
            ConfigError: A key is unknown, a value has the wrong type or is out of range (the
                message names the field, e.g. ``FusionConfig.heads``).
        """
        if isinstance(data, ModelConfig):
            return data
        # Nested sections are dataclasses in the annotations, so coerce builds them too.
        return coerce(cls, data)


# Ranges by field name, for every config dataclass that has such a field: (lowest, highest,
# whether the highest is excluded). A field's own ``metadata={"range": ...}`` takes precedence.
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "dim": (1, None, False),
    "heads": (1, None, False),
    "dim_head": (1, None, False),
    "depth": (0, None, False),
    "ff_mult": (1, None, False),
    "dropout": (0, 1, True),
    "modality_dropout": (0, 1, True),
    "aux_loss_weight": (0, None, False),
    "max_length": (1, None, False),
    "sample_rate": (1000, 384_000, False),
    "max_seconds": (1e-3, None, False),
    "n_mels": (1, None, False),
    "image_size": (8, None, False),
    "max_frames": (1, None, False),
    "unfreeze_top": (0, None, False),
    "input_dim": (0, None, False),
}
FUSION_MODES = ("late", "attention", "concat")  # FusionConfig.mode, best first
CHOICES: dict[str, tuple[Any, ...]] = {"channels": (1, 3), "mode": FUSION_MODES}


def coerce(cls: type[T], value: T | dict[str, Any]) -> T:
    """Turn a dict into dataclass ``cls`` (passing instances through), checking it against the fields.

    Unknown keys are rejected; every value is checked against its field's annotation (nested
    config dataclasses are built from their dicts, lists become tuples where a tuple is declared)
    and against :data:`RANGES` / :data:`CHOICES`.

    Raises:
        ConfigError: The message names the class and field, and what was wrong.
    """
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"a {cls.__name__} must be a mapping of field names to values, not {_kind(value)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(value) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, raw in value.items():
        where = f"{cls.__name__}.{name}"
        values[name] = _check(_convert(hints[name], raw, where), fields[name], where)
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:  # a class's own __post_init__ checks
        raise ConfigError(f"invalid {cls.__name__}: {err}") from err


def check_value(hint: Any, value: Any, where: str) -> Any:
    """``value`` checked against the type annotation ``hint`` as :func:`coerce` checks each field
    (lists become tuples where a tuple is declared); a :class:`ConfigError` names ``where`` otherwise."""
    return _convert(hint, value, where)


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _convert(hint: Any, value: Any, where: str) -> Any:
    """``value`` checked against the annotation ``hint``, converted where JSON cannot say it (tuples)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # "X | None": X's own message says more
            return _convert(options[0], value, where)
        for option in options:
            try:
                return _convert(option, value, where)
            except ConfigError:
                continue
        names = " or ".join(_name(a) for a in args)
        raise ConfigError(f"{where} must be {names}, not {_kind(value)}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, (dict, hint)):
            raise ConfigError(f"{where} must be a mapping of {hint.__name__} fields, not {_kind(value)}")
        return coerce(hint, value)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, not {_kind(value)}")
        item = args[0] if args else Any
        items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where} must be a mapping with string keys, not {_kind(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, not {_kind(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, not {_kind(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, not {_kind(value)}")
        return value
    return value  # an annotation this checker does not know: left to the class


def _name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if dataclasses.is_dataclass(hint):
        return f"a {hint.__name__} mapping"
    origin = typing.get_origin(hint)
    return "a list" if origin in (list, tuple) else getattr(hint, "__name__", str(hint))


def _check(value: Any, spec: dataclasses.Field, where: str) -> Any:
    """Apply the field's range and choices (``None`` means "not set" and is not checked)."""
    name = spec.name
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high, open_high = spec.metadata.get("range", RANGES.get(name, (None, None, False)))
        if (low is not None and value < low) or (high is not None and (value >= high if open_high else value > high)):
            top = "inf" if high is None else high
            bounds = f"[{'-inf' if low is None else low}, {top}{')' if open_high else ']'}"
            raise ConfigError(f"{where} must be in {bounds}, not {value!r}")
    choices = spec.metadata.get("choices", CHOICES.get(name))
    if choices is not None and isinstance(value, (str, int)) and value not in choices:
        raise ConfigError(f"{where} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value
