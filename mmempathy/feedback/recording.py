"""Recording corrections: an item checked, encoded once and stored with its label and user."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmempathy.errors import InputError
from mmempathy.feedback.store import Encoded, FeedbackStore, open_store
from mmempathy.modality import Modality
from mmempathy.sample import Sample


def as_sample(item: Any) -> Sample:
    """A :class:`Sample` from a Sample, or a dict of ``predict``'s keyword arguments (``text``, ``audio``,
    ``sample_rate``, ``faces``, ``features``)."""
    if isinstance(item, Sample):
        return item
    if isinstance(item, dict) and not any(isinstance(k, Modality) for k in item):
        unknown = sorted(set(item) - {"text", "audio", "sample_rate", "faces", "features", "meta"})
        if unknown:
            raise InputError(f"unknown item fields {unknown}; use text, audio, sample_rate, faces, features")
        return Sample(**item)
    raise InputError(f"a correction's item must be a Sample or a dict of inputs, not {type(item).__name__}")


def label_name(fuser: Any, label: str | int) -> str:
    """The label's name in the model's label set; raises InputError for anything else."""
    labels = list(fuser.labels)
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        if not 0 <= int(label) < len(labels):
            raise InputError(f"label index {label} is outside 0..{len(labels) - 1}")
        return labels[int(label)]
    if isinstance(label, str) and label.strip().lower() in labels:
        return label.strip().lower()
    raise InputError(f"unknown label {label!r}; this model's labels are: {', '.join(labels)}")


class Fingerprints:
    """Encoder fingerprints of a model, computed once (hashing every weight takes a moment)."""

    _cache: dict[int, tuple[Any, dict[str, str]]] = {}

    @classmethod
    def of(cls, fuser: Any) -> dict[str, str]:
        from mmempathy.train.cache import encoder_fingerprint

        held = cls._cache.get(id(fuser))
        if held is None or held[0] is not fuser:
            held = (fuser, {m.value: encoder_fingerprint(fuser, m) for m in fuser.modalities})
            cls._cache[id(fuser)] = held
        return held[1]


@torch.no_grad()
def encode_samples(fuser: Any, samples: Sequence[Sample], *, batch_size: int = 16) -> list[Encoded]:
    """Each sample's encoder outputs, cut after its last valid token (what the store and the cache keep)."""
    was_training = fuser.training
    fuser.eval()
    out: list[Encoded] = []
    for start in range(0, len(samples), batch_size):
        chunk = list(samples[start : start + batch_size])
        for s in chunk:
            if not [m for m in s.present() if m in fuser.modalities]:
                raise InputError(
                    f"an item has none of the model's modalities ({', '.join(m.value for m in fuser.modalities)})"
                )
        batch = fuser.processor.collate(chunk)
        batch = {m: {k: v.to(fuser.device) for k, v in t.items()} for m, t in batch.items()}
        encoded = fuser.encode(batch)
        for i in range(len(chunk)):
            item = {}
            for m, (tokens, mask) in encoded.items():
                if mask[i].any():
                    end = int(mask[i].nonzero().max()) + 1
                    item[m] = (tokens[i, :end].float().cpu(), mask[i, :end].cpu())
            if not item:
                raise InputError(f"an item gave no usable input for any modality (meta={chunk[i].meta})")
            out.append(item)
    fuser.train(was_training)
    return out


def record(
    fuser: Any,
    items: Sequence[Any],
    labels: Sequence[str | int],
    *,
    user: str | None = None,
    store: str | Path | FeedbackStore | None = None,
    source: str = "api",
    metas: Sequence[dict[str, Any]] | None = None,
) -> list[int]:
    """Check, encode and store corrections, all or none (see :meth:`EmotionFuser.feedback`)."""
    if len(items) != len(labels):
        raise InputError(f"{len(items)} items but {len(labels)} labels")
    if user is not None and (not isinstance(user, str) or not user.isprintable()):
        raise InputError(f"user must be a name without control characters or lone surrogates, not {user!r}")
    names = [label_name(fuser, lab) for lab in labels]  # every label is checked before anything is encoded
    samples = [as_sample(it) for it in items]
    encoded = encode_samples(fuser, samples)
    fingerprints = Fingerprints.of(fuser)
    metas = metas or [s.meta for s in samples]
    db = open_store(fuser, store)
    return db.add(
        {
            "encoded": enc,
            "label": name,
            "user": user,
            "source": source,
            "meta": meta,
            "fingerprints": {m.value: fingerprints[m.value] for m in enc},
        }
        for enc, name, meta in zip(encoded, names, metas)
    )
