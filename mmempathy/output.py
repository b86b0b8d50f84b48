"""Result types: :class:`FuserOutput` (tensors, from ``forward``) and :class:`EmotionResult` (one item)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from mmempathy.modality import Modality


@dataclass
class FuserOutput:
    """What ``EmotionFuser.forward`` returns for a batch.

    Attributes:
        logits: Fused head output ``[b, c]``.
        probs: Softmax of ``logits`` (classification) or the logits themselves (regression).
        modality_logits: Each present modality's own head output ``{m: [b, c]}``, read from that
            modality alone, before fusion.
        weights: Modality weights ``[b, m]`` from the fusion gate, in the model's modality order;
            zero for absent modalities; rows sum to one.
        present: ``[b, m]`` booleans, which modalities each item had.
        modalities: The model's modalities, naming the columns of ``weights`` and ``present``.
        loss: Fused loss plus the weighted per-modality losses, when labels were given.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    modality_logits: dict[Modality, torch.Tensor]
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

    Example:
        >>> r = EmotionResult(probs={"joy": 0.7, "anger": 0.3}, modalities={}, weights={"text": 1.0}, present=["text"])
        >>> r.top(1)
        [('joy', 0.7)]
    """

    probs: dict[str, float]
    modalities: dict[str, dict[str, float]]
    weights: dict[str, float]
    present: list[str] = field(default_factory=list)

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
        }

    def __repr__(self) -> str:
        best = ", ".join(f"{k}={v:.2f}" for k, v in self.top(3))
        weights = ", ".join(f"{k}={v:.2f}" for k, v in self.weights.items())
        return f"EmotionResult({best} | weights: {weights})"
