"""Test tooling, not part of the model: synthetic media for the tests, the benchmarks and the demo build.

:func:`write_clip` encodes frames and a waveform with PyAV, :func:`tone` makes a waveform and
:func:`draw_face` paints a cartoon face that the face detectors find, so the whole media path can
be exercised without any face data. Nothing in :mod:`mmempathy` itself imports this module.

Example:
    >>> import numpy as np
    >>> frames = [draw_face(np.full((360, 640, 3), 90, np.uint8), (320, 180), 80)] * 20
    >>> write_clip("clip.mp4", frames, fps=10, audio=np.zeros(32000, np.float32))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def draw_face(image: np.ndarray, center: tuple[int, int], size: int, *, smile: float = 0.0) -> np.ndarray:
    """Paint a frontal cartoon face of height about ``2 * size`` pixels onto ``image`` (in place).

    Args:
        image: ``[H, W, 3]`` uint8 RGB canvas.
        center: ``(x, y)`` of the face centre.
        size: Half the face height, in pixels (the cascade needs about 20 or more).
        smile: Mouth curvature in ``[-1, 1]`` (negative frowns), to vary frames a little.
    """
    cx, cy = center
    s = size / 100.0

    def p(dx: float, dy: float) -> tuple[int, int]:
        return round(cx + dx * s), round(cy + dy * s)

    def r(a: float, b: float) -> tuple[int, int]:
        return max(1, round(a * s)), max(1, round(b * s))

    cv2.ellipse(image, p(0, 0), r(70, 95), 0, 0, 360, (200, 170, 150), -1)
    for dx in (-30, 30):
        cv2.ellipse(image, p(dx, -20), r(16, 8), 0, 0, 360, (40, 30, 30), -1)
        cv2.line(image, p(dx - 20, -40), p(dx + 20, -40), (60, 40, 30), max(1, round(6 * s)))
    cv2.ellipse(image, p(0, 15), r(8, 20), 0, 0, 360, (170, 140, 120), -1)
    cv2.ellipse(image, p(0, 50), r(28, 8 + 6 * abs(smile)), 0, 0, 360, (120, 50, 50), -1)
    return image


def write_clip(
    path: str | Path,
    frames: Iterable[np.ndarray] | None,
    *,
    fps: int = 10,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    crf: int = 28,
    audio_bitrate: int = 64_000,
) -> Path:
    """Encode RGB frames (h264) and a mono float waveform (AAC) into one file, e.g. ``.mp4``.

    Either part may be ``None``: no frames gives an audio-only file (use ``.m4a``), no audio a
    silent video. Frames are consumed lazily, so a long clip never sits in memory.
    """
    path = Path(path)
    with av.open(str(path), mode="w") as out:
        vstream = astream = None
        frames = iter(frames) if frames is not None else None
        first = next(frames, None) if frames is not None else None
        if first is not None:
            vstream = out.add_stream("libx264", rate=fps)
            vstream.height, vstream.width = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2
            vstream.pix_fmt = "yuv420p"
            vstream.options = {"crf": str(crf), "preset": "veryfast"}
        if audio is not None:
            astream = out.add_stream("aac", rate=sample_rate)
            astream.layout = "mono"
            astream.bit_rate = audio_bitrate
        audio = np.asarray(audio, dtype=np.float32) if audio is not None else None
        written = 0  # audio samples muxed so far; audio is muxed alongside the frames it covers
        if vstream is not None:
            for index, image in enumerate(_chain(first, frames)):
                image = np.ascontiguousarray(image[: vstream.height, : vstream.width])
                out.mux(vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                if astream is not None:
                    until = min(len(audio), round((index + 1) * sample_rate / fps))
                    written = _write_audio(out, astream, audio, written, until, sample_rate)
            out.mux(vstream.encode(None))
        if astream is not None:
            _write_audio(out, astream, audio, written, len(audio), sample_rate)
            out.mux(astream.encode(None))
    return path


def tone(seconds: float, freq: float = 220.0, sample_rate: int = 16_000, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone with a little noise, float32 mono."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    noise = np.random.default_rng(0).normal(0, 0.01, t.size)
    return (amplitude * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def _chain(first, rest):
    yield first
    yield from rest


def _write_audio(out, stream, audio: np.ndarray, start: int, stop: int, sample_rate: int) -> int:
    """Mux ``audio[start:stop]`` in 1024-sample frames; returns where it stopped."""
    step = 1024
    while stop - start >= step or (stop == len(audio) and start < stop):
        chunk = np.ascontiguousarray(audio[start : min(start + step, stop)])
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        out.mux(stream.encode(frame))
        start += len(chunk)
    return start
