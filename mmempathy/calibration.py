"""Calibration fitted on dev data: per-head temperatures and the gate's per-modality reliability.

A classifier trained to low loss is over-confident on new data (Guo et al., ICML 2017): its top
probability says 0.99 where it is right 60 % of the time. Temperature scaling divides the logits by
one scalar fitted on held-out data, which fixes the confidence without changing the arg-max. Here
every head gets its own temperature (fused, and each modality), fitted by minimising the negative
log-likelihood on dev items that have that modality.

In late fusion (``FusionConfig(mode="late")``) the gate also reads each head's calibrated
confidence, and a per-modality *gate bias* is fitted on the same dev items: a modality whose dev
confidence is not matched by its dev accuracy (a voice encoder that fits its training speakers,
say) gets a negative bias and counts less.

A bias only lowers a weight, and a confidently wrong head still moves the fused answer (on CMU-MOSI's
unseen speakers the face head is near chance yet sure of itself). So last, every subset of the
modalities is tried on the same dev items, and those outside the subset with the best dev accuracy
are *excluded* from fusion (ties go to the larger subset): by construction the fused answer is at
least as good on dev as the best single head, and a user still sees an excluded modality's own
answer. All of it is stored in ``ModelConfig.calibration`` and so ships with the weights.

Example:
    >>> calibration = fit_calibration(fuser, dev_samples)  # doctest: +SKIP
    >>> fuser.set_calibration(calibration)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from mmempathy.sample import Sample
from mmempathy.train.cache import CachedDataset, iter_outputs

if TYPE_CHECKING:
    from mmempathy.model import EmotionFuser


def collect_outputs(fuser: EmotionFuser, data: Sequence[Sample] | CachedDataset, *, batch_size: int = 64) -> dict:
    """Run the model on labelled data (samples, or their cached encoder outputs) and keep what
    calibration needs, on the CPU.

    Returns:
        ``labels [n]``, fused ``logits [n, c]``, ``weights`` and ``present [n, m]``, and
        ``modality_logits`` ``{name: [n, c]}`` (rows of absent modalities are meaningless).
    """
    parts: dict[str, list] = {"labels": [], "logits": [], "weights": [], "present": []}
    per_modality: dict[str, list] = {m.value: [] for m in fuser.modalities}
    for out, labels in iter_outputs(fuser, data, batch_size=batch_size):
        parts["labels"].append(labels)
        parts["logits"].append(out.logits.float().cpu())
        parts["weights"].append(out.weights.float().cpu())
        parts["present"].append(out.present.cpu())
        for m in fuser.modalities:
            lg = out.modality_logits.get(m)
            per_modality[m.value].append(lg.float().cpu() if lg is not None else torch.zeros_like(out.logits).cpu())
    result = {k: torch.cat(v) for k, v in parts.items()}
    result["modality_logits"] = {k: torch.cat(v) for k, v in per_modality.items()}
    return result


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, steps: int = 100) -> float:
    """The temperature ``T`` minimising the NLL of ``softmax(logits / T)``; 1.0 without items.

    ``labels``: class indices ``[n]``, or target distributions ``[n, c]`` (:func:`no_evidence_targets`).

    Example:
        >>> logits = torch.tensor([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
        >>> fit_temperature(logits, torch.tensor([0, 1, 1, 0])) > 1.0
        True
    """
    if len(labels) == 0:
        return 1.0
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def no_evidence_targets(labels: torch.Tensor, num_classes: int, neutral: int) -> torch.Tensor:
    """Targets for a temperature under which what carries no emotion is no evidence: an item labelled
    ``neutral`` targets the uniform distribution (it favours no class), every other its own class.

    A head trained on dialogue (MELD) reads a plain statement ("Kids are talking by the door") as fear at
    a quarter of its mass; fitted against these targets, its temperature flattens such readings, and in late
    fusion a flat distribution adds the same to every class, so it moves nothing. The arg-max is unchanged.

    Example:
        >>> no_evidence_targets(torch.tensor([0, 2]), 3, neutral=2)
        tensor([[1.0000, 0.0000, 0.0000],
                [0.3333, 0.3333, 0.3333]])
    """
    targets = F.one_hot(labels, num_classes).float()
    targets[labels == neutral] = 1.0 / num_classes
    return targets


def fit_class_bias(logits: torch.Tensor, labels: torch.Tensor, *, steps: int = 200) -> list[float]:
    """Per-class biases ``b`` (mean zero) minimising the NLL of ``softmax(logits + b)``: a head's prior.

    A head trained on class-balanced combinations believes every class as likely as the next; what people
    say is mostly neutral (MELD: 47 % of lines). Fitted on a head's calibrated logits over natural data, the
    biases restore that prior, so that a plain statement reads as neutral rather than as the emotion its
    words lean to.

    Example:
        >>> logits = torch.zeros(4, 2)
        >>> [round(b, 2) for b in fit_class_bias(logits, torch.tensor([0, 0, 0, 1]))]
        [0.55, -0.55]
    """
    bias = torch.zeros(logits.shape[-1], requires_grad=True)
    optimizer = torch.optim.LBFGS([bias], lr=0.1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits + bias, labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return (bias.detach() - bias.detach().mean()).tolist()


def fit_gate_bias(
    outputs: dict[str, Any], names: Sequence[str], temperatures: dict[str, float], *, steps: int = 200
) -> dict[str, float]:
    """Per-modality biases of the late-fusion gate, minimising the fused NLL on dev outputs.

    The gate's weights are a softmax over present modalities, so its scores are the log of its
    weights up to a constant per item: a bias ``b`` turns weights ``w`` into ``softmax(log w + b)``
    without running the network again. The correction path (fused logits minus the mixture) is
    kept as it was. Only items with two or more modalities inform the fit.
    """
    weights, labels = outputs["weights"], outputs["labels"]
    present = outputs["present"] & (weights > 0)  # what the gate weighed (excluded modalities it never saw)
    multi = present.sum(-1) >= 2
    if not multi.any():
        return {n: 0.0 for n in names}
    log_probs = torch.stack(
        [(outputs["modality_logits"][n] / temperatures[n]).log_softmax(-1) for n in names], dim=1
    )  # b m c
    log_probs = log_probs.masked_fill(~present[..., None], 0.0)
    mixture = torch.einsum("b m, b m c -> b c", weights, log_probs)
    correction = outputs["logits"] - mixture
    log_w = torch.where(present, weights.clamp(min=1e-12).log(), torch.full_like(weights, float("-inf")))
    bias = torch.zeros(len(names), requires_grad=True)
    optimizer = torch.optim.LBFGS([bias], lr=0.1, max_iter=steps, line_search_fn="strong_wolfe")
    sel = multi.nonzero().squeeze(-1)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        w = torch.softmax(log_w[sel] + bias, dim=-1)
        fused = torch.einsum("b m, b m c -> b c", w, log_probs[sel]) + correction[sel]
        # a small pull towards zero keeps biases finite when dev data cannot tell modalities apart
        loss = F.cross_entropy(fused, labels[sel]) + 1e-3 * bias.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    centred = bias.detach() - bias.detach().mean()  # only differences between modalities matter
    return {n: float(b) for n, b in zip(names, centred)}


def select_modalities(
    fuser: EmotionFuser, samples: Sequence[Sample] | CachedDataset, calibration: dict[str, Any], *, batch_size: int = 64
) -> list[str]:
    """The modalities to exclude from fusion: those outside the subset with the best dev accuracy.

    Every non-empty subset of the modalities that dev items combine is scored on the items with two
    or more modalities (an item keeps an excluded modality when it has nothing else); ties go to the
    larger subset, so nothing is excluded unless dev says it hurts.
    """
    names = [m.value for m in fuser.modalities]
    fuser.set_calibration(calibration)
    present = collect_outputs(fuser, samples, batch_size=batch_size)["present"]
    multi = present.sum(-1) >= 2
    if not multi.any():
        return []
    given = [n for i, n in enumerate(names) if present[multi, i].any()]
    best: tuple[float, list[str]] | None = None
    for size in range(len(given), 0, -1):
        for subset in itertools.combinations(given, size):
            exclude = [n for n in given if n not in subset]
            fuser.set_calibration({**calibration, "exclude": exclude})
            outputs = collect_outputs(fuser, samples, batch_size=batch_size)
            accuracy = float((outputs["logits"][multi].argmax(-1) == outputs["labels"][multi]).float().mean())
            if best is None or accuracy > best[0]:
                best = (accuracy, exclude)
    fuser.set_calibration(calibration)
    return best[1]


def fit_calibration(
    fuser: EmotionFuser, samples: Sequence[Sample] | CachedDataset, *, batch_size: int = 64
) -> dict[str, Any]:
    """Fit and apply temperatures (and, in late fusion, gate biases) on labelled dev samples.

    The steps follow the model's data flow: each modality's temperature from its own head; then,
    since the gate reads calibrated confidence, the model is run again before the gate biases are
    fitted; last, the fused temperature on the final fused logits.

    Args:
        fuser: A trained classification model; its calibration is replaced.
        samples: Labelled dev samples (never test data), with any mix of modalities, or their cached
            encoder outputs (:meth:`mmempathy.train.FeatureCache.build`).
        batch_size: Items per forward pass.

    Returns:
        The calibration now in ``fuser.config.calibration``.
    """
    if fuser.config.task != "classification":
        raise ValueError("calibration applies to classification models")
    labels = samples.labels if isinstance(samples, CachedDataset) else [s.label for s in samples]
    if not labels or any(label is None for label in labels):
        raise ValueError("calibration needs labelled samples")
    names = [m.value for m in fuser.modalities]
    fuser.set_calibration(None)
    outputs = collect_outputs(fuser, samples, batch_size=batch_size)
    present, labels = outputs["present"], outputs["labels"]
    temperature = {
        n: fit_temperature(outputs["modality_logits"][n][present[:, i]], labels[present[:, i]])
        for i, n in enumerate(names)
    }
    calibration: dict[str, Any] = {"temperature": {"fused": 1.0, **temperature}}
    if fuser.late:
        fuser.set_calibration(calibration)
        outputs = collect_outputs(fuser, samples, batch_size=batch_size)
        calibration["gate_bias"] = fit_gate_bias(outputs, names, temperature)
    exclude = select_modalities(fuser, samples, calibration, batch_size=batch_size)
    if exclude:
        calibration["exclude"] = exclude
        if fuser.late:  # the remaining modalities' biases, fitted again without the excluded ones
            fuser.set_calibration(calibration)
            outputs = collect_outputs(fuser, samples, batch_size=batch_size)
            calibration["gate_bias"] = fit_gate_bias(outputs, names, temperature)
    fuser.set_calibration(calibration)
    outputs = collect_outputs(fuser, samples, batch_size=batch_size)
    calibration["temperature"]["fused"] = fit_temperature(outputs["logits"], outputs["labels"])
    fuser.set_calibration(calibration)
    return calibration
