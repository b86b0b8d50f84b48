"""Scoring a training run: the loss it optimises, and the validation loss and metrics, each process
scoring its shard and the shards' results combined."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from mmempathy.metrics import classification_metrics, regression_metrics
from mmempathy.model import EmotionFuser, compute_loss
from mmempathy.output import FuserOutput
from mmempathy.train.config import TrainConfig
from mmempathy.train.data import LabelledCollate
from mmempathy.train.distributed import to_device
from mmempathy.train.schedule import ListBatchSampler


def loss_of(
    fuser: EmotionFuser, out: FuserOutput, labels: torch.Tensor, cfg: TrainConfig, class_weight
) -> torch.Tensor:
    """The fused + auxiliary loss with the run's options (see :func:`mmempathy.model.compute_loss`)."""
    aux = fuser.config.aux_loss_weight if cfg.aux_weight is None else cfg.aux_weight
    return compute_loss(
        out,
        labels,
        task=fuser.config.task,
        aux_weight=aux,
        label_smoothing=cfg.label_smoothing,
        class_weight=class_weight,
    )


class RunEvaluation:
    """Evaluation for :class:`~mmempathy.train.trainer.Trainer` (it reads the trainer's ``fuser``,
    ``config``, ``device``, ``rank`` and ``world``, and ``collate``, ``use_cache`` and ``weight``, which
    ``fit`` or the first :meth:`evaluate` sets)."""

    @torch.no_grad()
    def evaluate(self, data: Sequence | torch.utils.data.Dataset) -> dict[str, float]:
        """Loss and metrics of the current model on labelled ``data`` (raw samples)."""
        if not hasattr(self, "collate"):
            self.prepare_model()
            self.collate = LabelledCollate(self.fuser.processor, self.fuser.config.task)
            self.use_cache, self.weight = False, self.class_weight()
        return self.evaluate_loader(data)

    @torch.no_grad()
    def evaluate_loader(self, data: Any) -> dict[str, float]:
        """Evaluate this process's shard (every ``world``-th item) and combine the shards' results."""
        was_training = self.fuser.training
        self.fuser.eval()
        indices = list(range(self.rank, len(data), self.world))
        bs = self.config.batch_size
        loader = DataLoader(
            data,
            batch_sampler=ListBatchSampler([indices[i : i + bs] for i in range(0, len(indices), bs)]),
            collate_fn=self.collate,
            num_workers=self.config.num_workers,
        )
        preds, targets, loss_sum = [], [], 0.0
        for inputs, labels in loader:
            inputs, labels = to_device(inputs, self.device), labels.to(self.device)
            with self.autocast():
                out = self.fuser.fuse(inputs) if self.use_cache else self.fuser(inputs)
                loss_sum += float(loss_of(self.fuser, out, labels, self.config, self.weight)) * len(labels)
            logits = out.logits.float()
            preds.append(logits.argmax(-1) if self.fuser.config.task == "classification" else logits)
            targets.append(labels)
        task = self.fuser.config.task
        empty = torch.zeros(0, dtype=torch.long if task == "classification" else torch.float32, device=self.device)
        pred = self.gather(torch.cat(preds) if preds else empty)
        target = self.gather(torch.cat(targets) if targets else empty)
        self.fuser.train(was_training)
        scores = {"loss": self.reduce_mean(loss_sum, len(indices))}
        if task == "classification":
            found = classification_metrics(pred.cpu(), target.cpu(), len(self.fuser.labels))
            scores.update({k: found[k] for k in ("accuracy", "f1_weighted", "f1_macro")})
        else:
            scores.update(regression_metrics(pred.cpu(), target.cpu()))
        return scores

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate a tensor of varying first size from every process (itself when alone)."""
        if self.world == 1:
            return tensor
        sizes = [torch.zeros(1, dtype=torch.long, device=tensor.device) for _ in range(self.world)]
        dist.all_gather(sizes, torch.tensor([len(tensor)], device=tensor.device))
        longest = int(max(s.item() for s in sizes))
        padded = tensor.new_zeros(longest, *tensor.shape[1:])
        padded[: len(tensor)] = tensor
        parts = [torch.zeros_like(padded) for _ in range(self.world)]
        dist.all_gather(parts, padded)
        return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)])

    def reduce_mean(self, total: float, count: int) -> float:
        """``sum(total) / sum(count)`` over processes."""
        if self.world > 1:
            t = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            total, count = float(t[0]), int(t[1])
        return total / max(count, 1)
