"""A recipe's train, dev and test splits: loading, dev held out of train, smoke slices, feature scaling."""

from __future__ import annotations

import dataclasses

import numpy as np

from mmempathy.bench.config import BenchConfig
from mmempathy.bench.recipes import Recipe
from mmempathy.data import EmotionDataset, get_dataset
from mmempathy.errors import InputError
from mmempathy.sample import Sample


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
