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
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from mmempathy import hub
from mmempathy.bench.recipes import Recipe, get_recipe
from mmempathy.calibration import fit_calibration
from mmempathy.config import FUSION_MODES, ModelConfig, TextEncoderConfig, coerce
from mmempathy.data import EmotionDataset, get_dataset
from mmempathy.errors import InputError
from mmempathy.metrics import (
    aggregate_seeds,
    bootstrap_ci,
    classification_metrics,
    expected_calibration_error,
    plot_confusion_matrix,
)
from mmempathy.modality import Modality
from mmempathy.model import EmotionFuser
from mmempathy.sample import Sample
from mmempathy.train import FeatureCache, TrainConfig, Trainer
from mmempathy.train.augment import Augmented
from mmempathy.train.cache import iter_outputs

ENCODER_CLASSES = {m.value: type(ModelConfig().encoder(m)) for m in Modality}


@dataclass
class BenchConfig:
    """One benchmark invocation (what the ``mmempathy bench`` command line fills in)."""

    recipe: str  # recipe name (mmempathy.bench.recipes.list_recipes())
    data_dir: str | None = None  # the dataset's folder (None: the registry's default under $MMEMPATHY_DATA)
    model: str = "lite"  # preset name or checkpoint directory whose encoders the model starts from
    seeds: int = 1  # runs with seeds 0..seeds-1; test metrics are aggregated over them
    modalities: tuple[str, ...] | None = None  # a subset of the recipe's modalities (None: all)
    fusion: str = "late"  # "late" (gated calibrated heads), "attention" (gated features) or "concat" (baseline)
    calibrate: bool = True  # fit temperatures (and late fusion's gate biases) on dev before testing
    text_layers: int = 0  # 0: frozen text encoder on cached token states; N: fine-tune its top N layers
    epochs: int | None = None  # override the recipe's epochs
    batch_size: int | None = None  # override the recipe's batch size
    device: str = "auto"  # torch device ("auto": CUDA when present)
    num_workers: int = 0  # DataLoader workers (training and test prediction)
    limit: int = 0  # use at most this many items of every split (a smoke run; 0: all)
    n_boot: int = 1000  # bootstrap resamples for the test intervals
    out: str = "results"  # results go to <out>/<recipe>/<variant>/
    cache_dir: str = ""  # text feature cache ("": <out>/feature_cache)
    train: dict[str, Any] = field(default_factory=dict)  # further TrainConfig fields, over the recipe's
    progress: bool = True  # progress bars and a line per seed

    def __post_init__(self) -> None:
        if self.modalities is not None:
            self.modalities = tuple(self.modalities)
        checks = {
            "seeds must be >= 1": self.seeds >= 1,
            f"fusion must be one of {', '.join(FUSION_MODES)}": self.fusion in FUSION_MODES,
            "text_layers must be >= 0": self.text_layers >= 0,
            "limit must be >= 0": self.limit >= 0,
            "epochs must be >= 1": self.epochs is None or self.epochs >= 1,
        }
        failed = [msg for msg, ok in checks.items() if not ok]
        if failed:
            raise InputError("; ".join(failed))


# ---------------------------------------------------------------------------------------------- data


def load_splits(recipe: Recipe, cfg: BenchConfig) -> dict[str, EmotionDataset]:
    """Train, dev and test datasets of a recipe (dev held out of train when the adapter has none)."""
    build = lambda split: get_dataset(recipe.dataset, cfg.data_dir, split, **recipe.dataset_options)  # noqa: E731
    train = build("train")
    if recipe.dev_split is None:
        dev_idx = stratified_holdout(train.targets(), recipe.dev_fraction)
        keep = sorted(set(range(len(train))) - set(dev_idx))
        splits = {"train": train.subset(keep), "dev": train.subset(dev_idx)}
    else:
        splits = {"train": train, "dev": build(recipe.dev_split)}
    splits["test"] = build(recipe.test_split)
    if cfg.limit:
        splits = {k: limit_items(ds, cfg.limit) for k, ds in splits.items()}
    empty = [k for k, ds in splits.items() if len(ds) == 0]
    if empty:
        raise InputError(f"{recipe.name}: empty split(s) {empty} under {cfg.data_dir or 'the default data root'}")
    return splits


def stratified_holdout(targets: np.ndarray, fraction: float, seed: int = 0) -> list[int]:
    """Indices of a seeded, per-class ``fraction`` of items (at least one per class with two or more)."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(targets):
        idx = rng.permutation(np.flatnonzero(targets == label))
        n = int(round(fraction * len(idx))) or (1 if len(idx) > 1 else 0)
        held += idx[:n].tolist()
    return sorted(held)


def limit_items(ds: EmotionDataset, limit: int) -> EmotionDataset:
    """A seeded random slice of at most ``limit`` items (random, so that smoke runs see several classes)."""
    if len(ds) <= limit:
        return ds
    return ds.subset(sorted(np.random.default_rng(0).permutation(len(ds))[:limit].tolist()))


def with_items(ds: EmotionDataset, items: list[Sample]) -> EmotionDataset:
    """``ds`` with its stub samples replaced (media still load lazily from ``meta``)."""
    out = EmotionDataset(items, labels=ds.labels, task=ds.task, split=ds.split, decode_clips=ds.decode_clips)
    out.name = ds.name
    return out


def standardize_features(splits: dict[str, EmotionDataset], names: tuple[str, ...]) -> dict[str, dict[str, list]]:
    """Z-score each feature dimension of ``names`` with the train split's mean and std, in every split.

    Hand-made feature vectors (openSMILE's) mix scales from 0.1 to several hundred; the feature encoder's
    LayerNorm works across dimensions of one item, so it cannot undo that. Returns the statistics.
    """
    stats = {}
    for name in names:
        train = np.stack([s.features[name] for s in splits["train"].items if s.features and name in s.features])
        mean, std = train.mean(0), train.std(0)
        std = np.where(std > 1e-8, std, 1.0)
        stats[name] = {"mean": mean.tolist(), "std": std.tolist()}
        for split, ds in splits.items():
            items = [
                dataclasses.replace(
                    s, features={**s.features, name: ((s.features[name] - mean) / std).astype(np.float32)}
                )
                if s.features and name in s.features
                else s
                for s in ds.items
            ]
            splits[split] = with_items(ds, items)
    return stats


# --------------------------------------------------------------------------------------------- model


def base_model(name: str) -> tuple[dict[str, Any], Path | None, bool]:
    """``(model config dict, checkpoint dir or None, load pretrained encoders)`` of a preset or directory.

    A preset gives its architecture and pretrained encoders, never its packaged fused weights (which
    may have been trained on these very datasets); a directory gives its trained encoders.
    """
    path = Path(name)
    if path.is_dir():
        hub.check_checkpoint_dir(path)
        return json.loads((path / hub.CONFIG_NAME).read_text())["config"], path, False
    if name in hub.list_models():
        preset = hub.load_preset(name)
        return preset["config"], None, preset.get("pretrained_encoders", True)
    presets = ", ".join(hub.list_models())
    raise InputError(f"--model {name!r} is neither a preset ({presets}) nor a checkpoint directory")


def build_model_config(
    recipe: Recipe, cfg: BenchConfig, base: dict[str, Any], labels: tuple[str, ...], task: str, text_dim: int
) -> ModelConfig:
    """The benchmark model: the base model's encoders for the recipe's modalities, features where given."""
    base = ModelConfig.from_dict(base)
    encoders: dict[str, Any] = {m.value: None for m in Modality}
    for name in recipe.modalities:
        if name in recipe.features or (name == "text" and cfg.text_layers == 0):
            dim = recipe.features.get(name, text_dim)
            encoders[name] = ENCODER_CLASSES[name](kind="features", name="", input_dim=dim, dim=base.fusion.dim)
            continue
        enc = base.encoder(Modality(name))
        if enc is None:
            raise InputError(f"model {cfg.model!r} has no {name} encoder, which recipe {recipe.name!r} needs")
        if name == "text":
            enc = dataclasses.replace(enc, freeze=True, unfreeze_top=cfg.text_layers)
        encoders[name] = enc
    fusion = dataclasses.replace(base.fusion, mode=cfg.fusion)
    return ModelConfig(labels=labels, task=task, fusion=fusion, aux_loss_weight=base.aux_loss_weight, **encoders)


def build_model(config: ModelConfig, checkpoint: Path | None, pretrained: bool, seed: int) -> EmotionFuser:
    """A fresh model seeded by ``seed``; encoders from the checkpoint directory when there is one."""
    torch.manual_seed(seed)
    tokenizer = None
    if checkpoint is not None and config.text is not None and config.text.kind == "hf":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint / hub.TOKENIZER_DIR))
    fuser = EmotionFuser(config, pretrained_encoders=pretrained, tokenizer=tokenizer)
    if checkpoint is not None:
        state = load_file(str(checkpoint / hub.WEIGHTS_NAME))
        wanted = [f"encoders.{m.value}." for m in config.modalities if config.encoder(m).kind != "features"]
        fuser.load_state_dict({k: v for k, v in state.items() if k.startswith(tuple(wanted))}, strict=False)
    return fuser


def text_encoder_config(base: dict[str, Any], model: str) -> TextEncoderConfig:
    """The base model's text encoder, frozen."""
    text = ModelConfig.from_dict(base).text
    if text is None or text.kind != "hf":
        raise InputError(f"model {model!r} has no text encoder to read the recipe's text")
    return dataclasses.replace(text, freeze=True, unfreeze_top=0)


@torch.no_grad()
def attach_text_features(
    splits: dict[str, EmotionDataset], text: TextEncoderConfig, checkpoint: Path | None, pretrained: bool, root: Path
) -> int:
    """Run the frozen text encoder once over every utterance; its token states become ``features["text"]``.

    Returns the width of the states. The outputs are cached under ``root`` (keyed by the encoder's
    weights and the text), so later seeds and runs read them from disk.
    """
    config = ModelConfig(labels=("a", "b"), text=text, audio=None, face=None)
    encoder = build_model(config, checkpoint, pretrained, seed=0)
    encoder.to("cuda" if torch.cuda.is_available() else "cpu")
    cache = FeatureCache(encoder, root, batch_size=64)
    for name, ds in splits.items():
        stubs = [Sample(text=s.text, label=0) for s in ds.items if s.text and s.text.strip()]
        cached = cache.build(stubs, desc=f"text features ({name})")
        states = iter(cached[i][0][Modality.TEXT] for i in range(len(cached)))
        items = []
        for s in ds.items:
            feats = dict(s.features or {})
            if s.text and s.text.strip():
                tokens, mask = next(states)
                feats["text"] = tokens[mask].float().numpy()
            items.append(dataclasses.replace(s, features=feats))
        splits[name] = with_items(ds, items)
    return encoder.encoders[Modality.TEXT.value].output_dim


# ------------------------------------------------------------------------------------- train + test


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


@torch.no_grad()
def predict(fuser: EmotionFuser, data: Any, *, batch_size: int, num_workers: int) -> dict[str, np.ndarray]:
    """Outputs over labelled ``data`` (samples, or a :class:`~mmempathy.train.cache.CachedDataset`), in order:
    ``fused`` probabilities ``[n, c]``, each modality's own head (``text``, ``audio``, ``face``; NaN rows
    where an item lacks it), the gate's ``weights`` ``[n, m]`` and ``labels`` ``[n]``."""
    columns: dict[str, list[np.ndarray]] = {"fused": [], "labels": [], "weights": []}
    columns.update({m.value: [] for m in fuser.modalities})
    for out, target in iter_outputs(fuser, data, batch_size=batch_size, num_workers=num_workers):
        columns["fused"].append(out.probs.float().cpu().numpy())
        columns["labels"].append(target.numpy())
        columns["weights"].append(out.weights.float().cpu().numpy())
        for i, m in enumerate(out.modalities):
            probs = np.full(out.probs.shape, np.nan, dtype=np.float32)
            if m in out.modality_probs:
                here = out.present[:, i].cpu().numpy()
                probs[here] = out.modality_probs[m].float().cpu().numpy()[here]
            columns[m.value].append(probs)
    return {k: np.concatenate(v) for k, v in columns.items()}


def test_metrics(probs: np.ndarray, labels: np.ndarray, n_classes: int, n_boot: int) -> dict[str, Any]:
    """Test metrics (with the expected calibration error), their bootstrap intervals, and the confusion matrix."""
    preds = probs.argmax(-1)
    full = classification_metrics(preds, labels, n_classes)
    scalars = lambda p, t: {k: v for k, v in classification_metrics(p, t, n_classes).items() if k != "confusion"}  # noqa: E731
    ci = bootstrap_ci(scalars, preds, labels, n_boot=n_boot, seed=0) if n_boot > 0 else {}
    test = {k: float(v) for k, v in full.items() if k != "confusion"}
    test["ece"] = expected_calibration_error(probs, labels)
    return {"test": test, "ci": ci, "confusion": full["confusion"].tolist()}


def head_metrics(outputs: dict[str, np.ndarray], n_classes: int) -> dict[str, dict[str, float]]:
    """Accuracy, weighted F1 and ECE of the fused output and of each modality's head on the items that have it."""
    scores = {}
    for name, probs in outputs.items():
        if name in ("labels", "weights"):
            continue
        here = ~np.isnan(probs).any(-1)
        if here.any():
            m = classification_metrics(probs[here].argmax(-1), outputs["labels"][here], n_classes)
            ece = expected_calibration_error(probs[here], outputs["labels"][here])
            scores[name] = {
                "accuracy": m["accuracy"],
                "f1_weighted": m["f1_weighted"],
                "ece": ece,
                "n": int(here.sum()),
            }
    return scores


def run_seed(recipe: Recipe, cfg: BenchConfig, splits: dict, model_config: ModelConfig, seed: int, out: Path) -> dict:
    """Train one seed, select on dev, evaluate the selected checkpoint on test once."""
    _, checkpoint, pretrained = base_model(cfg.model)
    fuser = build_model(model_config, checkpoint, pretrained, seed)
    tcfg = train_config(recipe, cfg, seed, out / f"seed{seed}")
    train = Augmented(splits["train"], seed=seed) if recipe.augment else splits["train"]
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


# ------------------------------------------------------------------------------------------ outputs


def variant_name(recipe: Recipe, cfg: BenchConfig) -> str:
    """The results folder of one configuration, e.g. ``lite-text+audio+face-attention``."""
    model = Path(cfg.model).name if Path(cfg.model).is_dir() else cfg.model
    parts = [model, "+".join(recipe.modalities), cfg.fusion]
    if cfg.text_layers and "text" in recipe.modalities and "text" not in recipe.features:
        parts.append(f"text-ft{cfg.text_layers}")
    if cfg.limit:
        parts.append(f"limit{cfg.limit}")
    return "-".join(parts)


def check_resumable(path: Path, resolved: dict[str, Any]) -> None:
    """Refuse to reuse a results folder trained with another setup (the Trainer resumes from what it finds)."""
    if not path.is_file():
        return
    volatile = {"seed", "output_dir", "progress", "num_workers", "device"}
    key = lambda cfg: (cfg["recipe"], cfg["model"], {k: v for k, v in cfg["train"].items() if k not in volatile})  # noqa: E731
    if key(json.loads(path.read_text())) != key(json.loads(json.dumps(resolved, default=str))):
        raise InputError(
            f"{path.parent} holds runs of another configuration (recipe, model or training options differ), "
            "and training would resume from them: choose another --out or remove that folder"
        )


def hardware() -> dict[str, Any]:
    """What the run ran on."""
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def render_table(summary: dict[str, Any]) -> str:
    """Markdown: our test result beside the published ones, then every metric of ours."""
    metric, agg, runs = summary["metric"], summary["aggregate"], summary["runs"]
    n = len(runs)
    first = runs[0]["ci"].get(metric)
    ours = f"**{pct(agg[metric]['mean'])}" + (f" ± {pct(agg[metric]['std'])}**" if n > 1 else "**")
    if first:
        ours += f" (95% CI {pct(first['low'])}–{pct(first['high'])}, seed {runs[0]['seed']})"
    title = f"mmempathy {summary['model']}, {summary['modalities']}, {summary['fusion']} fusion"
    lines = [
        f"### {summary['recipe']}: {summary['description']}",
        "",
        f"Text: {summary['text']}. Test n = {summary['sizes']['test']}; {n} seed(s); selected on dev "
        f"({summary['sizes']['dev']} items) by {metric}.",
        "",
        "| result | metric | value (%) | source |",
        "|---|---|---|---|",
        f"| {title} (ours, {n} seed{'s' if n > 1 else ''}, mean ± std) | {metric} | {ours} | this run |",
    ]
    for p in summary["published"]:
        lines.append(f"| {p['method']} | {p['metric']} | {p['value']:.1f} | {p['source']} |")
    lines += ["", "| metric (ours, test) | mean ± std (%) | 95% CI, seed 0 (%) |", "|---|---|---|"]
    for name, stats in agg.items():
        interval = runs[0]["ci"].get(name)
        ci = f"{pct(interval['low'])}–{pct(interval['high'])}" if interval else "–"
        lines.append(f"| {name} | {pct(stats['mean'])} ± {pct(stats['std'])} | {ci} |")
    if summary.get("notes"):
        lines += ["", summary["notes"]]
    return "\n".join(lines) + "\n"


def write_outputs(summary: dict[str, Any], folder: Path) -> None:
    """``results.json``, ``results.md`` and ``confusion.png`` (summed over seeds) in ``folder``."""
    (folder / "results.json").write_text(json.dumps(summary, indent=2))
    (folder / "results.md").write_text(render_table(summary))
    confusion = np.sum([np.asarray(r["confusion"]) for r in summary["runs"]], axis=0)
    title = f"{summary['recipe']} test, {summary['variant']} ({len(summary['runs'])} seeds summed)"
    plot_confusion_matrix(confusion, summary["labels"], folder / "confusion.png", title=title)


# ---------------------------------------------------------------------------------------------- run


def run_benchmark(cfg: BenchConfig) -> dict[str, Any]:
    """Run a recipe end to end; returns the summary also written to ``<out>/<recipe>/<variant>/``."""
    started = time.perf_counter()
    recipe = get_recipe(cfg.recipe)
    if cfg.modalities is not None:
        recipe = recipe.with_modalities(cfg.modalities)
    base, checkpoint, pretrained = base_model(cfg.model)
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
        runs.append(run_seed(recipe, cfg, splits, model_config, seed, folder))
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
