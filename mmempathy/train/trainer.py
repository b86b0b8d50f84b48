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

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mmempathy.device import autocast_dtype
from mmempathy.model import EmotionFuser
from mmempathy.output import FuserOutput
from mmempathy.train.config import METRICS, TrainConfig
from mmempathy.train.distributed import init_distributed, resolve_device, seed_everything, to_device
from mmempathy.train.evaluation import RunEvaluation, loss_of
from mmempathy.train.outputs import RunOutputs, TrainResult
from mmempathy.train.prepare import RunPreparation
from mmempathy.train.schedule import ListBatchSampler, lr_factor
from mmempathy.train.state import has_state, load_state


class Step(nn.Module):
    """The trained computation as one module, so DDP sees every call: encode+fuse, or fuse alone."""

    def __init__(self, fuser: EmotionFuser) -> None:
        super().__init__()
        self.fuser = fuser

    def forward(self, inputs: dict, cached: bool) -> FuserOutput:
        return self.fuser.fuse(inputs) if cached else self.fuser(inputs)


class Trainer(RunPreparation, RunEvaluation, RunOutputs):
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
