"""Evaluation metrics for emotion classification and sentiment, with seeded bootstrap intervals.

Computed with torchmetrics (the ``[bench]`` extra). Conventions, as in the emotion literature:

* WA (weighted accuracy) is plain accuracy; UA (unweighted accuracy) is the mean of per-class recalls.
* Weighted F1 weights each class's F1 by its support; macro F1 is their plain mean. Classes absent from
  both predictions and targets are ignored by the macro averages (torchmetrics' behaviour, the same as
  scikit-learn without ``labels=``).
* Sentiment: Acc-2 and F1 (weighted) on scores binarised at ``threshold`` (``>=`` is positive, i.e.
  negative vs non-negative), the same without items whose target equals ``threshold`` (``*_nonzero``,
  the other convention), MAE and Pearson correlation of the raw scores, and Acc-7 for -3..3 scores.

Example:
    >>> m = classification_metrics([0, 1, 2, 2], [0, 1, 1, 2], num_classes=3)
    >>> round(m["accuracy"], 2), round(m["ua"], 2)
    (0.75, 0.83)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional import classification as C
from torchmetrics.functional import mean_absolute_error, pearson_corrcoef

ArrayLike = np.ndarray | torch.Tensor | Sequence


def _tensor(x: ArrayLike, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(dtype) if dtype is not None else t


def _class_ids(preds: ArrayLike) -> torch.Tensor:
    """Class indices from ``[N]`` indices or ``[N, C]`` scores (logits or probabilities)."""
    t = _tensor(preds)
    return (t.argmax(-1) if t.ndim == 2 else t).long()


def classification_metrics(preds: ArrayLike, targets: ArrayLike, num_classes: int) -> dict[str, float | np.ndarray]:
    """Accuracy (= WA), UA (macro recall), weighted and macro F1, and the confusion matrix.

    Args:
        preds: Predicted class indices ``[N]`` or scores ``[N, C]``.
        targets: True class indices ``[N]``.
        num_classes: Number of classes.

    Returns:
        ``accuracy``, ``wa``, ``ua``, ``f1_weighted``, ``f1_macro`` (floats) and ``confusion``
        (``[C, C]`` int array, rows = true class, columns = predicted class).
    """
    p, t = _class_ids(preds), _tensor(targets).long()
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"preds and targets must be [N] (or preds [N, C]); got {tuple(p.shape)}, {tuple(t.shape)}")
    kw = {"num_classes": num_classes}
    acc = C.multiclass_accuracy(p, t, average="micro", **kw).item()
    return {
        "accuracy": acc,
        "wa": acc,
        "ua": C.multiclass_recall(p, t, average="macro", **kw).item(),
        "f1_weighted": C.multiclass_f1_score(p, t, average="weighted", **kw).item(),
        "f1_macro": C.multiclass_f1_score(p, t, average="macro", **kw).item(),
        "confusion": C.multiclass_confusion_matrix(p, t, **kw).numpy(),
    }


def regression_metrics(preds: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Mean absolute error and Pearson correlation (averaged over targets; torchmetrics)."""
    preds, targets = preds.float().reshape(len(preds), -1), targets.float().reshape(len(targets), -1)
    if preds.shape[1] == 1:
        preds, targets = preds[:, 0], targets[:, 0]
    corr = pearson_corrcoef(preds, targets) if len(preds) > 1 else torch.zeros(1)
    return {"mae": float(mean_absolute_error(preds, targets)), "corr": float(torch.nan_to_num(corr).mean())}


def expected_calibration_error(probs: ArrayLike, targets: ArrayLike, *, n_bins: int = 15) -> float:
    """Expected calibration error (Guo et al. 2017): the support-weighted mean gap between the top
    probability and the accuracy within ``n_bins`` equal-width confidence bins.

    Args:
        probs: Probabilities ``[N, C]`` (rows sum to one).
        targets: True class indices ``[N]``.
        n_bins: Confidence bins over [0, 1] (15 is the usual choice).

    Example:
        >>> round(expected_calibration_error([[0.9, 0.1], [0.9, 0.1]], [0, 1]), 2)
        0.4
    """
    p, t = _tensor(probs, torch.float32), _tensor(targets).long()
    if p.ndim != 2 or t.shape != p.shape[:1]:
        raise ValueError(f"probs must be [N, C] and targets [N]; got {tuple(p.shape)}, {tuple(t.shape)}")
    return C.multiclass_calibration_error(p, t, num_classes=p.shape[1], n_bins=n_bins, norm="l1").item()


def sentiment_metrics(
    preds: ArrayLike, targets: ArrayLike, *, threshold: float = 0.0, acc7: bool = False
) -> dict[str, float]:
    """Acc-2, F1, MAE and Pearson correlation of continuous sentiment scores.

    Args:
        preds: Predicted scores ``[N]`` (a regression output in -3..3, or P(positive) with ``threshold=0.5``).
        targets: True scores ``[N]`` (continuous, or 0/1 with ``threshold=0.5``).
        threshold: Scores ``>= threshold`` count as positive.
        acc7: Also give Acc-7 (scores rounded and clipped to -3..3).

    Returns:
        ``acc2``, ``f1``, ``acc2_nonzero``, ``f1_nonzero``, ``mae``, ``corr`` (and ``acc7``).
    """
    p, t = _tensor(preds, torch.float64).flatten(), _tensor(targets, torch.float64).flatten()
    if p.shape != t.shape:
        raise ValueError(f"preds and targets differ in length: {len(p)} vs {len(t)}")
    out = {**_binary(p, t, threshold)}
    nonzero = t != threshold
    out.update({f"{k}_nonzero": v for k, v in _binary(p[nonzero], t[nonzero], threshold).items()})
    out["mae"] = mean_absolute_error(p, t).item()
    out["corr"] = pearson_corrcoef(p, t).item() if len(p) > 1 else float("nan")
    if acc7:
        seven = [x.clamp(-3, 3).round().long() + 3 for x in (p, t)]
        out["acc7"] = C.multiclass_accuracy(*seven, num_classes=7, average="micro").item()
    return out


def _binary(p: torch.Tensor, t: torch.Tensor, threshold: float) -> dict[str, float]:
    if len(t) == 0:
        return {"acc2": float("nan"), "f1": float("nan")}
    pb, tb = (p >= threshold).long(), (t >= threshold).long()
    return {
        "acc2": C.binary_accuracy(pb, tb).item(),
        "f1": C.multiclass_f1_score(pb, tb, num_classes=2, average="weighted").item(),
    }


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float | Mapping[str, float]],
    preds: ArrayLike,
    targets: ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap confidence intervals over items, seeded so that reruns agree.

    Args:
        metric: ``metric(preds, targets)`` -> a float or a dict of them (non-float values are skipped),
            e.g. ``lambda p, t: classification_metrics(p, t, 7)``.
        preds: Predictions, indexed along the first axis.
        targets: Targets, indexed along the first axis.
        n_boot: Resamples.
        alpha: 1 - confidence level.
        seed: Seed of the resampling.

    Returns:
        Per metric name (``"value"`` for a float metric): ``value`` (on all items), ``low``, ``high``.

    Example:
        >>> ci = bootstrap_ci(lambda p, t: float((p == t).mean()), np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1]))
        >>> ci["value"]["value"]
        0.75
    """
    p, t = np.asarray(_tensor(preds)), np.asarray(_tensor(targets))
    full = _scalars(metric(p, t))
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in full}
    for _ in range(n_boot):
        idx = rng.integers(0, len(t), len(t))
        for k, v in _scalars(metric(p[idx], t[idx])).items():
            draws[k].append(v)
    q = (100 * alpha / 2, 100 * (1 - alpha / 2))
    return {
        k: {"value": full[k], "low": float(np.nanpercentile(v, q[0])), "high": float(np.nanpercentile(v, q[1]))}
        for k, v in draws.items()
    }


def _scalars(result: float | Mapping[str, object]) -> dict[str, float]:
    if isinstance(result, Mapping):
        return {k: float(v) for k, v in result.items() if isinstance(v, (int, float, np.floating))}
    return {"value": float(result)}


def aggregate_seeds(runs: Sequence[Mapping[str, object]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (ddof=1; 0 for one run) of each scalar metric over runs.

    Example:
        >>> aggregate_seeds([{"f1": 0.6}, {"f1": 0.8}])["f1"]["mean"]
        0.7
    """
    if not runs:
        raise ValueError("aggregate_seeds needs at least one run")
    names = [k for k in runs[0] if all(k in r for r in runs)]
    out = {}
    for name in names:
        values = [r[name] for r in runs]
        if not all(isinstance(v, (int, float, np.floating)) for v in values):
            continue
        arr = np.asarray(values, dtype=np.float64)
        std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
        out[name] = {"mean": round(float(arr.mean()), 12), "std": std, "n": len(arr)}
    return out


def plot_confusion_matrix(
    confusion: ArrayLike,
    labels: Sequence[str],
    path: str | Path,
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Save a confusion matrix as a PNG (rows true, columns predicted; row-normalised by default).

    Each cell shows the row percentage (or the count) and is shaded by it; the raw count of each true
    class is given beside its name.

    Example:
        >>> plot_confusion_matrix([[5, 1], [2, 7]], ["neg", "pos"], "cm.png")  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = np.asarray(_tensor(confusion), dtype=np.float64)
    support = cm.sum(axis=1)
    shown = cm / np.maximum(support[:, None], 1) if normalize else cm
    n = len(labels)
    fig = Figure(figsize=(1.0 + 0.75 * n, 0.8 + 0.7 * n), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    vmax = 1.0 if normalize else max(float(shown.max()), 1.0)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=vmax)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), [f"{name} ({int(s)})" for name, s in zip(labels, support)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (count)")
    for i in range(n):
        for j in range(n):
            text = f"{100 * shown[i, j]:.0f}" if normalize else f"{int(cm[i, j])}"
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="white" if shown[i, j] > vmax / 2 else "black"
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of true class" if normalize else "count")
    if normalize:
        image.colorbar.set_ticks([0, 0.25, 0.5, 0.75, 1], labels=["0", "25", "50", "75", "100"])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
