"""The benchmark's model: the named model's encoders for a recipe's modalities, a fresh fusion and heads."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from mmempathy.bench.config import BenchConfig
from mmempathy.bench.recipes import Recipe
from mmempathy.bench.splits import with_items
from mmempathy.config import ModelConfig, TextEncoderConfig
from mmempathy.data import EmotionDataset
from mmempathy.errors import InputError
from mmempathy.modality import Modality
from mmempathy.model import EmotionFuser
from mmempathy.sample import Sample
from mmempathy.train import FeatureCache

ENCODER_CLASSES = {m.value: type(ModelConfig().encoder(m)) for m in Modality}


def build_model_config(
    recipe: Recipe, cfg: BenchConfig, base: dict[str, Any], labels: tuple[str, ...], task: str, text_dim: int
) -> ModelConfig:
    """The benchmark model: the base model's encoders for the recipe's modalities, features where given."""
    base = ModelConfig.from_dict(base)
    encoders: dict[str, Any] = {m.value: None for m in Modality}
    for name in recipe.modalities:
        if name in recipe.features or (name == "text" and cfg.text_layers == 0):
            dim = recipe.features.get(name, text_dim)
            encoders[name] = ENCODER_CLASSES[name](kind="features", name="", input_dim=dim, dim=base.fusion.dim)
            continue
        enc = base.encoder(Modality(name))
        if enc is None:
            raise InputError(f"model {cfg.model!r} has no {name} encoder, which recipe {recipe.name!r} needs")
        if name == "text":
            enc = dataclasses.replace(enc, freeze=True, unfreeze_top=cfg.text_layers)
        encoders[name] = enc
    fusion = dataclasses.replace(base.fusion, mode=cfg.fusion)
    return ModelConfig(labels=labels, task=task, fusion=fusion, aux_loss_weight=base.aux_loss_weight, **encoders)


def build_model(config: ModelConfig, checkpoint: Path | None, pretrained: bool, seed: int) -> EmotionFuser:
    """A fresh model seeded by ``seed``; encoders from the checkpoint directory when there is one."""
    torch.manual_seed(seed)
    wanted = tuple(f"encoders.{m.value}." for m in config.modalities if config.encoder(m).kind != "features")
    fuser, _ = EmotionFuser.initialised_from(config, checkpoint, pretrained_encoders=pretrained, parts=wanted)
    return fuser


def text_encoder_config(base: dict[str, Any], model: str) -> TextEncoderConfig:
    """The base model's text encoder, frozen."""
    text = ModelConfig.from_dict(base).text
    if text is None or text.kind != "hf":
        raise InputError(f"model {model!r} has no text encoder to read the recipe's text")
    return dataclasses.replace(text, freeze=True, unfreeze_top=0)


@torch.no_grad()
def attach_text_features(
    splits: dict[str, EmotionDataset], text: TextEncoderConfig, checkpoint: Path | None, pretrained: bool, root: Path
) -> int:
    """Run the frozen text encoder once over every utterance; its token states become ``features["text"]``.

    Returns the width of the states. The outputs are cached under ``root`` (keyed by the encoder's
    weights and the text), so later seeds and runs read them from disk.
    """
    config = ModelConfig(labels=("a", "b"), text=text, audio=None, face=None)
    encoder = build_model(config, checkpoint, pretrained, seed=0)
    encoder.to("cuda" if torch.cuda.is_available() else "cpu")
    cache = FeatureCache(encoder, root, batch_size=64)
    for name, ds in splits.items():
        stubs = [Sample(text=s.text, label=0) for s in ds.items if s.text and s.text.strip()]
        cached = cache.build(stubs, desc=f"text features ({name})")
        states = iter(cached[i][0][Modality.TEXT] for i in range(len(cached)))
        items = []
        for s in ds.items:
            feats = dict(s.features or {})
            if s.text and s.text.strip():
                tokens, mask = next(states)
                feats["text"] = tokens[mask].float().numpy()
            items.append(dataclasses.replace(s, features=feats))
        splits[name] = with_items(ds, items)
    return encoder.encoders[Modality.TEXT.value].output_dim
