"""Where live media comes from: a camera, a network stream, standard input or a file.

:func:`parse_source` turns what a user types into a :class:`LiveSource`: what FFmpeg opens, with
which demuxer and options. Kept apart from :mod:`mmempathy.media.live` so that the decoder can
open one without loading the model's side.

Sources:
    * a camera: ``0`` (an index) or ``/dev/video0`` (Linux, FFmpeg's ``v4l2``); ``0`` means camera 0
      through ``avfoundation`` on macOS; Windows cameras are named: ``dshow`` with
      ``video=<name>`` (``fmt="dshow"``);
    * a network stream: ``rtsp://``, ``rtmp://``, ``http(s)://`` (HLS too), ``udp://``, ``tcp://``, ``srt://``;
    * ``-``: standard input (a streamable container: MPEG-TS, Matroska/WebM, fragmented MP4);
    * a file: played in real time (``realtime=True``, the default for files) so that it behaves like
      a live feed; ``realtime=False`` reads it as fast as the model goes.

Example:
    >>> parse_source("rtsp://camera.local/stream").options["rtsp_transport"]
    'tcp'
"""

from __future__ import annotations

import io
import logging
import os
import re
import select
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmempathy.errors import InputError

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp")
# FFmpeg options per scheme: RTSP over TCP (no lost packets on busy networks), HTTP reconnecting.
_SCHEME_OPTIONS = {
    "rtsp": {"rtsp_transport": "tcp"},
    "rtsps": {"rtsp_transport": "tcp"},
    "http": {"reconnect": "1", "reconnect_streamed": "1", "reconnect_delay_max": "5"},
    "https": {"reconnect": "1", "reconnect_streamed": "1", "reconnect_delay_max": "5"},
}


@dataclass(frozen=True)
class LiveSource:
    """What FFmpeg opens for a live feed.

    Attributes:
        url: The device, URL, ``pipe:0`` or file path.
        format: The demuxer to force (``v4l2``, ``avfoundation``, ``dshow``), ``None`` to let FFmpeg probe.
        options: FFmpeg options for the demuxer and protocol (``{"video_size": "640x480"}``).
        realtime: Release what is decoded no faster than real time (for files and fast servers).
        timeout: Seconds to wait when opening, and for each read, before giving up.
        kind: ``"camera"``, ``"network"``, ``"stdin"`` or ``"file"``.
    """

    url: str
    format: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    realtime: bool = False
    timeout: float = 10.0
    kind: str = "network"

    def __str__(self) -> str:
        return self.url

    def open(self) -> av.container.InputContainer:
        """Open the source, every failure as one :class:`InputError` naming it."""
        import av

        # FFmpeg's timeout never fires on a pipe that stalls: its read blocks. Ours waits at most `timeout`.
        stdin = self.kind == "stdin" and self.url == "pipe:0" and os.name == "posix"
        target = TimedStdin(self.timeout) if stdin else self.url
        try:
            return av.open(target, mode="r", format=self.format, options=dict(self.options), timeout=self.timeout)
        except av.error.FFmpegError as err:
            hint = {
                "camera": " (is the camera connected, and free? list Linux cameras with `ls /dev/video*`)",
                "network": " (is the address right and the server up?)",
                "stdin": " (pipe a streamable container: MPEG-TS, Matroska, fragmented MP4)",
            }.get(self.kind, "")
            raise InputError(f"cannot open live source {self.url}: {err.strerror or err}{hint}") from None


class TimedStdin(io.RawIOBase):
    """Standard input as FFmpeg reads it, each read waiting at most ``timeout`` seconds for data.

    A pipe that sends nothing from the start is an :class:`InputError`; one that stalls after sending
    something ends the stream there, with a warning, as a network stream that times out does (the
    segments it completed are kept).
    """

    def __init__(self, timeout: float, fd: int | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self.fd = 0 if fd is None else fd  # FFmpeg's pipe:0, whatever sys.stdin is now (a test's capture)
        self.received = 0
        self.stalled = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.stalled:  # FFmpeg may ask again before it returns: an error raised twice would be printed
            return 0
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            self.stalled = True
            if not self.received:
                raise InputError(
                    f"cannot open live source pipe:0: nothing came on standard input in {self.timeout:g} s (--timeout)"
                )
            log.warning("standard input sent nothing for %g s (--timeout): the stream ends there", self.timeout)
            return 0
        data = os.read(self.fd, len(buffer))
        buffer[: len(data)] = data
        self.received += len(data)
        return len(data)


def parse_source(
    source: str | int | Path,
    *,
    realtime: bool | None = None,
    fmt: str | None = None,
    options: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> LiveSource:
    """The :class:`LiveSource` for a camera index or device, a URL, ``-`` (stdin) or a file.

    Args:
        source: What to read (see the module docstring).
        realtime: Pace decoding to the wall clock; ``None``: only for files (live feeds pace themselves).
        fmt: Force FFmpeg's demuxer (``dshow`` for a Windows camera, ``mpegts`` for a raw pipe).
        options: Extra FFmpeg options; they override the defaults chosen for the source.
        timeout: Seconds to wait on opening and on each read.

    Raises:
        InputError: A file that does not exist or is empty, or an unknown URL scheme.
    """
    if timeout <= 0:
        raise InputError(f"timeout must be positive, got {timeout}")
    text = str(source)
    chosen: dict[str, str] = {}
    if isinstance(source, int) or text.isdigit():
        kind, url, demuxer = "camera", *_camera(int(text))
    elif text.startswith("/dev/video"):
        kind, url, demuxer = "camera", text, "v4l2"
    elif text == "-":
        kind, url, demuxer = "stdin", "pipe:0", None
    elif match := re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*)://", text):
        scheme = match.group(1).lower()
        if scheme not in NETWORK_SCHEMES:
            raise InputError(f"unknown stream scheme {scheme!r} in {text}; use one of {', '.join(NETWORK_SCHEMES)}")
        kind, url, demuxer = "network", text, None
        chosen.update(_SCHEME_OPTIONS.get(scheme, {}))
    else:
        from mmempathy.io import check_media_path

        kind, url, demuxer = "file", str(check_media_path(text)), None
    chosen.update(options or {})
    return LiveSource(
        url=url,
        format=fmt or demuxer,
        options=chosen,
        realtime=(kind == "file") if realtime is None else realtime,
        timeout=timeout,
        kind=kind,
    )


def _camera(index: int) -> tuple[str, str | None]:
    if sys.platform == "darwin":
        return f"{index}:none", "avfoundation"  # video device index, no audio device
    if sys.platform.startswith("win"):
        raise InputError("on Windows a camera is named, not numbered: give fmt='dshow' and 'video=<camera name>'")
    return f"/dev/video{index}", "v4l2"
