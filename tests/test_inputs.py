"""Every bad input ends in an InputError that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmempathy import InputError


def test_audio_without_sample_rate(tiny, wave):
    with pytest.raises(InputError, match="without sample_rate"):
        tiny.predict(audio=wave)


def test_audio_is_resampled(tiny, rng):
    wave44 = (rng.standard_normal(44100) * 0.1).astype(np.float32)
    batch = tiny.processor.collate([__import__("mmempathy").Sample(audio=wave44, sample_rate=44100)])
    from mmempathy import Modality

    assert batch[Modality.AUDIO]["waveform"].shape == (1, 16000)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text(tiny, text):
    with pytest.raises(InputError, match="text is empty"):
        tiny.predict(text=text)


def test_nan_audio(tiny, wave):
    wave[100] = np.nan
    with pytest.raises(InputError, match="NaN"):
        tiny.predict(audio=wave, sample_rate=16000)


def test_too_short_audio(tiny, wave):
    with pytest.raises(InputError, match="too short"):
        tiny.predict(audio=wave[:100], sample_rate=16000)


@pytest.mark.parametrize(
    ("faces", "message"),
    [
        (np.zeros((2, 2, 40, 40, 3), np.uint8), r"must be \[H, W\]"),
        (np.zeros((2, 40, 40, 5), np.uint8), r"must be \[H, W\]"),
        (np.zeros((40, 40, 3), np.int64), "uint8"),
        (np.full((40, 40, 3), 7.0, np.float32), r"in \[0, 1\]"),
        (np.zeros((4, 4, 3), np.uint8), "too small"),
        ([], "faces is empty"),
    ],
)
def test_bad_faces(tiny, faces, message):
    with pytest.raises(InputError, match=message):
        tiny.predict(faces=faces)


def test_face_formats_are_equivalent(tiny, rng):
    gray = rng.integers(0, 256, size=(40, 40), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    a = tiny.predict(faces=rgb)
    b = tiny.predict(faces=torch.from_numpy(rgb.astype(np.float32) / 255.0))
    c = tiny.predict(faces=[rgb])
    assert a.probs == pytest.approx(b.probs, abs=1e-5) and a.probs == pytest.approx(c.probs, abs=1e-6)


def test_no_modality(tiny):
    with pytest.raises(InputError, match="no usable modality"):
        tiny.predict()


def test_batch_lengths_must_match(tiny, wave):
    with pytest.raises(InputError, match="different lengths"):
        tiny.predict(text=["a", "b"], audio=[wave], sample_rate=16000)


def test_text_must_be_a_string(tiny):
    with pytest.raises(InputError, match="must be a string"):
        tiny.predict(text=[42])


def test_integer_pcm_is_scaled(tiny, wave):
    pcm = (wave * 32767).astype(np.int16)
    a = tiny.predict(audio=pcm, sample_rate=16000)
    b = tiny.predict(audio=wave, sample_rate=16000)
    assert a.probs == pytest.approx(b.probs, abs=1e-3)
