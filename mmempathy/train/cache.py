"""Feature cache for frozen encoders: encode every sample once, then train only the fusion.

Each item's encoder output for one modality is stored as ``tokens [t, d]`` and ``mask [t]`` (cut
after the last valid token) in a safetensors file at
``<root>/<modality>-<encoder fingerprint>/<key[:2]>/<key>.safetensors``, where

* the *encoder fingerprint* hashes the encoder's config, every weight and buffer, and the compute
  precision, so a changed or retrained encoder never reads stale features, and
* the *key* hashes the encoder fingerprint with the item's prepared input for that modality (the
  processor's output: text, resampled waveform, normalised crops or features).

Frozen encoders run in eval mode (no dropout), so cached and uncached training see the same tokens.

Example:
    >>> cache = FeatureCache(fuser, "runs/cache")  # doctest: +SKIP
    >>> cached = cache.build(train_samples)  # doctest: +SKIP
    >>> out = fuser.fuse(*collate_cached([cached[0], cached[1]]))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from mmempathy.device import autocast
from mmempathy.modality import Modality
from mmempathy.sample import Sample
from mmempathy.train.data import LabelledCollate, check_labels

Encoded = dict[Modality, tuple[torch.Tensor, torch.Tensor]]


def encoder_fingerprint(fuser: Any, modality: Modality, precision: str = "fp32") -> str:
    """A hash of one encoder's identity: config, every tensor of its state, and the precision."""
    h = hashlib.sha256()
    h.update(json.dumps(fuser.config.encoder(modality).__dict__, sort_keys=True, default=str).encode())
    h.update(precision.encode())
    for name, tensor in sorted(fuser.encoders[modality.value].state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def input_hash(value: Any) -> bytes:
    """Bytes identifying one prepared input (a string or an array)."""
    if isinstance(value, str):
        return b"str:" + value.encode()
    array = np.ascontiguousarray(value)
    return f"{array.dtype}:{array.shape}:".encode() + array.tobytes()


INPUT_FIELDS = {Modality.TEXT: ("text",), Modality.AUDIO: ("audio", "sample_rate"), Modality.FACE: ("faces",)}


def only(sample: Sample, modality: Modality) -> Sample:
    """The sample with one modality's input alone."""
    return Sample(**{f: getattr(sample, f) for f in INPUT_FIELDS[modality]})


class CachedDataset(torch.utils.data.Dataset):
    """Items of cached encoder outputs: ``({modality: file}, label)``; reads its files on access."""

    def __init__(self, files: list[dict[Modality, Path]], labels: list[Any]) -> None:
        self.files, self.labels = files, labels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Encoded, Any]:
        item = {}
        for m, path in self.files[index].items():
            data = load_file(str(path))
            item[m] = (data["tokens"], data["mask"])
        return item, self.labels[index]


class PersonCentred(CachedDataset):
    """Cached items with one modality's encoder outputs read against each person's own mean, as the
    person baseline reads them at run time (``centre="features"``, :mod:`mmempathy.baseline`).

    An item whose ``modality`` file has an entry in ``offsets`` (the person's mean encoder output less
    the reference people's mean, :func:`person_offsets`) has it taken off every token with probability
    ``p`` (drawn per item and epoch, seeded), so a head learns both readings: the plain one (no person
    baseline, a short or one-emotion recording) and the centred one.

    Args:
        data: The cached items.
        modality: The modality centred (the voice: per-speaker normalisation).
        offsets: ``{cache file: [D] offset}``.
        p: Probability of reading an item centred (1: always).
        seed: Seed of the draws; :meth:`set_epoch` (called by the trainer) varies them per epoch.
    """

    def __init__(
        self, data: CachedDataset, modality: Modality, offsets: dict[Path, torch.Tensor], p: float = 0.5, seed: int = 0
    ) -> None:
        super().__init__(data.files, data.labels)
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.modality, self.offsets, self.p, self.seed, self.epoch = modality, offsets, p, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[Encoded, Any]:
        item, label = super().__getitem__(index)
        offset = self.offsets.get(self.files[index].get(self.modality))
        if offset is not None and np.random.default_rng((self.seed, self.epoch, index)).random() < self.p:
            tokens, mask = item[self.modality]
            item[self.modality] = (tokens - offset.to(tokens.dtype), mask)
        return item, label


def person_offsets(
    data: CachedDataset, people: Sequence[Any], modality: Modality, reference: torch.Tensor | None = None
) -> tuple[dict[Path, torch.Tensor], torch.Tensor]:
    """``({cache file: offset}, reference)`` for :class:`PersonCentred`: each person's mean (over their
    items in ``data``, one id per item in ``people``) of each item's mean encoder output of ``modality``,
    less ``reference`` (default: the mean of these people's means, i.e. of the training people)."""
    files = [item[modality] for item in data.files]
    means = {}
    for person in dict.fromkeys(people):
        means[person] = torch.stack([mean_tokens(f) for f, p in zip(files, people) if p == person]).mean(0)
    if reference is None:
        reference = torch.stack(list(means.values())).mean(0)
    return {f: means[p] - reference for f, p in zip(files, people)}, reference


def mean_tokens(path: Path) -> torch.Tensor:
    """The mean of one cached item's valid tokens, ``[D]``."""
    data = load_file(str(path))
    return data["tokens"][data["mask"]].float().mean(0)


def collate_cached(items: Sequence[tuple[Encoded, Any]], task: str = "classification") -> tuple[Encoded, torch.Tensor]:
    """Pad cached items into what :meth:`EmotionFuser.encode` returns, plus the labels tensor."""
    encoded: Encoded = {}
    for m in Modality:
        parts = [enc.get(m) for enc, _ in items]
        if all(p is None for p in parts):
            continue
        ref = next(p for p in parts if p is not None)[0]
        length = max(p[0].shape[0] for p in parts if p is not None)
        tokens = ref.new_zeros(len(items), length, ref.shape[-1])
        mask = torch.zeros(len(items), length, dtype=torch.bool)
        for i, p in enumerate(parts):
            if p is not None:
                tokens[i, : p[0].shape[0]], mask[i, : p[1].shape[0]] = p[0], p[1]
        encoded[m] = (tokens, mask)
    labels = [label for _, label in items]
    if task == "regression":
        return encoded, torch.tensor(np.asarray(labels, dtype=np.float32))
    return encoded, torch.tensor(labels, dtype=torch.long)


class FeatureCache:
    """Computes and stores frozen encoders' outputs on disk.

    Args:
        fuser: The model; its encoders must be frozen (nothing checks that the weights do not change
            later, but the fingerprint does: changed weights give new keys).
        root: The cache folder (shared between runs: equal encoders and inputs reuse files).
        batch_size: Items per encoder call while building.
        autocast: The context the encoders run under (bf16 autocast on CUDA, as in training).
        precision: A name for that context, part of the fingerprint.
    """

    def __init__(
        self,
        fuser: Any,
        root: str | Path,
        *,
        batch_size: int = 16,
        autocast: AbstractContextManager | None = None,
        precision: str = "fp32",
    ) -> None:
        self.fuser, self.root, self.batch_size = fuser, Path(root), batch_size
        self.autocast = autocast or nullcontext()
        self.fingerprints = {m: encoder_fingerprint(fuser, m, precision) for m in fuser.modalities}
        self.hits = self.misses = 0

    def path(self, modality: Modality, prepared: Any) -> Path:
        """Where one item's output for ``modality`` lives."""
        fp = self.fingerprints[modality]
        key = hashlib.sha256(fp.encode() + input_hash(prepared)).hexdigest()
        return self.root / f"{modality.value}-{fp[:16]}" / key[:2] / f"{key}.safetensors"

    def build(
        self, data: Sequence[Sample], *, skip_unlabelled: bool = False, progress: bool = False, desc: str = "cache"
    ) -> CachedDataset:
        """Encode what is not cached yet; return the dataset of cached items in ``data``'s order."""
        processor, fuser = self.fuser.processor, self.fuser
        files: list[dict[Modality, Path]] = []
        labels: list[Any] = []
        was_training = fuser.training
        fuser.eval()
        for start in tqdm(range(0, len(data), self.batch_size), disable=not progress, desc=desc, unit="batch"):
            samples = check_labels(
                [data[i] for i in range(start, min(start + self.batch_size, len(data)))], skip=skip_unlabelled
            )
            prepared = [processor.prepare(s) for s in samples]
            paths = [{m: self.path(m, x) for m, x in p.items()} for p in prepared]
            todo = [i for i, p in enumerate(paths) if not all(f.is_file() for f in p.values())]
            self.hits += len(samples) - len(todo)
            self.misses += len(todo)
            for m in fuser.modalities:  # per modality, each missing input once (combinations repeat inputs)
                missing = {paths[i][m]: i for i in todo if m in paths[i] and not paths[i][m].is_file()}
                if missing:
                    self.store([only(samples[i], m) for i in missing.values()], [{m: f} for f in missing])
            files += paths
            labels += [s.label for s in samples]
        fuser.train(was_training)
        return CachedDataset(files, labels)

    @torch.no_grad()
    def store(self, samples: list[Sample], paths: list[dict[Modality, Path]]) -> None:
        """Encode ``samples`` in one batch and write each item's tokens (cut after its last valid token)."""
        device = self.fuser.device
        batch = self.fuser.processor.collate(samples)
        batch = {m: {k: v.to(device) for k, v in t.items()} for m, t in batch.items()}
        with self.autocast:
            encoded = self.fuser.encode(batch)
        for m, (tokens, mask) in encoded.items():
            for i, item_paths in enumerate(paths):
                if m not in item_paths or not mask[i].any():
                    continue
                end = int(mask[i].nonzero().max()) + 1
                target = item_paths[m]
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".tmp")  # rename is atomic: a killed run never leaves half a file
                save_file(
                    {"tokens": tokens[i, :end].cpu().contiguous(), "mask": mask[i, :end].cpu().contiguous()}, str(tmp)
                )
                tmp.replace(target)


@torch.no_grad()
def iter_outputs(
    fuser: Any, data: Sequence[Sample] | CachedDataset, *, batch_size: int = 64, num_workers: int = 0
) -> Iterator[tuple[Any, torch.Tensor]]:
    """``(FuserOutput, labels)`` per batch of labelled data, in order, in eval mode (bf16 autocast on CUDA).

    Raw samples go through the encoders; a :class:`CachedDataset` (from :meth:`FeatureCache.build`)
    goes straight to :meth:`EmotionFuser.fuse`, so evaluating many combinations of the same inputs
    encodes each input once."""
    cached = isinstance(data, CachedDataset)
    task = fuser.config.task
    collate = partial(collate_cached, task=task) if cached else LabelledCollate(fuser.processor, task)
    loader = torch.utils.data.DataLoader(
        data, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate
    )
    was_training = fuser.training
    fuser.eval()
    device = fuser.device
    for inputs, labels in loader:
        with autocast(device):
            if cached:
                out = fuser.fuse({m: (t.to(device), k.to(device)) for m, (t, k) in inputs.items()})
            else:
                out = fuser({m: {k: v.to(device, non_blocking=True) for k, v in t.items()} for m, t in inputs.items()})
        yield out, labels
    fuser.train(was_training)
