"""Checking an export against the PyTorch model: the items compared and the largest difference found."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmempathy.config import ModelConfig
from mmempathy.modality import Modality
from mmempathy.output import EmotionResult
from mmempathy.sample import Sample


def parity_samples(config: ModelConfig, *, seed: int = 0) -> list[Sample]:
    """Synthetic items with every non-empty subset of the model's modalities, of different lengths: what
    ``mmempathy export-onnx`` compares the export on."""
    import itertools

    rng = np.random.default_rng(seed)
    texts = ["Fine.", "I really can't believe you would do that to me, after everything we went through."]
    samples = []
    for k, subset in enumerate(s for n in range(1, 4) for s in itertools.combinations(config.modalities, n)):
        audio = (rng.standard_normal(int(16000 * (0.4 + 1.3 * (k % 3)))) * 0.1).astype(np.float32)
        faces = rng.integers(0, 256, (1 + k % 3, 64, 64, 3), dtype=np.uint8)
        samples.append(
            Sample(
                text=texts[k % 2] if Modality.TEXT in subset else None,
                audio=audio if Modality.AUDIO in subset else None,
                sample_rate=16000,
                faces=faces if Modality.FACE in subset else None,
            )
        )
    return samples


def max_difference(a: Sequence[EmotionResult], b: Sequence[EmotionResult]) -> float:
    """Largest absolute difference between two predictions of the same items, over the fused and each
    modality's probabilities and the modality weights (infinite where they disagree on what is present)."""
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        if x.present != y.present:
            return float("inf")
        pairs = [(x.probs, y.probs), (x.weights, y.weights)] + [(x.modalities[m], y.modalities[m]) for m in x.present]
        worst = max([worst] + [abs(p[k] - q[k]) for p, q in pairs for k in p])
    return worst
