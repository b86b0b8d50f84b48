"""The label-matched item pools behind the shipped ``lite`` model, and how it is scored on them.

The lite fusion is trained and evaluated on :class:`~mmempathy.data.combined.LabelMatched`
combinations of three unimodal datasets in the seven default classes (RAVDESS calm -> neutral):

| split | text | audio | face |
|---|---|---|---|
| train | MELD train | RAVDESS actors 1-16 | FER2013 train minus a stratified 10 % |
| dev | MELD dev | RAVDESS actors 17-18 | that 10 % (the benchmark runner's draw, seed 0) |
| test | MELD test | RAVDESS actors 19-24 | FER2013 PrivateTest |

No encoder trained on a dev or test item, and FER2013 PublicTest is in none of them, so choices
made on dev never look at a test image.

Example:
    >>> pools = lite_pools("../shared/data")  # doctest: +SKIP
    >>> test = LabelMatched(pools["test"], size=1500, seed=2)  # doctest: +SKIP
    >>> scores = evaluate_combos(fuser, FeatureCache(fuser, "cache").build(test))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmempathy.bench.config import BenchConfig
from mmempathy.bench.evaluate import head_metrics, predict
from mmempathy.bench.recipes import get_recipe
from mmempathy.bench.splits import load_splits
from mmempathy.data import EmotionDataset, get_dataset
from mmempathy.model import EmotionFuser
from mmempathy.output import incongruity
from mmempathy.train.cache import CachedDataset


def lite_pools(data_dir: str | Path) -> dict[str, dict[str, EmotionDataset]]:
    """``{split: {modality: dataset}}`` for ``train``, ``dev`` and ``test`` (see the module docstring)."""
    data_dir = Path(data_dir)
    pool = {
        split: {m: get_dataset(ds, data_dir / ds, split=split) for m, ds in (("text", "meld"), ("audio", "ravdess"))}
        for split in ("train", "dev", "test")
    }
    face = load_splits(get_recipe("fer2013"), BenchConfig("fer2013", data_dir=str(data_dir / "fer2013")))
    pool["train"]["face"], pool["dev"]["face"] = face["train"], face["dev"]
    pool["test"]["face"] = get_dataset("fer2013", data_dir / "fer2013", split="private_test")
    return pool


def keep_modalities(data: CachedDataset, keep: tuple[str, ...]) -> CachedDataset:
    """The same cached items with only the modalities in ``keep``."""
    return CachedDataset([{m: f for m, f in item.items() if m.value in keep} for item in data.files], data.labels)


def evaluate_combos(model: EmotionFuser, data: CachedDataset, *, batch_size: int = 64) -> dict[str, Any]:
    """Accuracy, weighted F1 and ECE of the fused output and of each head alone on cached combinations,
    with the gate's mean weight per modality and the mean incongruity of the heads."""
    outputs = predict(model, data, batch_size=batch_size, num_workers=0)
    scores: dict[str, Any] = head_metrics(outputs, len(model.labels))
    names = [m.value for m in model.modalities]
    scores["mean_weights"] = dict(zip(names, outputs["weights"].mean(0).tolist()))
    rows = [[outputs[m][i] for m in names if not np.isnan(outputs[m][i]).any()] for i in range(len(outputs["labels"]))]
    scores["mean_incongruity"] = float(np.mean([incongruity(r) for r in rows]))
    return scores
