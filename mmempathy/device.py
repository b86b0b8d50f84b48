"""The one precision choice of every forward pass: training, evaluation, caching and inference.

``"auto"`` means bf16 autocast on CUDA and full precision elsewhere (CPUs gain little from bf16 and
lose accuracy); ``"bf16"`` forces it on any device, ``"fp32"`` turns it off.

Example:
    >>> import torch
    >>> autocast_dtype(torch.device("cpu")) is None, autocast_dtype("cuda")
    (True, torch.bfloat16)
    >>> with autocast("cpu"):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.float32
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

PRECISIONS = ("auto", "bf16", "fp32")


def autocast_dtype(device: torch.device | str, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``device`` under ``precision`` (one of :data:`PRECISIONS`); ``None``: none."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "bf16" or (precision == "auto" and torch.device(device).type == "cuda"):
        return torch.bfloat16
    return None


def autocast(device: torch.device | str, precision: str = "auto") -> AbstractContextManager:
    """The context forward passes on ``device`` run under (a no-op context in full precision)."""
    dtype = autocast_dtype(device, precision)
    return nullcontext() if dtype is None else torch.autocast(torch.device(device).type, dtype=dtype)
