"""Build :class:`~mmempathy.rl.env.DialogueSet` s from real dialogues with a trained model.

MELD (the only dialogue data here) has text only; its clips could not be obtained. The voice and
the face a consult reveals are therefore *emulated*: for an utterance whose true label is ``y``, the
model's audio head reading of a RAVDESS clip labelled ``y`` (and the face head reading of a FER2013
face labelled ``y``), drawn with a fixed seed from a pool. So a consult is exactly as informative as
the model's own voice or face head is on real recordings of that emotion; what it cannot reproduce
is the correlation between the words and the voice of the same person. Train dialogues draw from
pools of training speakers and faces; dev and test dialogues from held-out ones.

Example:
    >>> pools = {"audio": modality_pool(fuser, ravdess_train, "audio")}  # doctest: +SKIP
    >>> data = build_dialogue_set(fuser, meld_train, pools, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mmempathy.errors import InputError
from mmempathy.fusion import masked_mean
from mmempathy.modality import Modality
from mmempathy.rl.env import DialogueSet
from mmempathy.sample import Sample


@torch.no_grad()
def readings(
    fuser: Any, samples: Sequence[Any], modality: str, *, batch_size: int = 32, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The model's calibrated head probabilities ``[N, C]`` for one modality of each item, read alone,
    and the mean-pooled encoder features ``[N, D]``.

    ``samples`` are :class:`Sample` s, or ``(encoded, label)`` pairs from the feature cache
    (:class:`mmempathy.train.cache.CachedDataset`), which skips the encoders."""
    from mmempathy.train.cache import collate_cached

    m = Modality.parse(modality)
    fuser.eval()
    probs, pooled = [], []
    for start in tqdm(range(0, len(samples), batch_size), disable=not progress, desc=f"read {m.value}"):
        chunk = [samples[i] for i in range(start, min(start + batch_size, len(samples)))]
        if isinstance(chunk[0], Sample):
            batch = fuser.processor.collate(chunk)
            if m not in batch:
                raise InputError(f"the samples have no {m.value}")
            encoded = fuser.encode({m: {k: v.to(fuser.device) for k, v in batch[m].items()}})
        else:
            cached, _ = collate_cached([({m: enc[m]} if m in enc else {}, 0) for enc, _ in chunk])
            encoded = {k: (t.to(fuser.device), v.to(fuser.device)) for k, (t, v) in cached.items()}
        if m not in encoded or not bool(encoded[m][1].any(-1).all()):
            raise InputError(f"some items have no {m.value}")
        out = fuser.fuse(encoded)
        probs.append(out.modality_probs[m].float().cpu().numpy())
        pooled.append(masked_mean(encoded[m][0].float(), encoded[m][1]).cpu().numpy())
    return np.concatenate(probs), np.concatenate(pooled)


def modality_pool(fuser: Any, samples: Sequence[Sample], modality: str, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """A pool for emulated consults: the head's readings ``[K, C]`` and the true labels ``[K]``."""
    probs, _ = readings(fuser, samples, modality, **kwargs)
    return probs, np.asarray([int(s.label) if isinstance(s, Sample) else int(s[1]) for s in samples])


def fit_projection(features: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA (mean and ``[D, dims]`` basis) fitted on training features, applied to every split."""
    mean = features.mean(0)
    _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
    return mean.astype(np.float32), vt[:dims].T.astype(np.float32)


def build_dialogue_set(
    fuser: Any,
    samples: Sequence[Sample],
    pools: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    projection: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
    progress: bool = False,
    text: tuple[np.ndarray, np.ndarray] | None = None,
) -> DialogueSet:
    """Dialogues from utterance samples whose ``meta`` has ``dialogue``, ``utterance`` and ``speaker``.

    Args:
        samples: Labelled utterances with text (any order; sorted by dialogue, then utterance).
        pools: ``{modality: (probs, labels)}`` from :func:`modality_pool`: what a consult reveals.
        projection: From :func:`fit_projection` (fitted on the training split); ``None``: no text features.
        seed: Which pool item each utterance draws.
        text: The text :func:`readings` of ``samples`` (in the given order), if already computed.
    """
    order = sorted(range(len(samples)), key=lambda i: (samples[i].meta["dialogue"], samples[i].meta["utterance"]))
    samples = [samples[i] for i in order]
    if text is not None:
        text = (text[0][order], text[1][order])
    if any(s.label is None for s in samples):
        raise InputError("every utterance needs a label")
    text_probs, pooled = text if text is not None else readings(fuser, samples, "text", progress=progress)
    targets = np.asarray([int(s.label) for s in samples])
    rng = np.random.default_rng(seed)
    c = len(fuser.labels)
    probs = {"text": text_probs}
    for m, (pool_probs, pool_labels) in pools.items():
        out = np.full((len(samples), c), 1.0 / c, dtype=np.float32)  # a label the pool lacks reveals nothing
        for y in np.unique(targets):
            where, choices = np.flatnonzero(targets == y), np.flatnonzero(pool_labels == y)
            if len(choices):
                out[where] = pool_probs[rng.choice(choices, size=len(where))]
        probs[m] = out
    dialogues = [s.meta["dialogue"] for s in samples]
    starts = [i for i in range(len(samples)) if i == 0 or dialogues[i] != dialogues[i - 1]]
    speaker_ids: list[int] = []
    first, names = set(starts), {}
    for i, s in enumerate(samples):  # speakers numbered within each dialogue
        if i in first:
            names = {}
        speaker_ids.append(names.setdefault(str(s.meta["speaker"]), len(names)))
    features = (pooled - projection[0]) @ projection[1] if projection is not None else np.zeros((len(samples), 0))
    return DialogueSet(
        labels=tuple(fuser.labels),
        probs=probs,
        features=features.astype(np.float32),
        targets=targets,
        speakers=np.asarray(speaker_ids),
        offsets=np.asarray(starts + [len(samples)]),
        meta=dict(meta or {}) | {"pools": {m: int(len(p[1])) for m, p in pools.items()}, "seed": seed},
    )
