"""Silero voice activity (mmempathy.media.vad) on real speech from the committed demo clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmempathy.errors import InputError
from mmempathy.media.decode import load_audio
from mmempathy.media.vad import VadOptions, VadStream, speech_timestamps

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo" / "demo.mp4"
RATE = 16_000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """The first utterance of the demo clip (RAVDESS actor 23, "Kids are talking by the door"), 0-3 s."""
    return load_audio(DEMO)[: 3 * RATE]


def test_streaming_in_odd_chunks_equals_one_push(speech):
    whole = VadStream()
    whole.push(speech)
    whole.finish()
    pieces = VadStream()
    for start in range(0, len(speech), 341):  # the size of a resampled 1024-sample AAC frame
        pieces.push(speech[start : start + 341])
    pieces.finish()
    assert len(whole.probs) == len(pieces.probs) == int(np.ceil(len(speech) / 512))
    np.testing.assert_allclose(np.array(whole.probs), np.array(pieces.probs), atol=1e-6)
    assert whole.regions == pieces.regions


def test_speech_between_silences_is_found_where_it_is(speech):
    silence = np.zeros(RATE, np.float32)
    audio = np.concatenate([silence, speech, silence, silence, speech, silence])
    regions = speech_timestamps(audio)
    assert len(regions) == 2
    # The utterance runs from about 0.1 s to 1.7 s of the 3-s piece, which starts at 1 s and at 6 s.
    for (start, end), offset in zip(regions, (1.0, 6.0)):
        assert offset <= start < offset + 0.5 and offset + 1.3 < end < offset + 2.2
    stream = VadStream()
    stream.push(audio)
    stream.finish()
    assert stream.speech_seconds(0.0, 1.0) == 0.0
    assert 1.0 < stream.speech_seconds(1.0, 4.0) < 2.0
    assert stream.speech_seconds(4.0, 6.0) == 0.0


def test_silence_and_noise_have_no_speech():
    rng = np.random.default_rng(0)
    assert speech_timestamps(np.zeros(3 * RATE, np.float32)) == []
    assert speech_timestamps(rng.normal(0, 0.3, 3 * RATE).astype(np.float32)) == []


def test_regions_close_while_streaming_and_clock_advances(speech):
    stream = VadStream(origin=10.0)
    stream.push(speech)
    stream.push(np.zeros(RATE, np.float32))
    # Closed before finish(): the pause after the utterance is longer than min_silence.
    assert len(stream.regions) == 1 and stream.open_start is None
    assert stream.regions[0][0] >= 10.0
    assert stream.clock == pytest.approx(14.0, abs=1.1)  # scored in batches of about a second


def test_bad_input():
    with pytest.raises(InputError, match="16000 Hz"):
        VadStream(sample_rate=8000)
    with pytest.raises(InputError, match="mono"):
        speech_timestamps(np.zeros((2, 100), np.float32))
    with pytest.raises(InputError, match="threshold"):
        VadOptions(threshold=1.5)


def test_quietest_frame_is_in_the_pause(speech):
    """Where speech that must be cut is cut: the least speech-like frame, here the silence between two utterances."""
    pause = np.zeros(RATE // 2, np.float32)
    stream = VadStream()
    stream.push(np.concatenate([speech[int(0.2 * RATE) : int(1.6 * RATE)], pause, speech[int(0.2 * RATE) :]]))
    middle = stream.quietest(0.5, 2.5)
    assert 1.4 <= middle <= 1.4 + 0.5 + 0.1
    assert stream.quietest(5.0, 6.0) == 6.0  # no frame scored there yet
