"""LoRA adapters on the transformer encoders (text and speech through transformers, face through timm).

Adapters are injected with ``peft`` (the ``train`` extra) into the attention projections of each
chosen encoder; the encoder's own weights are then frozen and only the adapters train. The settings
are kept in ``ModelConfig.lora``, so a saved model (``config.json`` + ``model.safetensors`` holding
base weights and adapters) is rebuilt with the same adapters by ``from_pretrained``. To ship a model
that needs no ``peft``, :func:`merge_lora` folds the adapters into the weights.

Example:
    >>> fuser = EmotionFuser.from_pretrained("tiny")  # doctest: +SKIP
    >>> apply_lora(fuser, {"rank": 8})  # doctest: +SKIP
    >>> merged = merge_lora(fuser)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from mmempathy.config import coerce
from mmempathy.modality import Modality

# attention projections per encoder kind: BERT-family, wav2vec2-family, Whisper, timm ViT
TARGETS = {
    "bert": ["query", "value"],
    "wav2vec2": ["q_proj", "v_proj"],
    "whisper": ["q_proj", "v_proj"],
    "timm": ["qkv"],
}


@dataclass
class LoraSettings:
    """Which encoders get adapters and how large they are."""

    rank: int = 8  # adapter rank r
    alpha: float = 16.0  # scaling numerator (the update is scaled by alpha / rank)
    dropout: float = 0.0  # dropout on the adapter input
    modalities: list[str] = field(default_factory=lambda: ["text", "audio", "face"])  # encoders to adapt
    targets: list[str] = field(default_factory=list)  # module names to adapt ([]: the attention projections)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


def target_modules(encoder: nn.Module, settings: LoraSettings) -> list[str]:
    """Names of ``encoder``'s linear layers to adapt (leaf names matched against the targets)."""
    wanted = set(settings.targets or [t for group in TARGETS.values() for t in group])
    return sorted(
        name
        for name, module in encoder.named_modules()
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in wanted
    )


def apply_lora(fuser: nn.Module, settings: LoraSettings | dict[str, Any]) -> list[str]:
    """Inject adapters into ``fuser``'s encoders in place and record the settings in its config.

    Encoders without matching layers (the lite and feature encoders) are left alone. Returns the
    modalities that got adapters.
    """
    from peft import LoraConfig, inject_adapter_in_model

    settings = coerce(LoraSettings, settings)
    adapted = []
    for m in fuser.modalities:
        encoder = fuser.encoders[m.value]
        if m.value not in settings.modalities or not (names := target_modules(encoder, settings)):
            continue
        config = LoraConfig(
            r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=names
        )
        inject_adapter_in_model(config, encoder)
        adapted.append(m.value)
    if not adapted:
        raise ValueError(f"LoRA found no layers to adapt in the encoders {settings.modalities}")
    fuser.config.lora = settings.to_dict()
    return adapted


def lora_parameters(fuser: nn.Module) -> list[str]:
    """Names of the adapter parameters."""
    return [n for n, _ in fuser.named_parameters() if "lora_" in n]


def merge_lora(fuser: nn.Module) -> nn.Module:
    """A copy of ``fuser`` with the adapters folded into the encoder weights and no ``lora`` in its config.

    The copy saves and loads without ``peft``; its outputs equal the adapted model's (to float error).
    """
    from peft.tuners.lora import LoraLayer

    merged = type(fuser)(dataclasses.replace(fuser.config, lora=None), tokenizer=fuser.processor.tokenizer)
    state = {}
    for name, module in fuser.named_modules():
        if isinstance(module, LoraLayer):
            base = module.get_base_layer()
            weight = base.weight.detach().clone()
            for adapter in module.active_adapters:
                weight += module.get_delta_weight(adapter).to(weight.dtype)
            state[f"{name}.weight"] = weight
            if base.bias is not None:
                state[f"{name}.bias"] = base.bias.detach().clone()
    for key, value in fuser.state_dict().items():
        if "lora_" in key or ".base_layer." in key:
            continue
        state[key] = value
    merged.load_state_dict(state)
    merged.config.trained = fuser.config.trained
    return merged.to(fuser.device).train(fuser.training)


def encoder_modalities(fuser: nn.Module) -> list[Modality]:
    """The modalities whose encoders hold adapters."""
    return [m for m in fuser.modalities if any("lora_" in n for n, _ in fuser.encoders[m.value].named_parameters())]
