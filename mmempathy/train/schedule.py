"""What a training run visits when: the learning-rate schedule, fixed batches of indices (a resumed
epoch skips those already trained) and every item's label, read without loading media."""

from __future__ import annotations

import math
from typing import Any

import torch


def lr_factor(step: int, *, total: int, warmup: int, schedule: str, floor: float) -> float:
    """Linear warm-up to 1, then constant or cosine decay to ``floor``."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class ListBatchSampler(torch.utils.data.Sampler):
    """Fixed batches of indices (what lets a resumed epoch skip the batches already trained)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def dataset_targets(data: Any) -> list[Any]:
    """Every item's label, without loading media when the dataset can say (``targets()`` / ``labels``)."""
    if hasattr(data, "targets"):
        return list(data.targets())
    if hasattr(data, "items") and isinstance(getattr(data, "items", None), list):
        return [s.label if hasattr(s, "label") else s[1] for s in data.items]
    return [data[i].label for i in range(len(data))]
