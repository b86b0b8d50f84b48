"""Small models and separable synthetic data for the training tests (no downloads, seconds on a CPU)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from mmempathy import EmotionFuser, Sample, hub

DIMS = {"text": 8, "audio": 6, "face": 5}


def feature_fuser(*, task: str = "classification", n_labels: int = 3, dropout: float = 0.0, seed: int = 0):
    """Three ``features`` encoders and a one-block fusion, 16 wide."""
    labels = [f"c{i}" for i in range(n_labels)] if task == "classification" else ["valence"]
    config = {
        "labels": labels,
        "task": task,
        "text": {"kind": "features", "input_dim": DIMS["text"], "dim": 16},
        "audio": {"kind": "features", "input_dim": DIMS["audio"], "dim": 16},
        "face": {"kind": "features", "input_dim": DIMS["face"], "dim": 16},
        "fusion": {"dim": 16, "depth": 1, "heads": 2, "dim_head": 8, "dropout": dropout},
    }
    torch.manual_seed(seed)
    return EmotionFuser(config)


def feature_samples(n: int, *, n_labels: int = 3, seed: int = 0, task: str = "classification", noise: float = 0.3):
    """Items whose label is readable from each modality alone (class means plus noise)."""
    rng = np.random.default_rng(seed)
    means = {m: np.random.default_rng(100 + i).standard_normal((n_labels, d)) for i, (m, d) in enumerate(DIMS.items())}
    out = []
    for i in range(n):
        y = i % n_labels
        feats = {m: (means[m][y] + noise * rng.standard_normal((2, d))).astype(np.float32) for m, d in DIMS.items()}
        label = float(y) / max(1, n_labels - 1) if task == "regression" else y
        out.append(Sample(features=feats, label=label))
    return out


def tiny_fuser(**overrides) -> EmotionFuser:
    """The ``tiny`` preset (random 2-layer BERT / wav2vec2 / ViT), with config overrides per encoder."""
    config = hub.load_preset("tiny")["config"]
    for key, value in overrides.items():
        config[key] = {**config[key], **value}
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EmotionFuser(config)


def raw_samples(n: int, *, seed: int = 0, n_labels: int = 7) -> list[Sample]:
    """Text, half a second of audio and two 32 px face crops per item."""
    rng = np.random.default_rng(seed)
    words = ["happy", "sad", "angry", "calm", "scared", "surprised", "disgusted"]
    return [
        Sample(
            text=f"I feel {words[i % n_labels]} today",
            audio=(rng.standard_normal(8000) * 0.1).astype(np.float32),
            sample_rate=16000,
            faces=rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
            label=i % n_labels,
        )
        for i in range(n)
    ]
