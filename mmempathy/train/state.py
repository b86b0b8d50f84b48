"""Trainer state on disk without pickle: tensors in safetensors, everything else in JSON.

``trainer_state.safetensors`` holds the optimizer's per-parameter tensors (``optimizer.<i>.<name>``)
and this process's random generators; ``trainer_state.json`` holds the optimizer's parameter groups,
the scheduler, the numpy/Python generator positions and the trainer's progress. Under DDP every
rank writes its own ``rng_rank<r>.safetensors`` so each resumes with its own dropout stream.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from mmempathy.io import atomic_write

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """This process's generators: tensors (torch, CUDA, numpy key) and JSON-ready rest."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [version, list(internal), gauss]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def save_state(
    directory: Path,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    progress: dict[str, Any],
    *,
    rank: int = 0,
) -> None:
    """Write the optimizer, scheduler, generators and ``progress`` (rank 0 writes all but its peers' RNG)."""
    # Every file is written whole (temporary file + rename): Ctrl-C mid-save keeps the last good state.
    rng_tensors, rng_meta = rng_state()
    rng = {k: v.contiguous() for k, v in rng_tensors.items()}
    atomic_write(directory / f"rng_rank{rank}.safetensors", lambda tmp: save_file(rng, str(tmp)))
    atomic_write(directory / f"rng_rank{rank}.json", lambda tmp: tmp.write_text(json.dumps(rng_meta)))
    if rank != 0:
        return
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, entries in opt["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    atomic_write(directory / STATE_TENSORS, lambda tmp: save_file(tensors, str(tmp)))
    meta = {
        "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
        "scheduler": scheduler.state_dict(),
        "progress": progress,
    }
    atomic_write(directory / STATE_JSON, lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))


def has_state(directory: Path) -> bool:
    """Whether ``directory`` holds a trainer state to resume from."""
    return (directory / STATE_JSON).is_file() and (directory / STATE_TENSORS).is_file()


def load_state(directory: Path, optimizer: torch.optim.Optimizer, scheduler: Any, *, rank: int = 0) -> dict[str, Any]:
    """Restore optimizer, scheduler and generators; return the saved progress."""
    meta = json.loads((directory / STATE_JSON).read_text())
    tensors = load_file(str(directory / STATE_TENSORS))
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    for key, value in meta["optimizer"]["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    scheduler.load_state_dict(meta["scheduler"])
    rng_file = directory / f"rng_rank{rank}.safetensors"
    if rng_file.is_file():
        set_rng_state(load_file(str(rng_file)), json.loads((directory / f"rng_rank{rank}.json").read_text()))
    return meta["progress"]
