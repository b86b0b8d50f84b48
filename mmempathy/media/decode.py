"""Streaming decode of media files through PyAV: sampled video frames and 16 kHz mono audio.

Nothing here holds a whole file in memory: :func:`iter_media` demuxes the file once and yields
sampled :class:`VideoFrame` s and :class:`AudioChunk` s in packet order, so an hour of 1080p costs
what one frame and one audio packet cost. Unsampled frames are decoded (a codec cannot skip them)
but never converted to numpy, which is where most of the time would go.

Times are in seconds from the container's start, shared by both streams.

Degraded inputs (documented behaviour):
    * no audio track: only frames are yielded (the pipeline marks audio missing);
    * no video stream (audio-only files): only audio is yielded (faces missing);
    * a packet that fails to decode is skipped with a logged warning; a file that breaks off
      (truncated) yields what could be decoded before the break;
    * a missing file, a directory, a file that is not media, a still image (a JPEG renamed
      ``.mp4``), or a file with nothing decodable raise :class:`~mmempathy.errors.InputError`;
    * a video stored sideways with a rotation in its display matrix (phone recordings) is turned
      upright: frames are yielded as they are meant to be shown.

Example:
    >>> for item in iter_media("clip.mp4", fps=2.0):  # doctest: +SKIP
    ...     print(type(item).__name__, round(item.time, 2))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from mmempathy.errors import InputError
from mmempathy.io import check_media_path
from mmempathy.media.sources import LiveSource

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# Demuxers that read one still image (FFmpeg opens a JPEG whatever its name): not a video.
STILL_IMAGE_FORMATS = ("image2", "image2pipe")
# FFmpeg's text-art demuxers: they take any bytes (a .bin of random data decodes as one "video" frame).
TEXT_ART_FORMATS = ("bin", "tty", "idf", "xbin", "adf")
# A file whose packets keep failing is not worth decoding to the end.
MAX_DECODE_ERRORS = 50


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds, read from its header without decoding.

    Attributes:
        path: The file (a live source's URL, as a string).
        duration: Length in seconds, or ``None`` when the container does not say.
        has_video: Whether there is a video stream.
        has_audio: Whether there is an audio stream.
        fps: Average frame rate of the video stream, if known.
        width: Frame width in pixels (0 without video).
        height: Frame height in pixels (0 without video).
    """

    path: Path | str
    duration: float | None
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int = 0
    height: int = 0


@dataclass
class VideoFrame:
    """One sampled frame: ``image`` is ``[H, W, 3]`` uint8 RGB, ``time`` in seconds."""

    time: float
    image: np.ndarray


@dataclass
class AudioChunk:
    """Consecutive mono float32 samples at ``sample_rate`` starting at ``time`` seconds."""

    time: float
    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def end(self) -> float:
        """Time just after the last sample."""
        return self.time + len(self.samples) / self.sample_rate


def open_media(path: str | Path | LiveSource) -> av.container.InputContainer:
    """Open a media file or a live source, turning every way it can be unusable into an :class:`InputError`."""
    if isinstance(path, LiveSource):
        container = path.open()
    else:
        path = check_media_path(path)
        try:
            container = av.open(str(path), mode="r")
        except av.error.EOFError:
            raise InputError(f"media file ends before any content (zero duration or truncated): {path}") from None
        except av.error.FFmpegError as err:
            raise InputError(f"not a readable media file: {path} ({err.strerror or err})") from None
    if not container.streams.video and not container.streams.audio:
        container.close()
        raise InputError(f"no decodable audio or video stream in {path} (empty or zero-duration file?)")
    demuxer = container.format.name
    if demuxer in STILL_IMAGE_FORMATS or demuxer.endswith("_pipe"):  # jpeg_pipe, png_pipe, webp_pipe ...
        container.close()
        raise InputError(
            f"no decodable audio or video stream in {path}: it is a still image ({demuxer.removesuffix('_pipe')}), "
            "not a video or audio file"
        )
    if demuxer in TEXT_ART_FORMATS:
        container.close()
        raise InputError(
            f"no decodable audio or video stream in {path}: FFmpeg could only read it as text art ({demuxer}), "
            "as it reads any bytes; not a video or audio file"
        )
    return container


def probe(path: str | Path | av.container.InputContainer) -> MediaInfo:
    """Read a file's streams and duration from its header (nothing is decoded).

    ``path`` may be a container already open (:func:`open_media`): a live source can be opened once only.
    """
    if isinstance(path, av.container.InputContainer):
        return _info(path, path.name)
    with open_media(path) as container:
        return _info(container, path if isinstance(path, LiveSource) else Path(path))


def _info(container: av.container.InputContainer, name: Path | str | LiveSource) -> MediaInfo:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    fps = float(video.average_rate) if video is not None and video.average_rate else None
    return MediaInfo(
        path=name.url if isinstance(name, LiveSource) else name,
        duration=_duration(container),
        has_video=video is not None,
        has_audio=audio is not None,
        fps=fps,
        width=video.codec_context.width if video is not None else 0,
        height=video.codec_context.height if video is not None else 0,
    )


def iter_media(
    path: str | Path | LiveSource | av.container.InputContainer,
    *,
    fps: float | None = 2.0,
    video: bool = True,
    audio: bool = True,
    sample_rate: int = SAMPLE_RATE,
    max_side: int | None = None,
    skip_nonref: bool = True,
    threads: int = 0,
    fast: bool = False,
) -> Iterator[VideoFrame | AudioChunk]:
    """Demux a file once, yielding sampled frames and resampled audio in time (packet) order.

    Args:
        path: The media file, a :class:`~mmempathy.media.sources.LiveSource`, or a container already
            open (:func:`open_media`; it is left open for its owner to close).
        fps: Frames per second to keep (the first frame at or after each multiple of ``1 / fps``);
            ``None`` or ``0`` keeps every frame.
        video: Decode the first video stream, if any.
        audio: Decode the first audio stream, if any.
        sample_rate: Rate of the yielded audio, in Hz (mono float32).
        max_side: Downscale frames so that their longer side is at most this (``None``: as stored);
            done by the converter, so it costs nothing extra.
        skip_nonref: When sampling at most a quarter of the stream's frame rate, let the decoder
            skip non-reference frames (no other frame depends on them).
        threads: The video decoder's threads (0: FFmpeg's choice, as many as there are cores).
        fast: Decode a quarter faster at a small cost in pixels: the decoder skips its deblocking
            filter (``skip_loop_filter``; blocky edges can build up until the next key frame) and sampled
            frames are downscaled with swscale's fast bilinear filter.

    Raises:
        InputError: The file is missing, not media, or holds nothing that decodes.
    """
    owned = not isinstance(path, av.container.InputContainer)
    container = open_media(path) if owned else path
    try:
        streams = []
        if video and container.streams.video:
            vstream = container.streams.video[0]
            vstream.thread_type = "AUTO"
            vstream.thread_count = threads
            if fast:
                vstream.codec_context.options = {**vstream.codec_context.options, "skip_loop_filter": "all"}
            if skip_nonref and fps and vstream.average_rate and fps * 4 <= float(vstream.average_rate):
                # Frames no other frame refers to (most B-frames) are not even decoded: about half
                # the work for typical h264. The frame kept for a tick is then at most a few frames late.
                vstream.codec_context.skip_frame = "NONREF"
            streams.append(vstream)
        if audio and container.streams.audio:
            streams.append(container.streams.audio[0])
        if not streams:
            return
        origin = container.start_time / av.time_base if container.start_time is not None else 0.0
        sampler = _FrameSampler(fps, max_side, "FAST_BILINEAR" if fast else None)
        resampler = _AudioStream(sample_rate, origin)
        yielded = 0
        for frame in _decode(container, streams, container.name):
            if isinstance(frame, av.VideoFrame):
                item = sampler(frame, origin)
            else:
                item = resampler(frame)
            if item is not None:
                yielded += 1
                yield item
        tail = resampler.flush()
        if tail is not None:
            yielded += 1
            yield tail
        if yielded == 0:
            raise InputError(f"nothing could be decoded from {container.name} (zero duration or corrupt)")
    finally:
        if owned:
            container.close()


def iter_frames(
    path: str | Path, fps: float | None = 2.0, *, max_side: int | None = None, skip_nonref: bool = True
) -> Iterator[VideoFrame]:
    """Sampled frames only (lazily); see :func:`iter_media`. Yields nothing for audio-only files."""
    yield from iter_media(path, fps=fps, audio=False, max_side=max_side, skip_nonref=skip_nonref)  # type: ignore[misc]


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """The whole audio track, mono float32 at ``sample_rate``, or ``None`` without audio.

    The track starts at time 0: audio that starts late is padded with silence. Meant for short
    clips; :func:`iter_media` streams long ones.
    """
    chunks = list(iter_media(path, video=False, sample_rate=sample_rate))
    if not chunks:
        return None
    offset = max(0, round(chunks[0].time * sample_rate))
    head = np.zeros(offset, dtype=np.float32)
    return np.concatenate([head] + [c.samples for c in chunks])


def _duration(container: av.container.InputContainer) -> float | None:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    lengths = [
        float(s.duration * s.time_base)
        for s in (*container.streams.video, *container.streams.audio)
        if s.duration is not None and s.time_base is not None
    ]
    return max(lengths) if lengths else None


def _decode(container, streams, path) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Decoded frames of ``streams`` in packet order; bad packets are skipped, a break ends it."""
    errors = 0
    packets = container.demux(*streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as err:
            # The demuxer lost the thread (truncated or garbled file): keep what we have.
            # Frames still inside the decoders are few; they are dropped with the rest.
            log.warning("stopped reading %s early: %s", path, err)
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError as err:
            errors += 1
            log.warning("skipped an undecodable %s packet in %s: %s", packet.stream.type, path, err)
            if errors >= MAX_DECODE_ERRORS:
                raise InputError(f"too many decoding errors in {path}; the file is corrupt") from None
            continue
        yield from frames


class _FrameSampler:
    """Keeps the first frame at or after each tick of ``1 / fps`` and converts only those."""

    def __init__(self, fps: float | None, max_side: int | None, interpolation: str | None = None):
        self.step = 1.0 / fps if fps else 0.0
        self.next_time = -math.inf
        self.max_side = max_side
        self.interpolation = interpolation  # swscale's, when downscaling (None: PyAV's default, bilinear)
        self.count = 0

    def __call__(self, frame: av.VideoFrame, origin: float) -> VideoFrame | None:
        time = frame.time - origin if frame.time is not None else self.count * self.step
        self.count += 1
        if time < self.next_time - 1e-6:
            return None
        if self.step:
            # The next tick after this frame; frames may come late, never double up.
            ticks = math.floor(max(time, 0.0) / self.step + 1e-6) + 1
            self.next_time = ticks * self.step
        return VideoFrame(time=max(time, 0.0), image=self._convert(frame))

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = frame.width, frame.height
        if self.max_side and max(width, height) > self.max_side:
            scale = self.max_side / max(width, height)
            width, height = max(2, round(width * scale)), max(2, round(height * scale))
            image = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation=self.interpolation)
        else:
            image = frame.to_ndarray(format="rgb24")
        return upright(image, frame.rotation)


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """``image`` as it is meant to be shown, given its display-matrix ``rotation``.

    ``rotation`` is what PyAV's ``VideoFrame.rotation`` reads (FFmpeg's ``av_display_rotation_get``):
    the counter-clockwise turn, in degrees, that shows the stored frame upright. FFmpeg's own
    autorotate does the same (it turns clockwise by minus this angle). Angles are rounded to
    quarter turns; a phone never records anything else.
    """
    quarter_turns = round(rotation / 90) % 4 if rotation else 0
    if quarter_turns == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=quarter_turns))


class _AudioStream:
    """Resamples decoded audio frames to mono float32 and stamps each chunk with its time."""

    def __init__(self, sample_rate: int, origin: float):
        self.sample_rate = sample_rate
        self.origin = origin
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        self.start: float | None = None
        self.emitted = 0

    def __call__(self, frame: av.AudioFrame) -> AudioChunk | None:
        if self.start is None:
            self.start = (frame.time - self.origin) if frame.time is not None else 0.0
        return self._chunk(self.resampler.resample(frame))

    def flush(self) -> AudioChunk | None:
        if self.start is None:
            return None
        return self._chunk(self.resampler.resample(None))

    def _chunk(self, frames: list[av.AudioFrame]) -> AudioChunk | None:
        arrays = [f.to_ndarray().reshape(-1) for f in frames]
        if not arrays:
            return None
        samples = np.concatenate(arrays).astype(np.float32, copy=False)
        if samples.size == 0:
            return None
        time = self.start + self.emitted / self.sample_rate
        self.emitted += samples.size
        return AudioChunk(time=time, samples=samples, sample_rate=self.sample_rate)
