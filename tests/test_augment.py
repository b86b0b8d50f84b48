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


def fer_like_face() -> np.ndarray:
    """A 48x48 gray 'face': a bright oval with two dark eyes and a mouth on a darker ground."""
    import cv2

    face = np.full((48, 48), 60, np.uint8)
    cv2.ellipse(face, (24, 26), (15, 19), 0, 0, 360, 170, -1)
    for x in (18, 30):
        cv2.circle(face, (x, 21), 2, 40, -1)
    cv2.line(face, (19, 35), (29, 35), 50, 2)
    return face


def test_video_face_keeps_shape_dtype_and_range_and_changes_the_crop():
    from mmempathy.train.augment import video_face

    face = fer_like_face()
    outs = [video_face(face, np.random.default_rng(i)) for i in range(20)]
    assert all(o.shape == (48, 48) and o.dtype == np.uint8 for o in outs)
    diffs = [np.abs(o.astype(int) - face).mean() for o in outs]
    assert min(diffs) > 0.5 and max(diffs) > 10  # always changed, sometimes strongly
    assert abs(np.mean([o.mean() for o in outs]) - face.mean()) < 0.15 * face.mean()  # no drift to black or white
    rgb = video_face(np.repeat(face[..., None], 3, -1), np.random.default_rng(0))
    assert rgb.shape == (48, 48, 3) and rgb.dtype == np.uint8


def test_video_face_steps_do_what_they_say():
    from mmempathy.train.augment import video_face

    face = fer_like_face()
    still = {"frame": (1.0, 1.0), "max_rotate": 0.0, "min_resolution": 1.0, "jpeg_quality": (100, 100)}
    calm = {**still, "max_blur": 0.3, "max_tint": 0.0, "max_gamma": 0.0}
    # nothing drawn changes the image much: only the shift and a JPEG at quality 100 remain
    calm_outs = [video_face(face, np.random.default_rng(i), **calm) for i in range(8)]
    rough_outs = [video_face(face, np.random.default_rng(i), jpeg_quality=(5, 5), min_resolution=0.2) for i in range(8)]
    calm_err = np.mean([np.abs(o.astype(int) - face).mean() for o in calm_outs])
    rough_err = np.mean([np.abs(o.astype(int) - face).mean() for o in rough_outs])
    assert rough_err > calm_err + 3
    # zooming out shows more around the face: the oval covers less of the crop
    wide = video_face(face, np.random.default_rng(0), **{**calm, "frame": (1.6, 1.6)})
    assert (wide > 120).mean() < (face > 120).mean() * 0.7


def test_video_augmentation_follows_seed_and_epoch_and_leaves_plain_draws_alone(rng):
    data = [Sample(faces=np.stack([fer_like_face()] * 2), label=1)]
    a, b = Augmented(data, seed=3, video_faces=True), Augmented(data, seed=3, video_faces=True)
    np.testing.assert_array_equal(a[0].faces, b[0].faces)  # same seed, epoch and index: the same draw
    np.testing.assert_array_equal(a[0].faces, a[0].faces)
    assert a[0].faces.shape == (2, 48, 48) and a[0].faces.dtype == np.uint8
    first = a[0].faces
    a.set_epoch(1)
    assert not np.array_equal(a[0].faces, first)
    b.set_epoch(1)
    np.testing.assert_array_equal(a[0].faces, b[0].faces)  # a resumed run at epoch 1 draws the same
    plain = Augmented(data, seed=3)
    assert not np.array_equal(plain[0].faces, Augmented(data, seed=3, video_faces=True)[0].faces)
