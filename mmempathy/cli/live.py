"""``mmempathy live SOURCE``: emotions of a camera, a network stream, stdin or a file played live.

One JSON object per segment goes to standard output the moment the segment is predicted (JSON
lines, flushed line by line), and with ``--csv`` one row to a CSV file, flushed too. The CSV file is
opened only when its first row is ready, so a source that fails leaves no file behind; an existing
file is refused unless ``--overwrite`` (replace it) or ``--append`` (add rows under its header, which
must be this model's) is given, and it stays untouched until that first row. Ctrl-C (or
SIGTERM) ends the run cleanly: every segment finished so far has been written, the source is
closed, a summary line (segments, median and worst latency) goes to standard error and the exit
status is 0. A source that cannot be opened ends in one line and exit status 2.

Each line holds ``start``, ``end``, ``dominant``, ``probs``, ``modalities``, ``weights``,
``present``, ``text``, ``speech``, ``incongruity``, ``latency`` (seconds from the segment's end
being live to its result) and ``wall`` (seconds since the source was opened).

Example:
    mmempathy live 0                                    # the first camera (Linux: /dev/video0)
    mmempathy live rtsp://10.0.0.5/stream --csv live.csv
    ffmpeg -i talk.mp4 -f mpegts - | mmempathy live -
    mmempathy live interview.mp4 --speed 2 | jq -c '{start, dominant, latency}'
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from mmempathy.cli.predict import add_segment_options, resolve_device, segment_config
from mmempathy.errors import InputError
from mmempathy.io import check_output_path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``live`` subcommand."""
    parser = subparsers.add_parser(
        "live",
        help="emotions of a camera, stream or file, segment by segment as it plays",
        description="Read a camera (0, /dev/video0), a network stream (rtsp://, http://, udp:// ...), standard "
        "input (-) or a file played in real time, and print one JSON line per segment as soon as it is "
        "predicted. Ctrl-C stops it with every finished segment written.",
    )
    parser.add_argument("source", help="camera index or device, stream URL, - for standard input, or a file")
    parser.add_argument("--subtitles", type=Path, help=".srt or .vtt file for a file played live")
    parser.add_argument("--model", default="lite", help="preset name or checkpoint directory (default: lite)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    add_segment_options(parser)
    parser.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="pace reading to the wall clock (default: on for files, off for cameras, streams and stdin)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed of a paced source (default: 1)")
    parser.add_argument("--format", dest="fmt", metavar="NAME", help="FFmpeg demuxer to force (dshow, mpegts ...)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="FFmpeg option for the source, repeatable (video_size=640x480, framerate=30, rtsp_transport=udp)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait on opening and on each read (default: 10)"
    )
    parser.add_argument("--max-segments", type=int, default=None, metavar="N", help="stop after N segments")
    parser.add_argument("--csv", metavar="PATH", help="also write one row per segment to this CSV file (opened at "
                        "the first row; an existing file is refused unless --overwrite or --append)")  # fmt: skip
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace an existing --csv file (at the first row)")
    existing.add_argument("--append", action="store_true", help="add rows to an existing --csv file with the same "
                          "columns (this model's labels and modalities)")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``live`` with parsed arguments; returns the exit status."""
    from mmempathy.media.live import LIVE_DEFAULTS
    from mmempathy.media.sources import parse_source

    if args.max_segments is not None and args.max_segments < 1:
        raise InputError(f"--max-segments must be at least 1, got {args.max_segments}")
    if args.subtitles is not None and not args.subtitles.is_file():
        raise InputError(f"subtitle file not found: {args.subtitles}")
    source = parse_source(
        args.source, realtime=args.realtime, fmt=args.fmt, options=_options(args.option), timeout=args.timeout
    )
    config = segment_config(args, **LIVE_DEFAULTS)
    csv_path = _check_csv(args)
    device = resolve_device(args.device)
    from mmempathy.model import EmotionFuser

    fuser = EmotionFuser.from_pretrained(args.model, device=device)
    writer = _CsvRows(csv_path, fuser, append=args.append) if csv_path else None  # opens nothing yet
    pace = f"paced at {args.speed:g}x" if source.realtime else "at the source's pace"
    print(f"live: reading {source.kind} {source} ({pace}); Ctrl-C to stop", file=sys.stderr)
    latencies: list[float] = []
    count = 0
    with _Stop() as stop, writer if writer is not None else nullcontext():
        segments = fuser.stream(source, args.subtitles, speed=args.speed, config=config)
        try:
            for segment in segments:
                if stop.requested:  # the decoder may have ended the stream on the signal itself (FFmpeg's
                    break  # interrupt callback): what it closed early is not a finished segment
                with stop.deferred():  # a Ctrl-C while a line is written waits for the line's end (and its count)
                    _emit(segment, writer)
                    count += 1
                    if segment.latency is not None:
                        latencies.append(segment.latency)
                if args.max_segments is not None and count >= args.max_segments:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            segments.close()
        if stop.requested:
            print("live: stopped", file=sys.stderr)
    print(_summary(count, latencies, writer), file=sys.stderr)
    return 0


def _check_csv(args: argparse.Namespace) -> Path | None:
    """The ``--csv`` path, checked before the model loads: writable, and an existing file only with
    ``--overwrite`` or ``--append``."""
    if not args.csv:
        if args.overwrite or args.append:
            raise InputError("--overwrite and --append apply to --csv, which was not given")
        return None
    path = check_output_path(args.csv, {".csv"})
    if path.exists() and not (args.overwrite or args.append):
        raise InputError(f"--csv {path} exists; add --overwrite to replace it or --append to add rows to it")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"--csv {path}: permission denied (the file is read-only)")
    return path


def _emit(segment: Any, writer: _CsvRows | None) -> None:
    from dataclasses import asdict

    line = {"start": segment.start, "end": segment.end, "dominant": segment.dominant, **asdict(segment)}
    try:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:  # standard output sent to a full disk: one line, not a traceback
        raise InputError(f"cannot write standard output: {err.strerror or err}") from err
    if writer is not None:
        writer.write(segment)


class _CsvRows:
    """Rows of :meth:`~mmempathy.media.timeline.Timeline.to_dataframe`'s columns, plus ``latency``
    and ``wall``, written and flushed one by one. The file is opened at the first row (truncated, or
    with ``append`` added to, under the header it must already have); until then it is untouched."""

    def __init__(self, path: Path, fuser: Any, *, append: bool = False):
        from mmempathy.media.timeline import segment_columns

        self.path, self.file, self.writer, self.rows = path, None, None, 0
        self.labels = tuple(fuser.labels)
        self.mods = [m.value for m in fuser.modalities]
        self.columns = [*segment_columns(self.labels, self.mods), "latency", "wall"]
        self.append = append and path.exists() and path.stat().st_size > 0
        if self.append:
            self._check_header()

    def _check_header(self) -> None:
        try:
            with open(self.path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise InputError(f"--append: cannot read the header of {self.path}: {err}") from None
        if header != self.columns:
            raise InputError(
                f"--append: {self.path} has other columns than this model writes ({len(header)} against "
                f"{len(self.columns)}: labels {', '.join(self.labels)}); use --overwrite or another file"
            )

    def write(self, segment: Any) -> None:
        from mmempathy.media.timeline import segment_row

        if self.file is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.file = open(self.path, "a" if self.append else "w", newline="", encoding="utf-8")
            except OSError as err:
                raise InputError(f"cannot write --csv {self.path}: {err}") from err
            self.writer = csv.DictWriter(self.file, fieldnames=self.columns)
            if not self.append:
                self.writer.writeheader()
        row = segment_row(segment, self.labels, self.mods)
        row = {k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        try:
            self.writer.writerow({**row, "latency": segment.latency, "wall": segment.wall})
            self.file.flush()
        except OSError as err:  # a full disk: the rows flushed before stay whole, this one may be cut short
            raise InputError(f"cannot write --csv {self.path} after {self.rows} row(s): {err.strerror or err}") from err
        self.rows += 1

    def __enter__(self) -> _CsvRows:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError as err:  # what a failed write left in the buffer fails again: said once, by write
                if exc[0] is None:
                    raise InputError(f"cannot write --csv {self.path}: {err.strerror or err}") from err


class _Stop:
    """Ctrl-C and SIGTERM raise :class:`KeyboardInterrupt`, except inside :meth:`deferred`, which
    raises it on leaving: a reader of the output never gets half a line."""

    def __init__(self) -> None:
        self.deferring = False
        self.pending = False
        self.requested = False  # a stop was asked for

    def __enter__(self) -> _Stop:
        self.previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.deferring:
            self.pending = True
        else:
            raise KeyboardInterrupt


def _options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--option takes KEY=VALUE (an FFmpeg option), got {pair!r}")
        options[key] = value
    return options


def _summary(count: int, latencies: list[float], writer: _CsvRows | None) -> str:
    text = f"live: {count} segment(s)"
    if latencies:
        text += f", latency median {statistics.median(latencies):.2f} s, worst {max(latencies):.2f} s"
    if writer is not None:
        done = "appended" if writer.append else "wrote"
        text += f"; {done} {writer.rows} row(s) to {writer.path}" if writer.rows else f"; {writer.path} not written"
    return text
