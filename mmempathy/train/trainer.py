"""The training loop (the only one): end-to-end or on cached features, one process or DDP.

Example:
    >>> from mmempathy import EmotionFuser, Sample
    >>> fuser = EmotionFuser.from_pretrained("tiny", device="cpu")
    >>> data = [Sample(text="great", label=3), Sample(text="awful", label=0)] * 4
    >>> cfg = TrainConfig(epochs=1, output_dir="/tmp/run", progress=False)
    >>> result = Trainer(fuser, cfg, data).fit()  # doctest: +SKIP

Under ``torchrun --nproc_per_node N`` the same call trains data-parallel (DistributedDataParallel,
one shard of every epoch per process); ``batch_size`` is per process.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from mmempathy.device import autocast, autocast_dtype
from mmempathy.metrics import classification_metrics, regression_metrics
from mmempathy.model import EmotionFuser, compute_loss
from mmempathy.output import FuserOutput
from mmempathy.train.cache import FeatureCache, collate_cached
from mmempathy.train.config import METRICS, TrainConfig
from mmempathy.train.curves import plot_curves
from mmempathy.train.data import LabelledCollate
from mmempathy.train.distributed import init_distributed, resolve_device, seed_everything, to_device
from mmempathy.train.schedule import ListBatchSampler, dataset_targets, lr_factor
from mmempathy.train.state import has_state, load_state, save_state


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


class Step(nn.Module):
    """The trained computation as one module, so DDP sees every call: encode+fuse, or fuse alone."""

    def __init__(self, fuser: EmotionFuser) -> None:
        super().__init__()
        self.fuser = fuser

    def forward(self, inputs: dict, cached: bool) -> FuserOutput:
        return self.fuser.fuse(inputs) if cached else self.fuser(inputs)


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


class Trainer:
    """Trains an :class:`EmotionFuser` on labelled :class:`~mmempathy.sample.Sample` s.

    * all trainable parameters at once (encoders, fusion, heads), with AdamW, separate peak rates for
      encoders and fusion+heads, linear warm-up then cosine decay, gradient accumulation and clipping,
      bf16 autocast on CUDA; only parameters with ``requires_grad`` are optimised (freezing and
      ``unfreeze_top`` come from the encoder configs, LoRA from ``config.lora``);
    * fully frozen encoders run in eval mode; when all are frozen their outputs are cached on disk
      and training runs only :meth:`EmotionFuser.fuse` (``feature_cache``);
    * validation after every ``eval_every`` epochs; the best checkpoint goes to ``best/``, the latest
      with optimizer, scheduler and generator states to ``last/``; early stopping after ``patience``
      evaluations without improvement; ``fit`` resumes from ``last/`` when it exists;
    * metrics per epoch in ``metrics.csv`` and TensorBoard, curves in ``curves.png`` on request.

    Args:
        fuser: The model to train (moved to the configured device).
        config: A :class:`TrainConfig` or a dict of its fields.
        train_data: A sequence or ``Dataset`` of labelled samples.
        val_data: Held-out labelled samples for selection and early stopping (optional).
        callbacks: Called as ``callback(trainer)`` after every optimizer step.

    Example:
        >>> trainer = Trainer(fuser, TrainConfig(epochs=5), train_samples, val_samples)  # doctest: +SKIP
        >>> result = trainer.fit()  # doctest: +SKIP
    """

    def __init__(
        self,
        fuser: EmotionFuser,
        config: TrainConfig | dict[str, Any] | None = None,
        train_data: Sequence | torch.utils.data.Dataset | None = None,
        val_data: Sequence | torch.utils.data.Dataset | None = None,
        *,
        callbacks: Sequence[Callable[[Trainer], None]] = (),
    ) -> None:
        if train_data is None or len(train_data) == 0:
            raise ValueError("Trainer needs a non-empty train_data")
        self.fuser = fuser
        self.config = cfg = TrainConfig.from_dict(config or {})
        self.train_data, self.val_data = train_data, val_data
        self.callbacks = list(callbacks)
        self.rank, self.world, self.local_rank = init_distributed()
        self.device = resolve_device(cfg.device, self.local_rank)
        self.autocast_dtype = autocast_dtype(self.device, cfg.precision)
        self.output_dir = Path(cfg.output_dir)
        self.metric = (
            cfg.metric if cfg.metric != "auto" else ("f1_weighted" if fuser.config.task == "classification" else "mae")
        )
        if fuser.config.task == "regression" and self.metric in ("accuracy", "f1_weighted", "f1_macro"):
            raise ValueError(f"metric {self.metric!r} needs a classification model")
        self.global_step = 0
        self.losses: list[float] = []  # per optimizer step, this process's mean loss

    # ------------------------------------------------------------------ setup

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
        train = cache.build(self.train_data, desc="cache train", **kw)
        val = cache.build(self.val_data, desc="cache val", **kw) if self.val_data is not None else None
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

    # ------------------------------------------------------------------ fit

    def fit(self) -> TrainResult:
        """Train (or resume) to the end; returns the history and where the checkpoints are."""
        cfg = self.config
        seed_everything(cfg.seed + self.rank)
        self.prepare_model()
        train, val, collate = self.datasets()
        self.collate = collate
        self.weight = self.class_weight()
        model: nn.Module = Step(self.fuser)
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
        self.model = model
        optimizer = torch.optim.AdamW(self.param_groups(), betas=(0.9, 0.999), eps=1e-8)
        micro = len(self.epoch_batches(train, 0))
        steps_per_epoch = math.ceil(micro / cfg.grad_accum)
        total = steps_per_epoch * cfg.epochs
        total = min(total, cfg.max_steps) if cfg.max_steps > 0 else total
        warmup = int(cfg.warmup_ratio * total)
        factor = lambda step: lr_factor(step, total=total, warmup=warmup, schedule=cfg.schedule, floor=cfg.min_lr_ratio)  # noqa: E731
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

        last_dir, best_dir = self.output_dir / "last", self.output_dir / "best"
        progress = {"epoch": 0, "micro": 0, "global_step": 0, "best": None, "best_epoch": None, "bad": 0,
                    "history": [], "loss_sum": 0.0, "loss_count": 0, "stopped": False, "losses": []}  # fmt: skip
        if cfg.resume and has_state(last_dir):
            self.fuser.load_weights(last_dir / "model.safetensors")
            progress = load_state(last_dir, optimizer, scheduler, rank=self.rank)
            if self.rank == 0:
                print(f"resuming from {last_dir} at epoch {progress['epoch'] + 1}, step {progress['global_step']}")
        self.global_step, self.losses = progress["global_step"], list(progress["losses"])
        if self.rank == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self.write_resolved_config()
        writer = self.summary_writer()
        done = progress["stopped"] or progress["epoch"] >= cfg.epochs or (0 < cfg.max_steps <= self.global_step)

        while not done:
            epoch = progress["epoch"]
            started = time.perf_counter()
            batches = self.epoch_batches(train, epoch)
            seen = self.train_epoch(train, batches, epoch, optimizer, scheduler, progress, writer, last_dir)
            elapsed = time.perf_counter() - started
            reached_max = 0 < cfg.max_steps <= self.global_step
            train_loss = self.reduce_mean(progress["loss_sum"], progress["loss_count"])
            row = {"epoch": epoch + 1, "step": self.global_step, "train_loss": train_loss}
            row.update({f"lr_{g['name']}": g["lr"] for g in optimizer.param_groups if "no_decay" not in g["name"]})
            row.update({"seconds": elapsed, "samples_per_s": seen * self.world / max(elapsed, 1e-9)})
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs or reached_max:
                scores = self.evaluate_loader(val) if val is not None else {"loss": train_loss}
                row.update({f"val_{k}": v for k, v in scores.items()})
                value = scores.get(self.metric, scores["loss"])
                better = METRICS[self.metric] if self.metric in scores else False
                if progress["best"] is None or (value > progress["best"] if better else value < progress["best"]):
                    progress.update(best=value, best_epoch=epoch + 1, bad=0)
                    self.save_model(best_dir)
                else:
                    progress["bad"] += 1
                    if cfg.patience and progress["bad"] >= cfg.patience:
                        progress["stopped"] = True
            progress["history"].append(row)
            progress.update(epoch=epoch + 1, micro=0, loss_sum=0.0, loss_count=0)
            self.log_epoch(progress["history"], writer)
            self.checkpoint(last_dir, optimizer, scheduler, progress)
            done = progress["stopped"] or progress["epoch"] >= cfg.epochs or reached_max

        if writer is not None:
            writer.close()
        result = TrainResult(
            history=progress["history"],
            best_metric=progress["best"],
            best_epoch=progress["best_epoch"],
            best_dir=best_dir,
            last_dir=last_dir,
            global_step=self.global_step,
            stopped_early=progress["stopped"],
            used_cache=self.use_cache,
            losses=self.losses,
        )
        if self.rank == 0:
            self.finish(result)
        return result

    def train_epoch(self, train, batches, epoch, optimizer, scheduler, progress, writer, last_dir) -> int:
        """Run the rest of one epoch from ``progress["micro"]``; returns the samples seen by this process."""
        cfg = self.config
        start = progress["micro"]
        loader = DataLoader(
            train,
            batch_sampler=ListBatchSampler(batches[start:]),
            collate_fn=self.collate,
            num_workers=cfg.num_workers,
            generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch),  # not the global RNG
            pin_memory=self.device.type == "cuda",
        )
        self.set_train_mode()
        bar = tqdm(
            total=len(batches),
            initial=start,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            unit="batch",
            disable=not (cfg.progress and self.rank == 0),
        )
        seen, step_loss = 0, 0.0
        for i, (inputs, labels) in enumerate(loader, start=start):
            group_start = i - i % cfg.grad_accum
            group = min(cfg.grad_accum, len(batches) - group_start)
            last_in_group = i + 1 == group_start + group
            inputs = to_device(inputs, self.device)
            labels = labels.to(self.device, non_blocking=True)
            sync = nullcontext() if last_in_group or self.world == 1 else self.model.no_sync()
            with sync:
                with self.autocast():
                    out = self.model(inputs, self.use_cache)
                    loss = loss_of(self.fuser, out, labels, cfg, self.weight)
                (loss / group).backward()
            value = float(loss.detach())
            step_loss += value / group
            progress["loss_sum"] += value * len(labels)
            progress["loss_count"] += len(labels)
            progress["micro"] = i + 1
            seen += len(labels)
            bar.update(1)
            if not last_in_group:
                continue
            params = [p for g in optimizer.param_groups for p in g["params"]]
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            self.global_step += 1
            self.losses.append(step_loss)
            progress.update(global_step=self.global_step, losses=self.losses)
            bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
            if writer is not None and self.global_step % cfg.log_every == 0:
                writer.add_scalar("train/loss", step_loss, self.global_step)
                for g in optimizer.param_groups:
                    writer.add_scalar(f"lr/{g['name']}", g["lr"], self.global_step)
            step_loss = 0.0
            if cfg.save_every_steps and self.global_step % cfg.save_every_steps == 0 and i + 1 < len(batches):
                self.checkpoint(last_dir, optimizer, scheduler, progress)
            for callback in self.callbacks:
                callback(self)
            if 0 < cfg.max_steps <= self.global_step:
                break
        bar.close()
        return seen

    # ------------------------------------------------------------------ evaluation

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

    # ------------------------------------------------------------------ outputs

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
