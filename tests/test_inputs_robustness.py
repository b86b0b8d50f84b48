"""API inputs that were accepted silently or gave misleading messages (issue 17): each is a clear InputError."""

from __future__ import annotations

import numpy as np
import pytest

from mmempathy import InputError, Modality, Sample
from mmempathy.processing import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE


def test_lone_surrogate_in_text(tiny):
    with pytest.raises(InputError, match=r"lone surrogate U\+DCE9 at index 3"):
        tiny.predict(text="caf\udce9")


def test_float_audio_on_the_int16_scale(tiny, wave):
    with pytest.raises(InputError, match=r"must be in \[-1, 1\], but it peaks at 32767 \(the int16 scale"):
        tiny.predict(audio=wave / np.abs(wave).max() * 32767, sample_rate=16000)
    tiny.predict(audio=np.clip(wave * 12, -1.3, 1.3), sample_rate=16000)  # mild overshoot is still fine


@pytest.mark.parametrize("rate", [1, 999, 10_000_000])
def test_absurd_sample_rates_name_the_accepted_range(tiny, wave, rate):
    with pytest.raises(
        InputError, match=rf"{rate} Hz is outside the accepted range {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}"
    ):
        tiny.predict(audio=wave, sample_rate=rate)


@pytest.mark.parametrize("shape", [(2, 0), (0,), (0, 2)])
def test_empty_audio_says_empty(tiny, shape):
    with pytest.raises(InputError, match=r"audio is empty"):
        tiny.predict(audio=np.zeros(shape, np.float32), sample_rate=16000)


def test_channels_first_single_crop_is_a_clear_error(tiny, rng):
    crop = rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    with pytest.raises(InputError, match=r"channels-first \[3, H, W\]"):
        tiny.predict(faces=crop.transpose(2, 0, 1))


def test_channels_first_stack_is_transposed_with_a_warning(tiny, rng):
    crops = rng.integers(0, 256, size=(2, 40, 40, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="channels-first"):
        first = tiny.processor.prepare(Sample(faces=crops.transpose(0, 3, 1, 2)))
    last = tiny.processor.prepare(Sample(faces=crops))
    np.testing.assert_array_equal(first[Modality.FACE], last[Modality.FACE])


@pytest.mark.parametrize("faces", [np.zeros((48, 48, 5), np.uint8), np.zeros((2, 48, 48, 5), np.uint8),
                                   [np.zeros((48, 48, 2), np.uint8)]], ids=["crop", "stack", "list"])  # fmt: skip
def test_wrong_channel_count_names_channels(tiny, faces):
    with pytest.raises(InputError, match=r"has \d channels .*C = 1 \(grayscale\), 3 \(RGB\) or 4 \(RGBA\)") as info:
        tiny.predict(faces=faces)
    assert "too small" not in str(info.value)


def test_one_bad_item_in_a_batch_is_named(tiny, wave):
    texts = ["fine", "also fine", "", "ok"]
    with pytest.raises(InputError, match=r"^item 2: text is empty"):
        tiny.predict(text=texts)
    samples = [Sample(text="a")] * 5 + [Sample(audio=np.zeros((2, 0)), sample_rate=16000)]
    with pytest.raises(InputError, match=r"^item 5: audio is empty"):  # counted over the whole list, not per batch
        tiny.predict_samples(samples, batch_size=2)


def test_a_whole_frame_given_as_faces_is_cropped_to_its_face(tiny):
    from mmempathy.media.faces import FaceExtractor
    from mmempathy.testing import draw_face

    frame = draw_face(np.full((360, 640, 3), 90, np.uint8), (300, 180), 80, smile=1.0)
    with pytest.warns(UserWarning, match="640x360 image looks like a whole frame"):
        got = tiny.processor.prepare(Sample(faces=frame))[Modality.FACE]
    extractor = FaceExtractor(224)
    (crop,) = extractor.main_crops([extractor(frame)])
    want = tiny.processor.prepare(Sample(faces=crop))[Modality.FACE]
    np.testing.assert_array_equal(got, want)
    # a crop-sized or square image is taken as it is, and a frame without a face is refused
    square = np.full((300, 300, 3), 90, np.uint8)
    assert tiny.processor.prepare(Sample(faces=square))[Modality.FACE].shape == want.shape
    with pytest.raises(InputError, match="640x360 image is a whole frame, not a face crop, and no face was found"):
        tiny.predict(faces=np.full((360, 640, 3), 90, np.uint8))


def test_a_waveform_given_as_a_list_of_numbers_is_refused(tiny, wave):
    with pytest.raises(InputError, match="audio is a list of numbers"):
        tiny.predict(audio=wave.tolist(), sample_rate=16000)
    assert len(tiny.predict(audio=[wave, wave[:8000]], sample_rate=16000)) == 2  # a batch of waveforms still is one
