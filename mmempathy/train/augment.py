"""Training-time augmentation of raw samples (faces and speech), as a dataset wrapper.

Face crops get a random horizontal flip, a small random rotation / scale / shift, and brightness and
contrast jitter; waveforms get a random gain, additive noise at a random signal-to-noise ratio and a
random crop. Augmentation runs on raw :class:`Sample` inputs, before the processor, so it works with
any encoder.

Example:
    >>> from mmempathy.train.augment import Augmented
    >>> train_set = Augmented(train_set, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
from torch.utils.data import Dataset

from mmempathy.sample import Sample


def augment_face(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    max_rotate: float = 10.0,
    max_scale: float = 0.1,
    max_shift: float = 0.1,
    jitter: float = 0.2,
) -> np.ndarray:
    """One uint8 crop ``[H, W]`` or ``[H, W, 3]``, randomly flipped, warped and jittered."""
    h, w = image.shape[:2]
    if rng.random() < 0.5:
        image = image[:, ::-1]
    angle = rng.uniform(-max_rotate, max_rotate)
    scale = 1.0 + rng.uniform(-max_scale, max_scale)
    warp = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    warp[:, 2] += rng.uniform(-max_shift, max_shift, size=2) * (w, h)
    image = cv2.warpAffine(np.ascontiguousarray(image), warp, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    contrast, brightness = 1.0 + rng.uniform(-jitter, jitter), rng.uniform(-jitter, jitter) * 128
    return np.clip(image.astype(np.float32) * contrast + brightness, 0, 255).astype(np.uint8)


def augment_audio(
    wave: np.ndarray,
    rng: np.random.Generator,
    *,
    max_gain_db: float = 6.0,
    snr_db: tuple[float, float] = (15.0, 40.0),
    crop: float = 0.9,
) -> np.ndarray:
    """A float waveform with random gain, white noise at a random SNR, and a random crop of >= ``crop``."""
    keep = int(len(wave) * rng.uniform(crop, 1.0))
    start = int(rng.integers(0, len(wave) - keep + 1))
    wave = wave[start : start + keep] * 10 ** (rng.uniform(-max_gain_db, max_gain_db) / 20)
    power = float(np.mean(wave**2)) + 1e-10
    noise = rng.standard_normal(len(wave)) * np.sqrt(power / 10 ** (rng.uniform(*snr_db) / 10))
    return np.clip(wave + noise, -1.0, 1.0).astype(np.float32)


def augment_sample(sample: Sample, rng: np.random.Generator) -> Sample:
    """A copy of ``sample`` with its faces and audio augmented (text and features untouched)."""
    changes = {}
    if sample.faces is not None:
        faces = sample.faces if isinstance(sample.faces, (list, tuple)) else np.asarray(sample.faces)
        if isinstance(faces, np.ndarray) and faces.ndim in (2, 3) and (faces.ndim == 2 or faces.shape[-1] == 3):
            faces = [faces]  # a single crop
        changes["faces"] = np.stack([augment_face(np.asarray(f), rng) for f in faces])
    if sample.audio is not None:
        changes["audio"] = augment_audio(np.asarray(sample.audio, dtype=np.float32), rng)
    return dataclasses.replace(sample, **changes)


class Augmented(Dataset):
    """Wraps a dataset of samples and augments every item it hands out.

    Each draw is seeded by ``seed``, the epoch (which the trainer sets through :meth:`set_epoch`, as
    for a ``DistributedSampler``) and the item index: every epoch sees new augmentations, DataLoader
    workers agree, and a resumed run repeats an uninterrupted one exactly.

    Args:
        dataset: Any sequence of :class:`Sample`.
        seed: Base seed.
    """

    def __init__(self, dataset: Sequence[Sample], seed: int = 0) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random draws the next items use."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:
        return augment_sample(self.dataset[index], np.random.default_rng([self.seed, self.epoch, index]))
