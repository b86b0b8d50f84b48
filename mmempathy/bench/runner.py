"""The benchmark run, the same for every dataset: data from a recipe -> train -> select on dev -> test once.

For each seed: build the model (the chosen preset's encoders for the recipe's modalities, or feature
encoders where the recipe gives pre-extracted features), train it with :class:`mmempathy.train.Trainer`
on the train split, keep the checkpoint that scores best on the dev split, and only then predict the
test split. The test metrics (with percentile bootstrap intervals) of all seeds are aggregated
(mean ± sample std), written as ``results.json`` and ``results.md`` (beside the published numbers),
with a confusion-matrix PNG and the resolved configuration (``config.json``).

A frozen text encoder (``text_layers=0``, the default) is run once over every utterance and its token
states become the text modality's features (cached on disk by :class:`mmempathy.train.FeatureCache`,
so seeds and modality subsets share them); the trained model then reads those states through a small
feature encoder. ``text_layers=N`` fine-tunes the top N layers of the text encoder end to end instead.

Example:
    >>> cfg = BenchConfig("mosi", model="lite", seeds=3, out="results")  # doctest: +SKIP
    >>> summary = run_benchmark(cfg)  # doctest: +SKIP
    >>> summary["aggregate"]["accuracy"]["mean"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from mmempathy import hub
from mmempathy.bench.config import BenchConfig
from mmempathy.bench.evaluate import head_metrics, predict, test_metrics
from mmempathy.bench.models import attach_text_features, build_model, build_model_config, text_encoder_config
from mmempathy.bench.recipes import Recipe, get_recipe
from mmempathy.bench.report import check_resumable, hardware, pct, variant_name, write_outputs
from mmempathy.bench.splits import load_splits, standardize_features
from mmempathy.calibration import fit_calibration
from mmempathy.config import ModelConfig, coerce
from mmempathy.errors import InputError
from mmempathy.metrics import aggregate_seeds
from mmempathy.model import EmotionFuser
from mmempathy.train import TrainConfig, Trainer
from mmempathy.train.augment import Augmented


def train_config(recipe: Recipe, cfg: BenchConfig, seed: int, run_dir: Path) -> TrainConfig:
    """The recipe's training defaults, the command line's overrides, and what the runner fixes."""
    values = {**recipe.train, **cfg.train}
    if cfg.epochs is not None:
        values["epochs"] = cfg.epochs
    if cfg.batch_size is not None:
        values["batch_size"] = cfg.batch_size
    values.update(
        output_dir=str(run_dir),
        seed=seed,
        metric=recipe.metric,
        device=cfg.device,
        num_workers=cfg.num_workers,
        progress=cfg.progress,
        tensorboard=False,
        plot=True,
    )
    return coerce(TrainConfig, values)


def run_seed(
    recipe: Recipe,
    cfg: BenchConfig,
    splits: dict,
    model_config: ModelConfig,
    start: hub.ResolvedModel,
    seed: int,
    out: Path,
) -> dict:
    """Train one seed, select on dev, evaluate the selected checkpoint on test once."""
    fuser = build_model(model_config, start.weights_dir, start.pretrained_encoders, seed)
    tcfg = train_config(recipe, cfg, seed, out / f"seed{seed}")
    train = Augmented(splits["train"], seed=seed, video_faces=cfg.video_faces) if recipe.augment else splits["train"]
    started = time.perf_counter()
    result = Trainer(fuser, tcfg, train, splits["dev"]).fit()
    train_s = time.perf_counter() - started
    best = EmotionFuser.from_pretrained(result.best_dir, device=fuser.device)
    started = time.perf_counter()
    n_classes, kw = len(model_config.labels), {"batch_size": tcfg.batch_size * 2, "num_workers": cfg.num_workers}
    heads = {}
    if cfg.calibrate and model_config.task == "classification":  # fitted on dev; test is read once, after
        heads["uncalibrated"] = head_metrics(predict(best, splits["test"], **kw), n_classes)
        best.set_calibration(fit_calibration(best, list(splits["dev"]), batch_size=kw["batch_size"]))
    if model_config.task == "classification":  # what every choice was made on, beside the test figures
        heads["dev"] = head_metrics(predict(best, splits["dev"], **kw), n_classes)
    outputs = predict(best, splits["test"], **kw)
    scores = test_metrics(outputs["fused"], outputs["labels"], n_classes, cfg.n_boot)
    if model_config.task == "classification":
        heads["calibrated" if cfg.calibrate else "uncalibrated"] = head_metrics(outputs, n_classes)
    return {
        "seed": seed,
        **scores,
        "heads": heads,
        "calibration": best.config.calibration,
        "dev": {"metric": recipe.metric, "best": result.best_metric, "best_epoch": result.best_epoch},
        "epochs_run": len(result.history),
        "train_seconds": round(train_s, 1),
        "test_seconds": round(time.perf_counter() - started, 1),
    }


def run_benchmark(cfg: BenchConfig) -> dict[str, Any]:
    """Run a recipe end to end; returns the summary also written to ``<out>/<recipe>/<variant>/``."""
    started = time.perf_counter()
    recipe = get_recipe(cfg.recipe)
    if cfg.modalities is not None:
        recipe = recipe.with_modalities(cfg.modalities)
    if cfg.video_faces and not (recipe.augment and "face" in recipe.modalities):
        raise InputError(f"--video-faces needs a recipe that trains augmented faces; {recipe.name!r} does not")
    start = hub.resolve_model(cfg.model, weights=not cfg.architecture_only)
    base, checkpoint, pretrained = start.config, start.weights_dir, start.pretrained_encoders
    splits = load_splits(recipe, cfg)
    feature_stats = standardize_features(splits, recipe.standardize)
    folder = Path(cfg.out) / recipe.name / variant_name(recipe, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    text_dim, text_desc = 0, "not used"
    if "text" in recipe.modalities and "text" not in recipe.features:
        text = text_encoder_config(base, cfg.model)
        weights = "" if pretrained or checkpoint else " (random weights)"
        tuned = f"top {cfg.text_layers} layers fine-tuned" if cfg.text_layers else "frozen"
        text_desc = f"{text.name}{weights}, {tuned}"
        if cfg.text_layers == 0:
            cache_root = Path(cfg.cache_dir or Path(cfg.out) / "feature_cache")
            text_dim = attach_text_features(splits, text, checkpoint, pretrained, cache_root)
            text_desc += " (token states computed once, feature encoder on top)"
    labels, task, sizes = splits["train"].labels, splits["train"].task, {k: len(v) for k, v in splits.items()}
    if recipe.preload:  # media read once, not every epoch
        splits = {k: [ds[i] for i in range(len(ds))] for k, ds in splits.items()}
    model_config = build_model_config(recipe, cfg, base, labels, task, text_dim)
    resolved = {
        "bench": dataclasses.asdict(cfg),
        "recipe": dataclasses.asdict(recipe),
        "model": model_config.to_dict(),
        "train": train_config(recipe, cfg, 0, folder / "seed0").to_dict(),
        "feature_stats": feature_stats,
    }
    check_resumable(folder / "config.json", resolved)
    (folder / "config.json").write_text(json.dumps(resolved, indent=2, default=str))
    runs: list[dict[str, Any]] = []
    summary = {
        "recipe": recipe.name,
        "description": recipe.description,
        "dataset": recipe.dataset,
        "variant": variant_name(recipe, cfg),
        "model": cfg.model,
        "init": f"encoders from {start.origin}; fusion and heads fresh",
        "modalities": "+".join(recipe.modalities),
        "fusion": cfg.fusion,
        "text": text_desc,
        "metric": recipe.metric,
        "task": task,
        "labels": list(labels),
        "sizes": sizes,
        "published": [dataclasses.asdict(p) for p in recipe.published],
        "notes": recipe.notes,
        "hardware": hardware(),
        "date": time.strftime("%Y-%m-%d"),
    }
    for seed in range(cfg.seeds):
        runs.append(run_seed(recipe, cfg, splits, model_config, start, seed, folder))
        if cfg.progress:
            print(f"{recipe.name} seed {seed}: test {recipe.metric} {pct(runs[-1]['test'][recipe.metric])}%")
        # rewritten after every seed, so that an interrupted run keeps the seeds it finished
        summary.update(
            aggregate=aggregate_seeds([r["test"] for r in runs]),
            runs=runs,
            wall_seconds=round(time.perf_counter() - started, 1),
        )
        write_outputs(summary, folder)
    summary["folder"] = str(folder)
    return summary
