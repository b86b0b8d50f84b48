"""Outputs of a trained model over a split, and their metrics: fused and each modality's head."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mmempathy.metrics import bootstrap_ci, classification_metrics, expected_calibration_error
from mmempathy.model import EmotionFuser
from mmempathy.train.cache import iter_outputs


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
