"""An adapter: its settings, the calibration head or LoRA on the fusion and heads, switching it on
and off a model, and its files (``adapter.json`` + ``adapter.safetensors``)."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from mmempathy.config import coerce
from mmempathy.errors import CheckpointError, InputError, MMEmpathyError
from mmempathy.feedback.files import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    adapter_path,
    check_adapter_directory,
    read_adapter_meta,
    remove_adapter_files,
)
from mmempathy.output import FuserOutput


@dataclass
class AdaptSettings:
    """How an adapter is trained."""

    kind: str = "calibration"  # "calibration" (per-user head on the fused logits) or "lora" (fusion and heads)
    rank: int = 4  # LoRA rank
    alpha: float = 8.0  # LoRA scaling numerator
    steps: int = 150  # optimiser steps
    lr: float = 0.0  # learning rate (0: 0.05 for calibration, 0.002 for lora)
    batch_size: int = 16  # corrections per step (all of them when fewer)
    replay_ratio: float = 2.0  # replay items per correction in each step
    replay_weight: float = 1.0  # weight of the replay items' cross-entropy (their true labels)
    # the base model's own predictions on replay items are worth this many corrections (anchor and
    # distill_temperature chosen on RAVDESS dev actors 17-18 by benchmarks/feedback.py --select)
    anchor: float = 200.0
    distill_temperature: float = 2.0  # softening of the anchor's distributions (Hinton et al. 2015)
    weight_decay: float = 1e-3  # pulls the adapter back towards "no change"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("calibration", "lora"):
            raise InputError(f"adapter kind must be 'calibration' or 'lora', not {self.kind!r}")
        if self.steps < 1 or self.batch_size < 1 or self.rank < 1:
            raise InputError("steps, batch_size and rank must be at least 1")
        if min(self.replay_ratio, self.replay_weight, self.anchor) < 0:
            raise InputError("replay_ratio, replay_weight and anchor must not be negative")
        if self.distill_temperature <= 0:
            raise InputError("distill_temperature must be positive")


class CalibrationHead(nn.Module):
    """``z -> z (I + A) + b`` on the fused logits; starts as the identity."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.matrix = nn.Parameter(torch.zeros(classes, classes))
        self.bias = nn.Parameter(torch.zeros(classes))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits + logits @ self.matrix + self.bias


def lora_container(fuser: Any) -> nn.ModuleDict:
    """The fuser's fusion and heads in one container (the same module objects, not copies)."""
    return nn.ModuleDict({"fusion": fuser.fusion, "head": fuser.head, "heads": fuser.heads})


def lora_targets(container: nn.Module) -> list[str]:
    return [n for n, m in container.named_modules() if isinstance(m, nn.Linear)]


class Adapter:
    """A trained correction of one model; attach it with ``fuser.use_adapter(adapter)``.

    Attributes:
        settings: How it was trained.
        labels: The label set it was trained for.
        info: Who, how many corrections, when, and the base model's fingerprint.
        head: The calibration head (``kind="calibration"``).
        lora_state: The LoRA tensors (``kind="lora"``), keyed as in the fusion/heads container.
    """

    def __init__(self, settings: AdaptSettings, labels: Sequence[str], info: dict[str, Any] | None = None) -> None:
        self.settings, self.labels, self.info = settings, tuple(labels), dict(info or {})
        self.head = CalibrationHead(len(labels)) if settings.kind == "calibration" else None
        self.lora_state: dict[str, torch.Tensor] = {}
        self._attached: Any = None
        self._grad_flags: dict[str, bool] = {}

    # -- attaching: only LoRA touches the fuser's modules, and detaching puts the very same modules back
    def attach(self, fuser: Any) -> None:
        if tuple(fuser.labels) != self.labels:
            raise CheckpointError(f"adapter was trained for labels {self.labels}, the model has {tuple(fuser.labels)}")
        if self.settings.kind == "lora":
            from peft import LoraConfig, inject_adapter_in_model

            container = lora_container(fuser)
            self._grad_flags = {n: p.requires_grad for n, p in fuser.named_parameters()}
            config = LoraConfig(
                r=self.settings.rank, lora_alpha=self.settings.alpha, target_modules=lora_targets(container)
            )
            inject_adapter_in_model(config, container)
            if self.lora_state:
                own = {k for k in container.state_dict() if "lora_" in k}
                if own != set(self.lora_state):
                    self._detach_lora(fuser)
                    raise CheckpointError("adapter LoRA tensors do not match this model's fusion and heads")
                container.load_state_dict({k: v.to(fuser.device) for k, v in self.lora_state.items()}, strict=False)
            container.to(fuser.device)
        elif self.head is not None:
            self.head.to(fuser.device)
        self._attached = fuser

    def _detach_lora(self, fuser: Any) -> None:
        from peft.tuners.lora import LoraLayer

        container = lora_container(fuser)
        wrapped = [(n, m) for n, m in container.named_modules() if isinstance(m, LoraLayer)]
        for name, module in wrapped:
            parent_name, _, leaf = name.rpartition(".")
            parent = container.get_submodule(parent_name) if parent_name else container
            setattr(parent, leaf, module.get_base_layer())
        for n, p in fuser.named_parameters():
            p.requires_grad_(self._grad_flags.get(n, p.requires_grad))

    def detach(self, fuser: Any) -> None:
        if self.settings.kind == "lora" and self._attached is fuser:
            self.lora_state = {
                k: v.detach().cpu().clone() for k, v in lora_container(fuser).state_dict().items() if "lora_" in k
            }
            self._detach_lora(fuser)
        self._attached = None

    def parameters(self, fuser: Any) -> list[nn.Parameter]:
        if self.head is not None:
            return list(self.head.parameters())
        return [p for n, p in lora_container(fuser).named_parameters() if "lora_" in n]

    def apply(self, fuser: Any, out: FuserOutput) -> FuserOutput:
        """What ``fuse`` returns with the adapter on (the calibration head; LoRA already acted inside)."""
        if self.head is None or fuser.config.task != "classification":
            return out
        logits = self.head(out.logits.float())
        return dataclasses.replace(out, logits=logits, probs=(logits / fuser.temperatures[0]).softmax(-1))

    # -- files
    def save(self, directory: str | Path, fuser: Any | None = None) -> Path:
        """Write ``adapter.json`` and ``adapter.safetensors`` into ``directory`` (replaced atomically).

        ``directory`` is the adapter's own folder: the swap replaces it whole, so a folder that holds
        anything else is refused (:func:`check_adapter_directory`), never emptied.
        """
        directory = Path(directory).resolve()  # "." or "x/..": the swap needs the folder's real name
        check_adapter_directory(directory)
        if fuser is not None and self._attached is fuser and self.settings.kind == "lora":
            self.lora_state = {
                k: v.detach().cpu().clone() for k, v in lora_container(fuser).state_dict().items() if "lora_" in k
            }
        tensors = (
            {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
            if self.head is not None
            else {k: v.contiguous() for k, v in self.lora_state.items()}
        )
        meta = {
            "format": "mmempathy-adapter",
            "settings": dataclasses.asdict(self.settings),
            "labels": list(self.labels),
            "info": self.info,
        }
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        except OSError as err:
            raise CheckpointError(f"cannot write adapter {directory}: {err}") from err
        try:
            save_file(tensors, str(tmp / ADAPTER_WEIGHTS), metadata={"format": "pt"})
            (tmp / ADAPTER_CONFIG).write_text(json.dumps(meta, indent=2))
            if directory.exists():  # swap: the old adapter stays whole until the new one is complete
                old = directory.with_name(f".{directory.name}-old")
                remove_adapter_files(old, folder=True)  # what an interrupted swap left
                directory.rename(old)
                tmp.rename(directory)
                remove_adapter_files(old, folder=True)
            else:
                tmp.rename(directory)
        except OSError as err:
            raise CheckpointError(f"cannot write adapter {directory}: {err}") from err
        finally:
            remove_adapter_files(tmp, folder=True)  # gone already unless something failed
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Adapter:
        """Read an adapter directory written by :meth:`save`."""
        directory = Path(directory)
        config, weights = directory / ADAPTER_CONFIG, directory / ADAPTER_WEIGHTS
        if not config.is_file() or not weights.is_file():
            raise CheckpointError(
                f"{directory} is not an adapter directory (needs {ADAPTER_CONFIG}, {ADAPTER_WEIGHTS})"
            )
        meta = read_adapter_meta(directory)
        try:
            tensors = load_file(str(weights))
        except Exception as err:  # a broken safetensors file: one clear message
            raise CheckpointError(f"cannot read adapter {directory}: {err}") from err
        try:
            settings = coerce(AdaptSettings, meta["settings"])
        except (MMEmpathyError, ValueError) as err:  # AdaptSettings' own checks raise InputError
            raise CheckpointError(f"{config}: {err}") from err
        adapter = cls(settings, meta["labels"], meta.get("info"))
        if adapter.head is not None:
            try:
                adapter.head.load_state_dict(tensors)
            except RuntimeError as err:
                raise CheckpointError(f"adapter {directory} tensors do not fit its labels: {err}") from err
        else:
            adapter.lora_state = tensors
        return adapter


def use_adapter(fuser: Any, adapter: Adapter | str | Path | None = None) -> None:
    """Switch ``fuser``'s adapter: ``adapter`` on (an :class:`Adapter`, its name under the checkpoint's
    ``adapters/`` or its directory), or off with ``None``, which gives back the base model's outputs exactly.
    The one adapter switched on before is taken off first (``fuser.use_adapter`` calls this)."""
    if fuser.adapter is not None:
        fuser.adapter.detach(fuser)
        fuser.adapter = None
    if adapter is None:
        return
    if not isinstance(adapter, Adapter):
        path = Path(adapter) if Path(adapter).is_dir() else adapter_path(fuser, str(adapter))
        adapter = Adapter.load(path)
    adapter.attach(fuser)
    fuser.adapter = adapter
