"""Training-time augmentation of raw samples (faces and speech), as a dataset wrapper.

Face crops get a random horizontal flip, a small random rotation / scale / shift, and brightness and
contrast jitter; with ``video_faces=True`` they also get what a face detector's crop of a video frame
has and a FER2013 image lacks (:func:`video_face`): looser or tighter framing around the face box, a
larger tilt, lost resolution, codec (JPEG) blocking, blur, a colour cast undone by the processor's
own grayscale conversion, and gamma. Waveforms get a random gain, additive noise at a random signal-to-noise ratio and a
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


def video_face(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    frame: tuple[float, float] = (0.85, 1.2),
    max_rotate: float = 15.0,
    min_resolution: float = 0.35,
    jpeg_quality: tuple[int, int] = (25, 90),
    max_blur: float = 1.2,
    max_tint: float = 0.25,
    max_gamma: float = 0.35,
) -> np.ndarray:
    """A uint8 crop made to look like a detector's crop of a video frame (same shape and dtype).

    Args:
        image: ``[H, W]`` or ``[H, W, 3]`` uint8 (a FER2013 image, say).
        rng: The draws' source (seeded per epoch and item by :class:`Augmented`).
        frame: Range of the crop's side relative to the image's (below 1 zooms in, above 1 shows
            more around the face, the replicated border standing in for the scene): a detector's box
            and margin never frame a face exactly as FER2013 did.
        max_rotate: Largest tilt in degrees (heads roll; alignment removes only part of it).
        min_resolution: Least fraction of the side kept before scaling back up (a small face in a
            frame has few pixels).
        jpeg_quality: Range of JPEG qualities, applied at the reduced size, standing in for H.264's
            blocking on a small face; each step of the chain runs with probability one half.
        max_blur: Largest Gaussian blur sigma, in pixels of the output (motion and focus).
        max_tint: Largest per-channel gain change of a colour cast, which the processor's
            RGB -> gray conversion (``cv2.COLOR_RGB2GRAY`` on floats in [0, 1]) turns into uneven grays.
        max_gamma: Largest change of the gamma exponent (exposure of video differs from photos).
    """
    h, w = image.shape[:2]
    zoom = rng.uniform(*frame)
    angle = rng.uniform(-max_rotate, max_rotate)
    shift = rng.uniform(-0.08, 0.08, size=2) * (w, h)
    warp = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0 / zoom)
    warp[:, 2] += shift
    out = cv2.warpAffine(np.ascontiguousarray(image), warp, (w, h), borderMode=cv2.BORDER_REPLICATE)
    steps = rng.random(5) < 0.5  # drawn at once, so every item makes the same number of draws per step
    resolution, quality = rng.uniform(min_resolution, 1.0), int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
    sigma, gains, gamma = rng.uniform(0.3, max_blur), 1.0 + rng.uniform(-max_tint, max_tint, 3), rng.uniform(-1, 1)
    small = out
    if steps[0]:
        size = (max(8, round(w * resolution)), max(8, round(h * resolution)))
        small = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
    if steps[1]:
        encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        small = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED).reshape(small.shape)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) if small.shape[:2] != (h, w) else small
    if steps[2]:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    pixels = out.astype(np.float32) / 255.0
    if steps[3]:
        rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=-1)
        rgb = np.clip(rgb * gains.astype(np.float32), 0.0, 1.0)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # what Processor.prepare_face does to RGB crops
        pixels = gray if pixels.ndim == 2 else rgb
    if steps[4]:
        pixels = pixels ** (2.0 ** (gamma * max_gamma))
    return np.clip(pixels * 255.0 + 0.5, 0, 255).astype(np.uint8)


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


def augment_sample(sample: Sample, rng: np.random.Generator, *, video_faces: bool = False) -> Sample:
    """A copy of ``sample`` with its faces and audio augmented (text and features untouched).

    ``video_faces`` adds :func:`video_face` after :func:`augment_face` on every crop.
    """
    changes = {}
    if sample.faces is not None:
        faces = sample.faces if isinstance(sample.faces, (list, tuple)) else np.asarray(sample.faces)
        if isinstance(faces, np.ndarray) and faces.ndim in (2, 3) and (faces.ndim == 2 or faces.shape[-1] == 3):
            faces = [faces]  # a single crop
        out = [augment_face(np.asarray(f), rng) for f in faces]
        if video_faces:  # drawn after the plain draws, so that runs without it draw exactly as before
            out = [video_face(f, rng) for f in out]
        changes["faces"] = np.stack(out)
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
        video_faces: Also make face crops look like a detector's crops of video (:func:`video_face`);
            for training a face model on FER-style images that will read faces cut from video.
    """

    def __init__(self, dataset: Sequence[Sample], seed: int = 0, *, video_faces: bool = False) -> None:
        self.dataset, self.seed, self.epoch, self.video_faces = dataset, seed, 0, video_faces

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random draws the next items use."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return augment_sample(self.dataset[index], rng, video_faces=self.video_faces)
