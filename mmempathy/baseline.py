"""A person baseline: each person's face and voice read against that person's own resting state.

A new person's resting face and voice (brow, mouth, pitch, loudness, tempo) differ from the training
people's, and a single-clip model reads that difference as emotion. When a recording holds many
segments of one person, the segments themselves say where that person's baseline lies, without
labels: this module estimates it and reads each segment relative to it (speaker normalisation, in
the spirit of Busso et al.'s iterative feature normalisation).

What is normalised (the face and speech channels; text is a person's words, not their physiology):
each head's calibrated log-probabilities, or, with ``centre="features"``, a modality's encoder outputs
where its reference carries the training people's mean (``features``): each of the person's segments
is read with the offset of the person's mean encoder output from that reference taken off every
token, the classic per-speaker feature normalisation, before the head sees it. For the
log-probabilities, for person ``p`` and modality ``m``, with ``z_i`` the centred log-probabilities of
``p``'s segments that have ``m``:

1. pick the segments that look least emotional: the ``keep`` fraction (at least ``min_segments``)
   with the highest probability of ``neutral`` under the current reading (``keep=1``: all of them);
2. the person's baseline ``b`` is their mean ``z``; the offset is ``clip(b - r, -bound, bound)``,
   where ``r`` (the *reference*) is the training people's mean, so that a person who looks like the
   training people is not moved;
3. read every segment as ``z_i - d`` and repeat from 1 (``iterations`` times).

A plain mean erases a recording that is angry from start to end. What tells the two apart is how
much the segments differ: a person who shows several emotions spreads as widely as the training
people do, one who is angry throughout hardly at all. So the offset is applied in proportion to the
person's spread (``gate``, in fractions of the training people's spread): in full for a varied
recording, not at all for a uniform one (a feature offset is gated the same way, by the spread of the
plain reading). On RAVDESS dev actors and TESS speakers the spread of a
person's mixed recordings and of their one-emotion recordings barely overlap (``benchmarks/person_baseline.py``).
A person with fewer than ``min_segments`` segments of a modality is read plainly, and the result
says so (``baseline`` has no entry for that modality).

Example:
    >>> import torch
    >>> logp = torch.log_softmax(torch.randn(6, 3), -1)
    >>> ref = {"mean": [0.0, 0.0, 0.0], "spread": 1.0}
    >>> adapted = person_shifts(logp, ["a"] * 6, ref, neutral=1, settings=BaselineSettings())
    >>> adapted.shift.shape, adapted.segments
    (torch.Size([6, 3]), [6, 6, 6, 6, 6, 6])
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from mmempathy.device import autocast
from mmempathy.errors import InputError
from mmempathy.modality import Modality
from mmempathy.output import EmotionResult
from mmempathy.sample import Sample

if TYPE_CHECKING:
    from mmempathy.model import EmotionFuser

Encoded = dict[Modality, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class BaselineSettings:
    """How a person baseline is estimated (shipped in a checkpoint's ``calibration["baseline"]``).

    Attributes:
        min_segments: Fewest segments of a person's modality for a baseline; fewer are read plainly.
        keep: Fraction of a person's segments, the least emotional ones, the baseline is estimated from.
        bound: Largest shift of any class's log-probability, in nats.
        iterations: Rounds of choosing the least emotional segments and re-estimating.
        gate: ``(low, high)``, fractions of the reference people's spread: a person whose segments
            spread less than ``low`` times it (one emotion throughout, most likely) is not shifted,
            above ``high`` times it fully, linearly in between.
        reference: Per modality, the training people's baseline: ``{"mean": [one per label]
            (centred log-probabilities), "spread": s}`` (their segments' mean standard deviation
            across segments), and optionally ``"features": [one per encoder output dimension]`` (the
            mean over the training people's segments of the mean of each segment's encoder outputs);
            a modality without one is not adapted.
        centre: ``"logits"``: shift each adapted modality's calibrated log-probabilities;
            ``"features"``: centre the encoder outputs of the modalities whose reference has
            ``features`` (the others' log-probabilities are shifted).
    """

    min_segments: int = 3
    keep: float = 1.0
    bound: float = 4.0
    iterations: int = 2
    gate: tuple[float, float] = (0.6, 0.75)
    reference: dict[str, dict[str, Any]] = field(default_factory=dict)
    centre: str = "logits"

    def __post_init__(self) -> None:
        if not (isinstance(self.min_segments, int) and self.min_segments >= 2):
            raise InputError(f"baseline min_segments must be an integer >= 2, got {self.min_segments!r}")
        if not 0 < float(self.keep) <= 1:
            raise InputError(f"baseline keep must be in (0, 1], got {self.keep!r}")
        if not (float(self.bound) >= 0 and math.isfinite(float(self.bound))):
            raise InputError(f"baseline bound must be a finite number >= 0, got {self.bound!r}")
        if not (isinstance(self.iterations, int) and self.iterations >= 1):
            raise InputError(f"baseline iterations must be an integer >= 1, got {self.iterations!r}")
        low, high = self.gate = tuple(float(g) for g in self.gate)  # type: ignore[assignment]
        if not 0 <= low < high:
            raise InputError(f"baseline gate must be (low, high) with 0 <= low < high, got {self.gate!r}")
        if self.centre not in ("logits", "features"):
            raise InputError(f"baseline centre must be 'logits' or 'features', got {self.centre!r}")
        for m, ref in self.reference.items():
            if not {"mean", "spread"} <= set(ref) <= {"mean", "spread", "features"} or not float(ref["spread"]) > 0:
                raise InputError(
                    f"baseline reference for {m} must be {{'mean': [...], 'spread': s > 0}}, optionally with 'features'"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> BaselineSettings:
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(f"unknown baseline settings: {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gate"] = list(self.gate)
        return data


def centred(logp: torch.Tensor) -> torch.Tensor:
    """Log-probabilities less their mean over the labels (a distribution's scale-free form)."""
    return logp - logp.mean(-1, keepdim=True)


def spread(z: torch.Tensor) -> float:
    """How much a person's segments differ: the mean over labels of their standard deviation."""
    return float(z.std(0, unbiased=False).mean()) if len(z) > 1 else 0.0


def estimate(
    z: torch.Tensor, reference: torch.Tensor, *, neutral: int | None, settings: BaselineSettings
) -> torch.Tensor:
    """The baseline offset of one person's segments ``z`` (``[N, C]`` centred log-probabilities) from
    ``reference``, bounded but not yet gated, ``[C]``."""
    n = len(z)
    k = min(n, max(settings.min_segments, math.ceil(settings.keep * n)))
    shift = torch.zeros_like(reference)
    for _ in range(settings.iterations):
        if neutral is None or k == n:
            chosen = z
        else:  # the least emotional segments under the current reading
            calm = (z - shift).log_softmax(-1)[:, neutral]
            chosen = z[calm.topk(k).indices]
        shift = (chosen.mean(0) - reference).clamp(-settings.bound, settings.bound)
    return shift


def strength(z: torch.Tensor, reference_spread: float, gate: tuple[float, float]) -> float:
    """How much of the offset to apply, 0..1, from how much the person's segments spread."""
    low, high = (g * reference_spread for g in gate)
    return min(1.0, max(0.0, (spread(z) - low) / (high - low)))


@dataclass
class Adaptation:
    """One modality's person baselines over a batch of items.

    Attributes:
        shift: ``[N, C]`` subtracted from each item's calibrated log-probabilities (zeros: read plainly).
        segments: Per item, how many segments its person's baseline was estimated from (0: none).
        strength: Per item, the fraction of the offset applied (see :class:`BaselineSettings` ``gate``).
        features: ``[N, D]`` subtracted from every encoder output of each item (``centre="features"``),
            or ``None``.
    """

    shift: torch.Tensor
    segments: list[int]
    strength: list[float]
    features: torch.Tensor | None = None


def person_shifts(
    logp: torch.Tensor,
    people: Sequence[Hashable | None],
    reference: Mapping[str, Any],
    *,
    neutral: int | None,
    settings: BaselineSettings,
    informs: Sequence[bool] | None = None,
    pooled: torch.Tensor | None = None,
) -> Adaptation:
    """Each item's shift under its person's baseline.

    Args:
        logp: ``[N, C]`` calibrated log-probabilities of one modality (rows of items without it are
            ignored: give those items ``None`` in ``people``).
        people: One person id per item; ``None`` is never adapted.
        reference: The modality's ``{"mean": [C], "spread": s}`` (see :class:`BaselineSettings`).
        neutral: Index of the neutral label (``None``: every segment counts alike).
        settings: See :class:`BaselineSettings`.
        informs: Per item, whether it may inform its person's baseline (default: all); an item that may
            not is still read against it. The video pipeline leaves out windows with little speech,
            which vary with where the window falls rather than with the person.
        pooled: ``[N, D]`` each item's mean encoder output: with ``settings.centre == "features"`` and a
            reference that has ``features``, the person's offset from it is what is taken off
            (``Adaptation.features``) instead of a log-probability shift.
    """
    out = Adaptation(torch.zeros_like(logp), [0] * len(people), [0.0] * len(people))
    on_features = pooled is not None and settings.centre == "features" and "features" in reference
    if on_features:
        out.features = torch.zeros_like(pooled)
        features = torch.as_tensor(reference["features"], dtype=pooled.dtype, device=pooled.device)
    z = centred(logp.float())
    mean = centred(torch.as_tensor(reference["mean"], dtype=z.dtype, device=z.device))
    for members in group_indices(people):
        basis = [i for i in members if informs is None or informs[i]]
        if len(basis) < settings.min_segments:
            continue
        zs = z[basis]
        weight = strength(zs, float(reference["spread"]), settings.gate)
        if on_features:
            out.features[members] = weight * (pooled[basis].mean(0) - features)
        else:
            out.shift[members] = (weight * estimate(zs, mean, neutral=neutral, settings=settings)).to(out.shift.dtype)
        for i in members:
            out.segments[i], out.strength[i] = len(basis), weight
    return out


def group_indices(people: Sequence[Hashable | None]) -> list[list[int]]:
    """The indices of each person's items, in first-seen order (``None`` belongs to no one)."""
    groups: dict[Hashable, list[int]] = {}
    for i, p in enumerate(people):
        if p is not None:
            groups.setdefault(p, []).append(i)
    return list(groups.values())


def people_by_modality(person: Sequence[Any], n: int, modalities: Sequence[str]) -> dict[str, list[Hashable | None]]:
    """Per-modality person ids from ``predict_samples``'s ``person`` argument.

    Each entry is one id for every modality of that item (a string, a number), a mapping from
    modality name to id (a face track and a voice are different people), or ``None``.
    """
    if isinstance(person, (str, bytes)) or not isinstance(person, Sequence):
        raise InputError(f"person must be a list with one id per sample, got {type(person).__name__}")
    if len(person) != n:
        raise InputError(f"person has {len(person)} ids for {n} samples: give one id (or None) per sample")
    out: dict[str, list[Hashable | None]] = {m: [] for m in modalities}
    for i, p in enumerate(person):
        if isinstance(p, Mapping):
            unknown = sorted(set(map(str, p)) - set(modalities))
            if unknown:
                raise InputError(f"person {i}: unknown modality {', '.join(unknown)}; known: {', '.join(modalities)}")
            ids = {m: p.get(m) for m in modalities}
        else:
            ids = dict.fromkeys(modalities, p)
        for m, pid in ids.items():
            if pid is not None and not isinstance(pid, Hashable):
                raise InputError(f"person {i}: an id must be a string or a number, got {type(pid).__name__}")
            if isinstance(pid, float) and math.isnan(pid):
                pid = None  # a missing value in a pandas column
            out[m].append(pid)
    return out


class BaselineReader:
    """Reads items batch by batch as they come, and reads them again against their people's baselines
    once all are in (a baseline needs every segment of the person).

    Only each batch's encoder outputs are kept (about 0.25 MB a segment with ``lite``), not the raw media;
    the second reading runs only the fusion, not the encoders.

    Args:
        fuser: The model (an :class:`~mmempathy.model.EmotionFuser`).
        settings: How baselines are estimated; default: the model's own (``calibration["baseline"]``).

    Raises:
        InputError: The model has no baseline references (it was not calibrated for one).
    """

    def __init__(self, fuser: EmotionFuser, settings: BaselineSettings | None = None) -> None:
        self.fuser = fuser
        self.settings = settings or fuser.baseline
        if self.settings is None or not self.settings.reference:
            raise InputError(
                "this model has no person-baseline references (calibration['baseline']): read it with "
                "adapt='off' / person=None, or calibrate one (benchmarks/person_baseline.py --fit)"
            )
        self.names = [m.value for m in fuser.modalities]
        self.adapted = [m for m in fuser.modalities if m.value in self.settings.reference]
        self.batches: list[tuple[int, Encoded]] = []  # (index of the batch's first item, its encoder outputs)
        self.count = 0
        self.logp: dict[Modality, list[torch.Tensor]] = {m: [] for m in self.adapted}
        # each item's mean encoder output, for the modalities read against a feature reference
        self.pooled: dict[Modality, list[torch.Tensor]] = {
            m: []
            for m in self.adapted
            if self.settings.centre == "features" and "features" in self.settings.reference[m.value]
        }
        self.present: list[torch.Tensor] = []
        self.people: dict[str, list[Hashable | None]] = {m.value: [] for m in self.adapted}
        self.informs: dict[str, list[bool]] = {m.value: [] for m in self.adapted}

    @torch.no_grad()
    def add(
        self,
        samples: Sequence[Sample],
        person: Sequence[Any],
        *,
        batch_size: int = 16,
        progress: bool = False,
        informs: Sequence[Mapping[str, bool]] | None = None,
    ) -> None:
        """Encode ``samples`` (``person``: one id, a ``{modality: id}`` mapping or ``None`` per sample;
        ``informs``: per sample, the modalities that may not inform the baseline mapped to ``False``)."""
        people = people_by_modality(person, len(samples), [m.value for m in self.adapted])
        for m in self.adapted:
            self.informs[m.value] += (
                [True] * len(samples) if informs is None else [bool(i.get(m.value, True)) for i in informs]
            )
        for encoded, out in self.fuser.read_batches(samples, batch_size, progress):
            n = len(out.present)
            self.batches.append((self.count, {m: (t.float().cpu(), mask.cpu()) for m, (t, mask) in encoded.items()}))
            self.count += n
            self.present.append(out.present.cpu())
            for m in self.adapted:
                probs = out.modality_probs.get(m)
                self.logp[m].append(
                    probs.float().clamp_min(1e-12).log().cpu()
                    if probs is not None
                    else torch.zeros(n, len(self.fuser.labels))
                )
            for m, pooled in self.pooled.items():
                pooled.append(mean_output(encoded, m, n, len(self.settings.reference[m.value]["features"])))
        for m, ids in people.items():
            self.people[m] += ids

    @torch.no_grad()
    def results(self) -> list[EmotionResult]:
        """Every item's result, face and voice read against their people's baselines."""
        return self._fuse(self.batches, self._adaptations())

    @torch.no_grad()
    def latest(self) -> list[EmotionResult]:
        """A stream's reading: the last batch's results, against baselines from every item so far, which
        grow as the stream goes on (a person's first segments, fewer than ``min_segments``, are read
        plainly: the warm-up). Earlier batches' encoder outputs are dropped; their log-probabilities
        stay for the baseline."""
        results = self._fuse(self.batches[-1:], self._adaptations())
        self.batches = []
        return results

    def _adaptations(self) -> dict[Modality, Adaptation]:
        present = torch.cat(self.present)
        labels = list(self.fuser.labels)
        neutral = labels.index("neutral") if "neutral" in labels else None
        adaptations: dict[Modality, Adaptation] = {}
        for m in self.adapted:
            col = self.names.index(m.value)
            people = [p if present[i, col] else None for i, p in enumerate(self.people[m.value])]
            reference = self.settings.reference[m.value]
            logp = torch.cat(self.logp[m])
            pooled = torch.cat(self.pooled[m]) if m in self.pooled else None
            adaptations[m] = person_shifts(
                logp,
                people,
                reference,
                neutral=neutral,
                settings=self.settings,
                informs=self.informs[m.value],
                pooled=pooled,
            )
        return adaptations

    def _fuse(self, batches: list[tuple[int, Encoded]], adaptations: dict[Modality, Adaptation]) -> list[EmotionResult]:
        fuser = self.fuser
        was_training = fuser.training
        fuser.eval()
        device, results = fuser.device, []
        for start, encoded in batches:
            n = next(iter(encoded.values()))[0].shape[0]
            shift = {m: a.shift[start : start + n].to(device) for m, a in adaptations.items()}
            encoded = {m: (t.to(device), mask.to(device)) for m, (t, mask) in encoded.items()}
            for m, a in adaptations.items():
                if a.features is not None and m in encoded:
                    tokens, mask = encoded[m]
                    encoded[m] = (tokens - a.features[start : start + n, None, :].to(tokens), mask)
            with autocast(device):
                out = fuser.fuse(encoded, shift=shift)
            for i, result in enumerate(fuser.to_results(out), start):
                result.baseline = {
                    m.value: {"segments": a.segments[i], "strength": round(a.strength[i], 4)}
                    for m, a in adaptations.items()
                    if a.segments[i]
                }
                results.append(result)
        fuser.train(was_training)
        return results


def mean_output(encoded: Encoded, modality: Modality, n: int, dim: int) -> torch.Tensor:
    """``[n, dim]`` each item's mean encoder output of ``modality`` over its valid tokens (zeros without it)."""
    if modality not in encoded:
        return torch.zeros(n, dim)
    tokens, mask = encoded[modality]
    weights = mask.float().unsqueeze(-1)
    return ((tokens.float() * weights).sum(1) / weights.sum(1).clamp_min(1)).cpu()
