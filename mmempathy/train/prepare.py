"""Preparing a training run: the model's options, the optimised parameter groups, class weights, the
datasets (raw samples or the feature cache) and each epoch's micro-batches."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from mmempathy.device import autocast
from mmempathy.train.cache import CachedDataset, FeatureCache, collate_cached
from mmempathy.train.data import LabelledCollate
from mmempathy.train.schedule import dataset_targets


def set_gradient_checkpointing(encoder: nn.Module, on: bool) -> bool:
    """Switch checkpointing on an hf or timm encoder; returns whether the encoder supports it."""
    model = getattr(encoder, "model", None)
    if model is not None and hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable() if on else model.gradient_checkpointing_disable()
        return True
    backbone = getattr(encoder, "backbone", None)
    if backbone is not None and hasattr(backbone, "set_grad_checkpointing"):
        backbone.set_grad_checkpointing(on)
        return True
    return False


class RunPreparation:
    """What :class:`~mmempathy.train.trainer.Trainer` does before its loop runs (it reads the trainer's
    ``fuser``, ``config``, ``device``, ``rank`` and ``world``)."""

    def autocast(self) -> AbstractContextManager:
        """The precision context of forward passes."""
        return autocast(self.device, self.config.precision)

    def prepare_model(self) -> None:
        """Apply the run's model options (LoRA, modality dropout, checkpointing) and move to the device."""
        fuser, cfg = self.fuser, self.config
        if cfg.lora and not fuser.config.lora:
            from mmempathy.train.lora import apply_lora

            apply_lora(fuser, cfg.lora)
        if cfg.modality_dropout is not None:
            fuser.config.fusion.modality_dropout = cfg.modality_dropout
        if cfg.gradient_checkpointing is not None:
            for m in fuser.modalities:
                set_gradient_checkpointing(fuser.encoders[m.value], cfg.gradient_checkpointing)
        fuser.to(self.device)
        self.frozen = [
            m for m in fuser.modalities if not any(p.requires_grad for p in fuser.encoders[m.value].parameters())
        ]
        self.use_cache = cfg.feature_cache == "on" or (
            cfg.feature_cache == "auto" and len(self.frozen) == len(fuser.modalities)
        )
        if self.use_cache and len(self.frozen) < len(fuser.modalities):
            trainable = sorted(set(m.value for m in fuser.modalities) - {m.value for m in self.frozen})
            raise ValueError(f"feature_cache='on' needs every encoder frozen; trainable: {trainable}")

    def set_train_mode(self) -> None:
        """Train mode, except fully frozen encoders (no dropout, no batch-norm updates in a fixed feature map)."""
        self.fuser.train()
        for m in self.frozen:
            self.fuser.encoders[m.value].eval()

    def param_groups(self) -> list[dict[str, Any]]:
        """Trainable parameters in four groups: encoders/fusion x decayed/not (biases, norms, learned tokens)."""
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        no_decay = self.fuser.no_weight_decay()
        for name, p in self.fuser.named_parameters():
            if p.requires_grad:
                groups.setdefault((name.startswith("encoders."), p.ndim > 1 and name not in no_decay), []).append(p)
        cfg = self.config
        return [
            {
                "params": params,
                "lr": cfg.lr_encoder if encoder else cfg.lr_fusion,
                "weight_decay": cfg.weight_decay if decay else 0.0,
                "name": f"{'encoder' if encoder else 'fusion'}{'' if decay else '_no_decay'}",
            }
            for (encoder, decay), params in sorted(groups.items(), reverse=True)
        ]

    def class_weight(self) -> torch.Tensor | None:
        """Per-class loss weights from the config (``"balanced"``: inverse training frequency)."""
        cw = self.config.class_weight
        if cw is None or self.fuser.config.task == "regression":
            return None
        n = len(self.fuser.labels)
        if cw == "balanced":
            counts = np.bincount(np.asarray(dataset_targets(self.train_data), dtype=np.int64), minlength=n)
            weight = counts.sum() / (n * np.maximum(counts, 1))
        else:
            weight = np.asarray(cw, dtype=np.float32)
            if weight.shape != (n,):
                raise ValueError(f"class_weight needs {n} values, got {len(weight)}")
        return torch.tensor(weight, dtype=torch.float32, device=self.device)

    def datasets(self) -> tuple[Any, Any, Callable]:
        """Train/val datasets and collate: raw samples, or their cached encoder outputs."""
        if not self.use_cache:
            collate = LabelledCollate(
                self.fuser.processor, self.fuser.config.task, skip_unlabelled=self.config.skip_unlabelled
            )
            return self.train_data, self.val_data, collate
        root = Path(self.config.cache_dir or self.output_dir / "feature_cache")
        precision = "bf16" if self.autocast_dtype is not None else "fp32"
        cache = FeatureCache(
            self.fuser, root, batch_size=self.config.batch_size, autocast=self.autocast(), precision=precision
        )
        show = self.config.progress and self.rank == 0
        kw = {"skip_unlabelled": self.config.skip_unlabelled, "progress": show}
        if self.world > 1 and self.rank != 0:  # rank 0 writes the cache, the others then only read it
            dist.barrier()

        def build(data: Any, desc: str) -> Any:  # data cached by the caller (e.g. PersonCentred) is used as is
            return data if data is None or isinstance(data, CachedDataset) else cache.build(data, desc=desc, **kw)

        train, val = build(self.train_data, "cache train"), build(self.val_data, "cache val")
        if self.world > 1 and self.rank == 0:
            dist.barrier()
        self.cache = cache
        task = self.fuser.config.task
        return train, val, lambda items: collate_cached(items, task)

    def epoch_batches(self, data: Any, epoch: int) -> list[list[int]]:
        """This process's micro-batches of one epoch: a seeded shuffle, sharded by rank (DistributedSampler)."""
        sampler = DistributedSampler(data, num_replicas=self.world, rank=self.rank, shuffle=True, seed=self.config.seed)
        sampler.set_epoch(epoch)
        if hasattr(data, "set_epoch"):  # e.g. Augmented: its random draws follow the epoch, so resuming repeats them
            data.set_epoch(epoch)
        order = list(sampler)
        bs = self.config.batch_size
        return [order[i : i + bs] for i in range(0, len(order), bs)]
