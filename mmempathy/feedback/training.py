"""Training an adapter: corrections mixed with replay data, held to the base model by distillation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from mmempathy.config import coerce
from mmempathy.errors import InputError
from mmempathy.feedback.adapter import Adapter, AdaptSettings
from mmempathy.feedback.files import adapter_path, check_adapter_directory
from mmempathy.feedback.recording import Fingerprints, encode_samples
from mmempathy.feedback.store import Correction, Encoded, FeedbackStore, counts_text, now, open_store
from mmempathy.output import FuserOutput
from mmempathy.sample import Sample

log = logging.getLogger(__name__)


ReplayItem = tuple[Encoded, int]


def replay_items(fuser: Any, replay: Any) -> list[ReplayItem]:
    """Replay data as ``(encoded, label index)``: from a feature-cache dataset (or any sequence of such
    pairs) or from labelled :class:`Sample` s (encoded here)."""
    if replay is None:
        return []
    items = list(replay)
    if items and isinstance(items[0], Sample):
        labelled = [s for s in items if s.label is not None]
        return list(zip(encode_samples(fuser, labelled), [int(s.label) for s in labelled]))
    return [(enc, int(lab)) for enc, lab in items]


def collate(items: Sequence[ReplayItem], device: torch.device) -> tuple[Encoded, torch.Tensor]:
    from mmempathy.train.cache import collate_cached

    encoded, labels = collate_cached(items)
    return {m: (t.to(device), k.to(device)) for m, (t, k) in encoded.items()}, labels.to(device)


@torch.no_grad()
def base_logits(fuser: Any, items: Sequence[ReplayItem], batch_size: int = 64) -> torch.Tensor:
    """The model's fused logits (no adapter) for encoded items."""
    held = fuser.adapter
    fuser.use_adapter(None)
    try:
        parts = [
            fuser.fuse(collate(items[i : i + batch_size], fuser.device)[0]).logits.float()
            for i in range(0, len(items), batch_size)
        ]
    finally:
        fuser.use_adapter(held)
    return torch.cat(parts) if parts else torch.zeros(0, len(fuser.labels))


Outputs = dict[str, tuple[torch.Tensor, torch.Tensor]]


def anchored(fuser: Any, out: FuserOutput) -> Outputs:
    """What the anchor holds in place in one output: ``{"fused": (calibrated logits, all items)}`` and,
    for each modality head, ``(its log-probabilities, the items that have that modality)``. Late fusion
    mixes the heads without a gradient into them (:func:`lora_loss` trains each on its own), so a
    LoRA adapter's heads need their own anchor; the calibration head only changes the fused logits."""
    parts = {"fused": (out.logits.float() / fuser.temperatures[0].float(), torch.ones_like(out.present[:, 0]))}
    for m, probs in out.modality_probs.items():
        parts[m.value] = (probs.float().clamp_min(1e-12).log(), out.present[:, out.modalities.index(m)])
    return parts


@torch.no_grad()
def base_outputs(fuser: Any, items: Sequence[ReplayItem], batch_size: int = 64) -> Outputs:
    """:func:`anchored` outputs of the model without its adapter, for every item (absent rows: mask off)."""
    held = fuser.adapter
    fuser.use_adapter(None)
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"fused": []}
    try:
        for i in range(0, len(items), batch_size):
            chunk = anchored(fuser, fuser.fuse(collate(items[i : i + batch_size], fuser.device)[0]))
            n = len(chunk["fused"][0])
            for m in ["fused", *(m.value for m in fuser.modalities)]:
                values, mask = chunk.get(m, (torch.zeros(n, len(fuser.labels)), torch.zeros(n, dtype=torch.bool)))
                parts.setdefault(m, []).append((values.to(fuser.device), mask.to(fuser.device)))
    finally:
        fuser.use_adapter(held)
    if not items:
        return {"fused": (torch.zeros(0, len(fuser.labels)), torch.zeros(0, dtype=torch.bool))}
    return {m: (torch.cat([v for v, _ in p]), torch.cat([k for _, k in p])) for m, p in parts.items()}


def lora_loss(fuser: Any, items: Sequence[ReplayItem]) -> tuple[torch.Tensor, FuserOutput]:
    """Cross-entropy of the fused output plus that of each modality's own calibrated head: late fusion
    mixes the heads' outputs without a gradient into them, so the heads learn from their own loss (as
    in training). Returns the loss and the output (what the anchor compares)."""
    encoded, labels = collate(items, fuser.device)
    out = fuser.fuse(encoded)
    loss = F.cross_entropy(out.logits.float() / fuser.temperatures[0], labels)
    for m, probs in out.modality_probs.items():
        keep = out.present[:, out.modalities.index(m)]
        if keep.any():
            loss = loss + F.nll_loss(probs[keep].clamp_min(1e-12).log(), labels[keep])
    return loss, out


def anchor_loss(logits: torch.Tensor, base: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 KL(p_base || p_adapted)`` at softening ``T``, mean over items: how far the adapted model's
    predictions moved from the base model's. ``T^2`` keeps its gradients' scale independent of ``T``
    (Hinton et al. 2015, "Distilling the knowledge in a neural network"). ``logits`` and ``base`` are
    calibrated logits or log-probabilities."""
    if not len(logits):
        return logits.sum() * 0.0
    return F.kl_div(
        F.log_softmax(logits / temperature, -1),
        F.log_softmax(base / temperature, -1),
        log_target=True,
        reduction="batchmean",
    ) * (temperature**2)


def anchor_term(adapted: Outputs, base: Outputs, rows: torch.Tensor, temperature: float) -> torch.Tensor:
    """The sum of :func:`anchor_loss` over every output ``adapted`` has, on the replay ``rows`` that have it."""
    total = torch.zeros((), device=adapted["fused"][0].device)
    for key, (values, mask) in adapted.items():
        base_values, base_mask = base[key][0][rows], base[key][1][rows]
        keep = mask & base_mask
        total = total + anchor_loss(values[keep], base_values[keep], temperature)
    return total


def train_adapter(
    fuser: Any,
    corrections: Sequence[ReplayItem],
    replay: Sequence[ReplayItem] = (),
    settings: AdaptSettings | dict[str, Any] | None = None,
    *,
    info: dict[str, Any] | None = None,
) -> Adapter:
    """Train an adapter on ``corrections`` mixed with ``replay``; returns it attached to ``fuser``.

    Each step draws ``batch_size`` corrections and ``replay_ratio`` times as many replay items. The
    loss, for ``k`` corrections::

        CE(corrections) + replay_weight * CE(replay) + (anchor / k) * T^2 KL(base || adapted on replay)
            + weight_decay * |adapter|^2

    The third term is a prior that the adapted model agrees with the base model away from the user's
    corrections (:func:`anchor_term`: distillation from the base model's own predictions on the replay
    items, computed once; for LoRA also each modality head's). Its strength is ``anchor``
    corrections' worth: the corrections' cross-entropy is a mean, so ``k`` corrections weigh
    ``k : anchor`` against it, a handful moves the model little and it gives way as they accumulate.
    The base model stays in eval mode and frozen; only the adapter's numbers change.
    """
    settings = coerce(AdaptSettings, settings or {})
    if not corrections:
        raise InputError("no corrections to adapt on")
    adapter = Adapter(settings, fuser.labels, info)
    fuser.use_adapter(None)
    gen = torch.Generator().manual_seed(settings.seed)
    was_training = fuser.training
    fuser.eval()
    lr = settings.lr or (0.05 if settings.kind == "calibration" else 2e-3)
    temperature = fuser.temperatures[0].float()
    repl_base = base_outputs(fuser, replay)  # the anchor's targets
    if settings.kind == "calibration":  # the head reads only the fused logits: compute them once
        corr_z, repl_z = base_logits(fuser, corrections), base_logits(fuser, replay)
    fuser.use_adapter(adapter)
    params = adapter.parameters(fuser)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    corr_y = torch.tensor([y for _, y in corrections], dtype=torch.long, device=fuser.device)
    repl_y = torch.tensor([y for _, y in replay], dtype=torch.long, device=fuser.device)
    n_corr = min(settings.batch_size, len(corrections))
    n_repl = min(len(replay), int(round(settings.replay_ratio * n_corr)))
    anchor = settings.anchor / len(corrections)
    with torch.enable_grad():
        for _ in range(settings.steps):
            ci = torch.randperm(len(corrections), generator=gen)[:n_corr]
            ri = torch.randperm(len(replay), generator=gen)[:n_repl] if n_repl else None
            if settings.kind == "calibration":
                loss = F.cross_entropy(adapter.head(corr_z[ci]) / temperature, corr_y[ci])
                if ri is not None:
                    repl_logits = adapter.head(repl_z[ri]) / temperature
                    loss = loss + settings.replay_weight * F.cross_entropy(repl_logits, repl_y[ri])
                    adapted = {"fused": (repl_logits, torch.ones_like(ri, dtype=torch.bool))}
            else:
                loss = lora_loss(fuser, [corrections[i] for i in ci])[0]
                if ri is not None:
                    repl_loss, out = lora_loss(fuser, [replay[i] for i in ri])
                    loss = loss + settings.replay_weight * repl_loss
                    adapted = anchored(fuser, out)
            if ri is not None and anchor > 0:
                loss = loss + anchor * anchor_term(adapted, repl_base, ri, settings.distill_temperature)
            loss = loss + settings.weight_decay * sum((p.float() ** 2).sum() for p in params)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    fuser.train(was_training)
    return adapter


def adapt(
    fuser: Any,
    *,
    user: str | None = None,
    store: str | Path | FeedbackStore | None = None,
    replay: Any = None,
    settings: AdaptSettings | dict[str, Any] | None = None,
    name: str | None = None,
    directory: str | Path | None = None,
    save: bool = True,
) -> Adapter:
    """Train an adapter on ``user``'s stored corrections (see :meth:`EmotionFuser.adapt`)."""
    settings = coerce(AdaptSettings, settings or {})
    name = name or (user or "default")
    target = adapter_path(fuser, name, directory)
    if save:
        check_adapter_directory(target)  # before training: a folder it may not replace is refused first
    db = open_store(fuser, store)
    usable, skipped = usable_corrections(fuser, db.corrections(user))
    if db.damaged:
        skipped["damaged"] = len(db.damaged)
    why = counts_text(skipped)
    if not usable:
        raise InputError(f"no usable corrections for user {user!r} in {db.path}" + (f" ({why})" if why else ""))
    if skipped:
        log.warning("adapting on %d correction(s) of %r; left out: %s", len(usable), user, why)
    index = {lab: i for i, lab in enumerate(fuser.labels)}
    corrections = [({m: v for m, v in c.encoded.items() if m in fuser.modalities}, index[c.label]) for c in usable]
    info = {
        "name": name,
        "user": user,
        "corrections": len(corrections),
        "skipped": skipped,
        "created": now(),
        "store": str(db.path),
        "replay": 0,
    }
    items = replay_items(fuser, replay)
    info["replay"] = len(items)
    adapter = train_adapter(fuser, corrections, items, settings, info=info)
    if save:
        adapter.save(target, fuser)
    return adapter


def usable_corrections(fuser: Any, rows: Sequence[Correction]) -> tuple[list[Correction], dict[str, int]]:
    """The corrections this model can learn from, and how many were left out for each reason."""
    fingerprints = Fingerprints.of(fuser)
    widths = {m: getattr(fuser.encoders[m.value], "output_dim", None) for m in fuser.modalities}
    usable, skipped = [], {}
    for c in rows:
        if c.label not in fuser.labels:
            reason = "with a label this model lacks"
        elif not all(fingerprints.get(m) == fp for m, fp in c.fingerprints.items()):
            reason = "encoded by other encoders"
        elif not any(m in fuser.modalities for m in c.encoded):
            reason = "with none of this model's modalities"
        elif any(widths.get(m) not in (None, t.shape[-1]) for m, (t, _) in c.encoded.items()):
            reason = "whose features are not as wide as this model's encoders give"
        else:
            usable.append(c)
            continue
        skipped[reason] = skipped.get(reason, 0) + 1
    return usable, skipped
