"""Metrics checked against scikit-learn / scipy on random data, plus bootstrap, seeds and the plot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn import metrics as skm

from mmempathy.metrics import (
    aggregate_seeds,
    bootstrap_ci,
    classification_metrics,
    expected_calibration_error,
    plot_confusion_matrix,
    sentiment_metrics,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 7, 400)
    logits = rng.normal(size=(400, 7)) + 2.0 * np.eye(7)[y] * rng.random((400, 1))
    p = logits.argmax(1)
    m = classification_metrics(torch.from_numpy(logits), y, num_classes=7)  # scores are argmaxed
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-6) and m["wa"] == m["accuracy"]
    assert m["ua"] == pytest.approx(skm.recall_score(y, p, average="macro"), abs=1e-6)
    assert m["ua"] == pytest.approx(skm.balanced_accuracy_score(y, p), abs=1e-6)
    assert m["f1_weighted"] == pytest.approx(skm.f1_score(y, p, average="weighted"), abs=1e-6)
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, p, average="macro"), abs=1e-6)
    np.testing.assert_array_equal(m["confusion"], skm.confusion_matrix(y, p, labels=range(7)))


def test_ua_differs_from_wa_on_imbalanced_data():
    y = np.array([0] * 90 + [1] * 10)
    p = np.zeros(100, dtype=int)
    m = classification_metrics(p, y, 2)
    assert m["wa"] == pytest.approx(0.9) and m["ua"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        classification_metrics(p[:5], y, 2)


def test_sentiment_matches_sklearn_and_scipy():
    rng = np.random.default_rng(0)
    y = np.round(rng.uniform(-3, 3, 300) * 3) / 3
    y[:20] = 0.0
    s = y + rng.normal(size=300)
    m = sentiment_metrics(s, y, acc7=True)
    yb, sb = y >= 0, s >= 0
    assert m["acc2"] == pytest.approx(skm.accuracy_score(yb, sb), abs=1e-6)
    assert m["f1"] == pytest.approx(skm.f1_score(yb, sb, average="weighted"), abs=1e-6)
    nz = y != 0
    assert m["acc2_nonzero"] == pytest.approx(skm.accuracy_score(yb[nz], sb[nz]), abs=1e-6)
    assert m["mae"] == pytest.approx(np.abs(s - y).mean(), abs=1e-6)
    assert m["corr"] == pytest.approx(pearsonr(s, y)[0], abs=1e-6)
    seven = lambda v: np.clip(np.round(v), -3, 3)  # noqa: E731
    assert m["acc7"] == pytest.approx((seven(s) == seven(y)).mean(), abs=1e-6)


def test_binary_probabilities_with_threshold():
    y = np.array([0, 1, 1, 0, 1])
    prob = np.array([0.2, 0.9, 0.4, 0.6, 0.7])
    m = sentiment_metrics(prob, y, threshold=0.5)
    assert m["acc2"] == pytest.approx(0.6) and m["acc2_nonzero"] == pytest.approx(0.6)


def test_bootstrap_is_seeded_and_brackets_the_value():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 3, 200))
    fn = lambda a, b: classification_metrics(a, b, 3)  # noqa: E731
    ci = bootstrap_ci(fn, p, y, n_boot=200, seed=3)
    assert "confusion" not in ci and set(ci) >= {"accuracy", "ua", "f1_weighted"}
    acc = ci["accuracy"]
    assert acc["low"] < acc["value"] < acc["high"] and acc["high"] - acc["low"] < 0.2
    assert bootstrap_ci(fn, p, y, n_boot=200, seed=3) == ci
    assert bootstrap_ci(fn, p, y, n_boot=200, seed=4) != ci
    single = bootstrap_ci(lambda a, b: float((a == b).mean()), p, y, n_boot=50)
    assert single["value"]["value"] == pytest.approx((p == y).mean())


def test_aggregate_seeds():
    runs = [
        {"f1": 0.60, "acc": 0.7, "confusion": np.eye(2)},
        {"f1": 0.64, "acc": 0.8, "confusion": np.eye(2)},
        {"f1": 0.62, "acc": 0.9},
    ]
    agg = aggregate_seeds(runs)
    assert set(agg) == {"f1", "acc"}
    assert agg["f1"]["mean"] == pytest.approx(0.62) and agg["f1"]["std"] == pytest.approx(
        np.std([0.6, 0.64, 0.62], ddof=1)
    )
    assert agg["acc"]["n"] == 3 and aggregate_seeds([{"a": 1.0}])["a"]["std"] == 0.0


def test_confusion_png(tmp_path):
    import matplotlib.image as mpimg

    cm = np.array([[50, 3, 2], [4, 30, 6], [0, 1, 9]])
    path = plot_confusion_matrix(cm, ["anger", "joy", "neutral"], tmp_path / "out" / "cm.png", title="t")
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05  # not blank
    counts = plot_confusion_matrix(cm, ["a", "b", "c"], tmp_path / "counts.png", normalize=False)
    assert counts.is_file()


@pytest.mark.parametrize("seed", [0, 1])
def test_ece_matches_a_direct_computation(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(300, 5)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    targets = rng.integers(0, 5, 300)
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, 16)
    gap = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            gap += inside.mean() * abs(conf[inside].mean() - (pred[inside] == targets[inside]).mean())
    assert expected_calibration_error(probs, targets) == pytest.approx(gap, abs=1e-5)
