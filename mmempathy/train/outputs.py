"""What a training run writes: checkpoints (``best/``, and ``last/`` with the state to resume from), the
resolved configs, ``metrics.csv``, TensorBoard events, ``summary.json`` and the curves."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.distributed as dist

from mmempathy.train.curves import plot_curves
from mmempathy.train.state import save_state


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes:
        history: One dict per evaluated epoch (train loss, validation metrics, learning rates, speed).
        best_metric: The best value of the selection metric.
        best_epoch: The epoch (1-based) it was reached in.
        best_dir: The best checkpoint (a ``save_pretrained`` directory).
        last_dir: The last checkpoint, with the trainer state for resuming.
        global_step: Optimizer steps taken.
        stopped_early: Whether early stopping ended the run.
        used_cache: Whether training ran on cached encoder outputs.
    """

    history: list[dict[str, float]]
    best_metric: float | None
    best_epoch: int | None
    best_dir: Path
    last_dir: Path
    global_step: int
    stopped_early: bool
    used_cache: bool = False
    losses: list[float] = field(default_factory=list)


class RunOutputs:
    """The files of :class:`~mmempathy.train.trainer.Trainer` (it reads the trainer's ``fuser``, ``config``,
    ``output_dir``, ``metric``, ``global_step``, ``rank`` and ``world``)."""

    def save_model(self, directory: Path) -> None:
        """Write a ``save_pretrained`` checkpoint (rank 0), marked as trained."""
        if self.rank == 0:
            self.fuser.config.trained = True
            self.fuser.save_pretrained(directory)
        if self.world > 1:
            dist.barrier()

    def checkpoint(self, directory: Path, optimizer, scheduler, progress: dict[str, Any]) -> None:
        """The model plus everything needed to resume, in ``directory``."""
        self.save_model(directory)
        save_state(directory, optimizer, scheduler, progress, rank=self.rank)
        if self.world > 1:
            dist.barrier()

    def write_resolved_config(self) -> None:
        """``train_config.json`` and ``model_config.json``: the run as it was resolved."""
        (self.output_dir / "train_config.json").write_text(json.dumps(self.config.to_dict(), indent=2))
        (self.output_dir / "model_config.json").write_text(json.dumps(self.fuser.config.to_dict(), indent=2))

    def summary_writer(self):
        """A TensorBoard writer on rank 0 (``None`` when disabled); resuming drops events past the step."""
        if self.rank != 0 or not self.config.tensorboard:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.output_dir / "tensorboard"), purge_step=self.global_step or None)

    def log_epoch(self, rows: list[dict[str, float]], writer) -> None:
        """Append to TensorBoard and rewrite ``metrics.csv`` (rank 0)."""
        if self.rank != 0:
            return
        row = rows[-1]
        if writer is not None:
            for key, value in row.items():
                if key not in ("epoch", "step"):
                    writer.add_scalar(f"epoch/{key}", value, int(row["epoch"]))
            writer.flush()
        path = self.output_dir / "metrics.csv"
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=keys)
            out.writeheader()
            out.writerows(rows)

    def finish(self, result: TrainResult) -> None:
        """``summary.json``, the curves on request, and a short summary on stdout."""
        summary = {
            "metric": self.metric,
            "best": result.best_metric,
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "global_step": result.global_step,
            "stopped_early": result.stopped_early,
            "used_cache": result.used_cache,
            "best_dir": str(result.best_dir),
            "last": result.history[-1] if result.history else {},
        }
        (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        if self.config.plot and result.history:
            plot_curves(result.history, self.output_dir / "curves.png", metric=self.metric)
        if self.config.progress:
            best = "n/a" if result.best_metric is None else f"{result.best_metric:.4f}"
            print(
                f"done: {len(result.history)} epochs, {result.global_step} steps; best {self.metric} {best} "
                f"at epoch {result.best_epoch} -> {result.best_dir}"
                + (" (stopped early)" if result.stopped_early else "")
            )
