"""Where a training run executes: the process group ``torchrun`` describes, this process's device,
seeds, and moving batches there."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
import torch.distributed as dist


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def init_distributed() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``; joins the process group that ``torchrun`` describes if needed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return 0, 1, 0


def resolve_device(name: str, local_rank: int) -> torch.device:
    """``auto``: this process's GPU when there is one, else the CPU."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
        torch.cuda.set_device(device)
    return device


def to_device(inputs: dict, device: torch.device) -> dict:
    """Move a batch (raw tensors per modality, or cached ``(tokens, mask)`` pairs) to ``device``."""
    moved = {}
    for m, value in inputs.items():
        if isinstance(value, dict):
            moved[m] = {k: v.to(device, non_blocking=True) for k, v in value.items()}
        else:
            moved[m] = tuple(v.to(device, non_blocking=True) for v in value)
    return moved
