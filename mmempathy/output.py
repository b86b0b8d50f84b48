"""Result types: :class:`FuserOutput` (tensors, from ``forward``) and :class:`EmotionResult` (one item)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mmempathy.modality import Modality

if TYPE_CHECKING:  # annotations only: EmotionResult and incongruity serve the torch-free ONNX runtime too
    import torch


@dataclass
class FuserOutput:
    """What ``EmotionFuser.forward`` returns for a batch.

    Attributes:
        logits: Fused head output ``[b, c]``.
        probs: Softmax of ``logits`` (classification) or the logits themselves (regression).
        modality_logits: Each present modality's own head output ``{m: [b, c]}``, read from that
            modality alone, before fusion.
        modality_probs: The same as calibrated probabilities (each head's temperature applied), or
            the values themselves (regression).
        weights: Modality weights ``[b, m]`` from the fusion gate, in the model's modality order;
            zero for absent modalities; rows sum to one.
        present: ``[b, m]`` booleans, which modalities each item had.
        modalities: The model's modalities, naming the columns of ``weights`` and ``present``.
        loss: Fused loss plus the weighted per-modality losses, when labels were given.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    modality_logits: dict[Modality, torch.Tensor]
    modality_probs: dict[Modality, torch.Tensor]
    weights: torch.Tensor
    present: torch.Tensor
    modalities: list[Modality] = field(default_factory=list)
    loss: torch.Tensor | None = None


@dataclass
class EmotionResult:
    """The prediction for one item, in plain Python types.

    Attributes:
        probs: Fused distribution over the labels (sums to one); for regression models, the predicted
            value of each target.
        modalities: Each present modality's own distribution, ``{"text": {...}, ...}``.
        weights: How much each modality counted in the fused result (the fusion gate); sums to one.
        present: The modalities the item had.
        incongruity: How much the present modalities disagree, from 0 (the same distribution, or
            one modality) to 1 (certain of different classes): see :func:`incongruity`.
        baseline: The modalities read against the person's own baseline (``predict_samples(...,
            person=...)``, ``predict_video(..., adapt="auto")``): ``{"face": {"segments": 12,
            "strength": 1.0}}``, the number of the person's items the baseline was estimated from and
            the fraction of it applied (:mod:`mmempathy.baseline`). Empty: read plainly.
        why: What moved the reading (``explain=True``; empty otherwise): the words, face frames and spans of
            speech with their contributions, and each modality's share (:mod:`mmempathy.explain`).

    Example:
        >>> r = EmotionResult(probs={"joy": 0.7, "anger": 0.3}, modalities={}, weights={"text": 1.0}, present=["text"])
        >>> r.top(1)
        [('joy', 0.7)]
    """

    probs: dict[str, float]
    modalities: dict[str, dict[str, float]]
    weights: dict[str, float]
    present: list[str] = field(default_factory=list)
    incongruity: float = 0.0
    baseline: dict[str, dict[str, float]] = field(default_factory=dict)
    why: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The most probable label."""
        return max(self.probs, key=self.probs.__getitem__)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable labels with their probabilities, best first."""
        return sorted(self.probs.items(), key=lambda kv: kv[1], reverse=True)[:k]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "label": self.label,
            "probs": dict(self.probs),
            "modalities": {k: dict(v) for k, v in self.modalities.items()},
            "weights": dict(self.weights),
            "present": list(self.present),
            "incongruity": self.incongruity,
            "baseline": {k: dict(v) for k, v in self.baseline.items()},
            **({"why": self.why} if self.why else {}),
        }

    def __repr__(self) -> str:
        best = ", ".join(f"{k}={v:.2f}" for k, v in self.top(3))
        weights = ", ".join(f"{k}={v:.2f}" for k, v in self.weights.items())
        return f"EmotionResult({best} | weights: {weights} | incongruity: {self.incongruity:.2f})"


def incongruity(distributions: list[Any]) -> float:
    """Generalised Jensen-Shannon divergence of the modalities' distributions, divided by its
    maximum (log of their number), so 0 means agreement and 1 means each is certain of a different
    class. Fewer than two distributions: 0.

    Example:
        >>> round(incongruity([[1.0, 0.0], [0.0, 1.0]]), 3), round(incongruity([[0.5, 0.5], [0.5, 0.5]]), 3)
        (1.0, 0.0)
    """
    if len(distributions) < 2:
        return 0.0
    p = np.clip(np.asarray(distributions, dtype=np.float64), 0.0, None)
    p = p / p.sum(-1, keepdims=True)

    def entropy(q: np.ndarray) -> np.ndarray:
        return -(q * np.log(np.where(q > 0, q, 1.0))).sum(-1)

    jsd = entropy(p.mean(0)) - entropy(p).mean()
    return float(np.clip(jsd / np.log(len(p)), 0.0, 1.0))
