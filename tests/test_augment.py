"""Augmentation changes faces and audio plausibly and reproducibly."""

from __future__ import annotations

import numpy as np

from mmempathy import Sample
from mmempathy.train.augment import Augmented, augment_audio, augment_face


def test_face_augmentation_keeps_shape_and_changes_pixels(rng):
    face = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    out = augment_face(face, np.random.default_rng(1))
    assert out.shape == face.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - face).mean() > 1
    rgb = augment_face(np.repeat(face[..., None], 3, -1), np.random.default_rng(1))
    assert rgb.shape == (48, 48, 3)


def test_audio_augmentation_noise_level(rng):
    wave = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32) * 0.5
    out = augment_audio(wave, np.random.default_rng(0), max_gain_db=0.0, snr_db=(20.0, 20.0), crop=1.0)
    noise = out - wave
    snr = 10 * np.log10(np.mean(wave**2) / np.mean(noise**2))
    assert abs(snr - 20) < 0.5 and out.dtype == np.float32


def test_augmented_dataset_is_reproducible_and_varies(rng):
    data = [Sample(faces=rng.integers(0, 256, (2, 48, 48), dtype=np.uint8), label=1)]
    a, b = Augmented(data, seed=3), Augmented(data, seed=3)
    first_a, first_b = a[0], b[0]
    np.testing.assert_array_equal(first_a.faces, first_b.faces)
    assert first_a.faces.shape == (2, 48, 48) and first_a.label == 1
    np.testing.assert_array_equal(a[0].faces, first_a.faces)  # same epoch, same draw
    a.set_epoch(1)
    assert not np.array_equal(a[0].faces, first_a.faces)  # a new epoch draws anew
