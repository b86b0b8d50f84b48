"""Decoding through PyAV: sampling, audio resampling, laziness, and every way a file can be bad."""

from __future__ import annotations

import inspect

import av
import numpy as np
import pytest

from mmempathy.errors import InputError
from mmempathy.media import decode
from mmempathy.testing import tone, write_clip


def frames(n: int, height: int = 72, width: int = 128):
    for i in range(n):
        image = np.zeros((height, width, 3), np.uint8)
        image[..., 0] = i * 5  # the frame index, readable back after lossy coding
        yield image


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """4 s, 10 fps, 440 Hz tone at 16 kHz."""
    return write_clip(tmp_path_factory.mktemp("decode") / "clip.mp4", frames(40), fps=10, audio=tone(4.0, 440.0))


def test_probe_reads_streams_and_duration(clip):
    info = decode.probe(clip)
    assert info.has_video and info.has_audio
    assert info.duration == pytest.approx(4.0, abs=0.1)
    assert (info.width, info.height) == (128, 72)
    assert info.fps == pytest.approx(10.0)


@pytest.mark.parametrize("fps", [2.0, 1.0])
def test_frames_are_sampled_at_the_requested_rate(clip, fps):
    ticks = [k / fps for k in range(round(4 * fps))]
    got = list(decode.iter_frames(clip, fps=fps, skip_nonref=False))
    assert [round(f.time, 2) for f in got] == ticks
    # Each frame's time matches its content: frame k was painted with red = 5 k.
    reds = [int(np.median(f.image[..., 0])) for f in got]
    assert reds == pytest.approx([round(t * 10) * 5 for t in ticks], abs=4)
    assert got[0].image.dtype == np.uint8 and got[0].image.shape == (72, 128, 3)


def test_skipping_non_reference_frames_keeps_one_frame_per_tick(clip):
    got = list(decode.iter_frames(clip, fps=2.0))
    assert len(got) == 8
    assert all(k / 2 <= f.time <= k / 2 + 0.3 for k, f in enumerate(got))  # at most a few frames late
    reds = [int(np.median(f.image[..., 0])) for f in got]
    assert reds == pytest.approx([round(f.time * 10) * 5 for f in got], abs=4)


def test_every_frame_without_fps_and_downscaled_frames(clip):
    assert len(list(decode.iter_frames(clip, fps=None))) == 40
    frame = next(decode.iter_frames(clip, fps=2, max_side=64))
    assert frame.image.shape == (36, 64, 3)


def test_fast_decoding_keeps_every_tick_and_changes_pixels_only_a_little(tmp_path):
    """``fast=True`` (no deblocking filter, fast bilinear downscaling): the same frames at the same times,
    their pixels a little off, and the audio untouched."""
    rng = np.random.default_rng(0)
    textured = [np.clip(rng.normal(120, 40, (360, 640, 3)) + i, 0, 255).astype(np.uint8) for i in range(30)]
    path = write_clip(tmp_path / "textured.mp4", textured, fps=10, audio=tone(3.0), crf=35)
    plain = list(decode.iter_media(path, fps=2.0, max_side=320))
    fast = list(decode.iter_media(path, fps=2.0, max_side=320, fast=True))
    assert [(type(a), a.time) for a in plain] == [(type(b), b.time) for b in fast]
    pairs = [(a, b) for a, b in zip(plain, fast) if isinstance(a, decode.VideoFrame)]
    assert len(pairs) == 6 and all(a.image.shape == b.image.shape == (180, 320, 3) for a, b in pairs)
    differences = [np.abs(a.image.astype(int) - b.image.astype(int)).mean() for a, b in pairs]
    assert 0 < max(differences) < 8  # different decoding, the same picture
    audio = [(a, b) for a, b in zip(plain, fast) if isinstance(a, decode.AudioChunk)]
    assert audio and all(np.array_equal(a.samples, b.samples) for a, b in audio)


def test_frames_are_yielded_lazily(clip):
    it = decode.iter_frames(clip, fps=2)
    assert inspect.isgenerator(it)
    first = next(it)
    assert first.time == 0.0
    it.close()  # closing early releases the container without decoding the rest


def test_media_interleaves_audio_and_video_in_time_order(clip):
    items = list(decode.iter_media(clip, fps=2))
    kinds = [type(i).__name__ for i in items]
    assert "VideoFrame" in kinds and "AudioChunk" in kinds
    # Streaming means interleaved: some audio comes after the first frame and before the last one.
    first_v, last_v = kinds.index("VideoFrame"), len(kinds) - 1 - kinds[::-1].index("VideoFrame")
    assert "AudioChunk" in kinds[first_v:last_v]
    chunks = [i for i in items if isinstance(i, decode.AudioChunk)]
    assert all(b.time == pytest.approx(a.end) for a, b in zip(chunks, chunks[1:]))


def test_audio_is_16k_mono_float_and_keeps_the_tone(clip):
    audio = decode.load_audio(clip)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(64000, abs=1100)  # AAC pads to whole 1024-sample frames
    spectrum = np.abs(np.fft.rfft(audio[4000:20000]))
    assert np.fft.rfftfreq(16000, 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=2)


def test_audio_is_resampled_from_other_rates_and_stereo(tmp_path):
    path = tmp_path / "stereo44k.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=44100, layout="stereo")
        t = np.arange(44100) / 44100
        wave = (0.5 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.stack([wave, wave]).T.reshape(1, -1).copy(), format="s16", layout="stereo"
        )
        frame.sample_rate = 44100
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    audio = decode.load_audio(path)
    assert len(audio) == pytest.approx(16000, abs=64)
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    assert np.fft.rfftfreq(12000, 1 / 16000)[spectrum.argmax()] == pytest.approx(1000, abs=3)


def test_audio_only_and_video_only_files(tmp_path):
    audio_only = write_clip(tmp_path / "a.m4a", None, audio=tone(2.0))
    assert decode.probe(audio_only).has_video is False
    assert list(decode.iter_frames(audio_only)) == []
    assert len(decode.load_audio(audio_only)) > 30000
    silent = write_clip(tmp_path / "v.mp4", frames(10), fps=10)
    assert decode.probe(silent).has_audio is False
    assert decode.load_audio(silent) is None


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        decode.probe(tmp_path / "nope.mp4")


def test_not_media(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a readable media file"):
        list(decode.iter_media(path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        decode.probe(path)


def test_truncated_mp4_is_an_input_error(clip, tmp_path):
    # MP4 keeps its index at the end: half a file cannot be opened at all.
    path = tmp_path / "half.mp4"
    path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(InputError, match="half.mp4"):
        decode.probe(path)


def test_truncated_stream_yields_what_was_there(tmp_path):
    full = write_clip(tmp_path / "full.mkv", frames(40), fps=10, audio=tone(4.0))
    path = tmp_path / "cut.mkv"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    got = list(decode.iter_frames(path, fps=2))
    assert 1 <= len(got) < 8
    assert got[-1].time < 3.5


def test_zero_duration_file(tmp_path):
    path = tmp_path / "zero.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()
    with pytest.raises(InputError, match="zero"):
        list(decode.iter_media(path))
