"""``mmempathy predict VIDEO``: an emotion timeline of a video or audio file.

The media file, the options, every output path and format and the device are checked before the
model loads: a bad one ends in one line and exit status 2 at once. The outputs (JSON, CSV, plot)
are replaced together once all are written, or not at all; Ctrl-C exits 130 and leaves them as
they were. ``--json -`` or ``--csv -`` writes to standard output instead; the table and the status
lines ("wrote ...", progress) then go to standard error, so the output can be piped.

Example:
    mmempathy predict examples/demo/demo.mp4 --subtitles examples/demo/demo.srt --json out.json --plot out.png
    mmempathy predict interview.mp4 --segment-by speech --asr-model base --csv out.csv
    mmempathy predict clip.mp4 --json - --quiet | jq '.segments[] | {start, end, probs}'
    mmempathy predict examples/demo/demo.mp4 --subtitles examples/demo/demo.srt --html report.html
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields
from pathlib import Path

from mmempathy.errors import InputError
from mmempathy.io import atomic_write, check_media_path, check_output_paths
from mmempathy.media.config import ADAPT, DETECTORS, SEGMENT_BY, VideoConfig

STDOUT = "-"  # an output given as "-" is written to standard output


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="emotion timeline of a video or audio file",
        description="Cut a video (or audio) file into segments - subtitle cues, fixed windows or speech "
        "turns - and predict the emotion of each from its speech, face and text. Without subtitles or a "
        "transcript the speech is transcribed offline with Whisper (--asr). Segments without speech have "
        "their audio set aside (--vad). Prints a table; writes JSON, CSV and a plot on request.",
    )
    parser.add_argument("video", type=Path, help="video or audio file (anything FFmpeg reads)")
    text = parser.add_mutually_exclusive_group()
    text.add_argument("--subtitles", type=Path, help=".srt or .vtt file: one segment per cue, with its text")
    text.add_argument("--transcript", help="text of the whole file, spread over the windows")
    parser.add_argument("--model", default="lite", help="preset name or checkpoint directory (default: lite)")
    parser.add_argument(
        "--onnx",
        type=Path,
        metavar="DIR",
        help="predict with an ONNX export (mmempathy export-onnx) through onnxruntime instead of --model",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    add_segment_options(parser, batch=True)
    parser.add_argument("--smooth", type=int, default=0, metavar="N", help="average over N neighbouring segments")
    parser.add_argument("--json", metavar="PATH", help="write the timeline (with its settings) as JSON; - for stdout")
    parser.add_argument("--csv", metavar="PATH", help="write one row per segment as CSV; - for stdout")
    parser.add_argument("--plot", metavar="PATH", help="write a plot of the timeline (PNG, SVG, PDF)")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="say why: the words, face frames and moments of speech that moved each segment's reading, in the "
        "JSON (segments' why) and CSV (why_* columns); slower (needs: pip install 'mmempathy[explain]')",
    )
    parser.add_argument(
        "--html",
        metavar="PATH",
        help="write a report to watch: one page with the video, a timeline that moves with it and, per segment, "
        "the words, face pictures and voice moments that moved the reading (turns on --explain; with --onnx the "
        "readings only). A video up to 8 MB goes inside the page, a larger one is linked: keep it beside the page",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``predict`` with parsed arguments; returns the exit status."""
    # Everything that can be checked without the model is checked first, and the cheap checks
    # before the heavy imports, so that a typo, a bad output path or a bad device fails at once.
    check_media_path(args.video)
    if args.subtitles is not None and not args.subtitles.is_file():
        raise InputError(f"subtitle file not found: {args.subtitles}")
    transcript = _utf8(args.transcript, "--transcript")
    if args.smooth < 0:
        raise InputError(f"--smooth must be 0 (off) or a number of segments, got {args.smooth}")
    if args.segment_by == "subtitles" and args.subtitles is None:
        raise InputError("--segment-by subtitles needs --subtitles")
    named = {"--json": args.json, "--csv": args.csv, "--plot": args.plot, "--html": args.html}
    to_stdout = stdout_option(named, file_only=("--plot", "--html"))
    explain = args.explain or (args.html is not None and args.onnx is None)
    if explain and args.onnx is not None:
        raise InputError("--explain needs the torch model (gradients): it cannot explain an ONNX export (--onnx)")
    if explain:
        from mmempathy.extras import needs

        with needs("mmempathy predict --explain"):
            import captum  # noqa: F401  (missing: one line that says what to install, before the model loads)
    config = segment_config(args, progress=False if args.quiet else None, explain=explain)
    from mmempathy.media.report import HTML_FORMATS
    from mmempathy.media.timeline import PLOT_FORMATS

    formats = {"--plot": PLOT_FORMATS, "--html": HTML_FORMATS}
    outputs = check_output_paths({k: v for k, v in named.items() if k != to_stdout}, formats)
    if config.asr == "auto" and args.subtitles is None and transcript is None:
        from mmempathy.media.asr import resolve_model

        resolve_model(config.asr_model)  # a missing model directory fails before the emotion model loads
    if args.onnx is not None and args.device is not None:
        raise InputError("--device picks a torch device; an ONNX export (--onnx) runs on onnxruntime's CPU")
    device = resolve_device(args.device)
    from mmempathy.media.pipeline import predict_video

    if args.onnx is not None:  # onnxruntime: torch is never imported
        from mmempathy.onnx import OnnxEmotionFuser

        fuser = OnnxEmotionFuser(args.onnx)
    else:
        from mmempathy.model import EmotionFuser

        fuser = EmotionFuser.from_pretrained(args.model, device=device)
    timeline = predict_video(fuser, args.video, subtitles=args.subtitles, transcript=transcript, config=config)
    timeline.meta["model"] = str(args.onnx or args.model)
    if args.smooth > 1:
        timeline = timeline.smooth(args.smooth)
    if not args.quiet:  # the table goes where the data does not
        print(timeline.to_table(), file=sys.stderr if to_stdout else sys.stdout)
    writers = {"--json": timeline.to_json, "--csv": timeline.to_csv, "--plot": timeline.plot}
    if "--html" in outputs:
        from mmempathy.media.report import render_report, video_source

        src = video_source(timeline, outputs["--html"], video=args.video)  # the page's folder, not its temporary file
        writers["--html"] = lambda tmp: tmp.write_text(render_report(timeline, video=src), encoding="utf-8")
    text = rendered(writers[to_stdout]) if to_stdout else None
    written = write_together([(path, writers[name]) for name, path in outputs.items()])
    if text is not None:  # after the files: a failure leaves standard output empty, as it leaves them
        sys.stdout.write(text)
        sys.stdout.flush()
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def add_segment_options(parser: argparse.ArgumentParser, *, batch: bool = False) -> None:
    """The options of :class:`VideoConfig` that ``predict``, ``predict-corpus`` and ``live`` share (read back by
    :func:`segment_config`); ``batch`` adds ``--batch-size`` (``live`` predicts each segment as it closes)."""
    defaults = {f.name: f.default for f in fields(VideoConfig)}
    if batch:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=defaults["batch_size"],
            help="segments per model call (default: %(default)s)",
        )
    parser.add_argument(
        "--window", type=float, default=defaults["window"], help="window length in seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--hop", type=float, default=defaults["hop"], help="step between windows in seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--fps", type=float, default=defaults["fps"], help="video frames sampled per second (default: %(default)s)"
    )
    parser.add_argument(
        "--segment-by",
        default=defaults["segment_by"],
        metavar="{" + ",".join(SEGMENT_BY) + "}",
        help="segments: subtitle cues, fixed windows or speech turns found by voice activity detection; auto: "
        "cues when --subtitles is given, else windows (default: %(default)s)",
    )
    parser.add_argument(
        "--asr",
        default=defaults["asr"],
        metavar="{auto,off}",
        help="speech to text when neither --subtitles nor --transcript is given: auto transcribes, off leaves "
        "the text missing (default: %(default)s)",
    )
    parser.add_argument(
        "--asr-model",
        default=defaults["asr_model"],
        metavar="{tiny.en,base,DIR}",
        help="Whisper model: tiny.en (English, fastest) or base (multilingual), both installed with mmempathy "
        "(base's first use writes 145 MB into $MMEMPATHY_CACHE, default ~/.cache/mmempathy); or a CTranslate2 "
        "model directory (default: %(default)s)",
    )
    parser.add_argument("--asr-language", default=None, metavar="CODE", help="force the spoken language (e.g. en)")
    parser.add_argument(
        "--vad",
        action=argparse.BooleanOptionalAction,
        default=defaults["vad"],
        help="voice activity detection: a segment with less than --min-speech seconds of speech has its audio "
        "marked missing (default: on)",
    )
    parser.add_argument(
        "--min-speech",
        type=float,
        default=defaults["min_speech"],
        metavar="SECONDS",
        help="speech a segment needs for its audio to be read (default: %(default)s)",
    )
    parser.add_argument(
        "--adapt",
        default=defaults["adapt"],
        choices=ADAPT,
        help="auto: read each face and the voice against that person's own baseline, estimated from the "
        "recording itself (a person needs 3 segments; live: after those, as a warm-up; predict-corpus: the "
        "local engine); off: read every segment on its own (default: %(default)s)",
    )
    parser.add_argument(
        "--face-detector",
        default="auto",
        choices=DETECTORS,
        help="face detector: CenterFace (finds turned and tilted faces; Haar where it finds none) or Haar alone",
    )


def segment_config(args: argparse.Namespace, **overrides: object) -> VideoConfig:
    """The :class:`VideoConfig` of the options :func:`add_segment_options` added, with ``overrides`` on top.

    Raises:
        InputError: A value is out of range (one line, exit status 2).
    """
    if getattr(args, "batch_size", None) is not None:
        overrides = {"batch_size": args.batch_size, **overrides}
    return VideoConfig(
        fps=args.fps,
        window=args.window,
        hop=args.hop,
        segment_by=args.segment_by,
        asr=args.asr,
        asr_model=args.asr_model,
        asr_language=args.asr_language,
        vad=args.vad,
        min_speech=args.min_speech,
        face_detector=args.face_detector,
        adapt=args.adapt,
        **overrides,
    )


def stdout_option(outputs: Mapping[str, str | None], *, file_only: Collection[str] = ()) -> str | None:
    """The one option of ``outputs`` given as ``-`` (standard output), or ``None``.

    ``./-`` names a file called ``-``.

    Raises:
        InputError: An option of ``file_only`` is ``-``, or more than one option is.
    """
    chosen = [name for name, value in outputs.items() if value == STDOUT]
    for name in chosen:
        if name in file_only:
            raise InputError(f"{name} cannot go to standard output ('-'): give a file (its suffix picks the format)")
    if len(chosen) > 1:
        raise InputError(f"{' and '.join(chosen)} both ask for standard output ('-'); only one output can go there")
    return chosen[0] if chosen else None


def rendered(write: Callable[[Path], object]) -> str:
    """The text that ``write`` writes to the file it is given (a temporary one)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "output"
        write(path)
        return path.read_text(encoding="utf-8")


def write_together(outputs: list[tuple[Path, Callable[[Path], object]]]) -> list[Path]:
    """Write several files so that they are replaced together or not at all.

    Each writer fills a temporary file beside its destination (:func:`~mmempathy.io.atomic_write`);
    the renames happen only once every writer has succeeded. A plot that fails to render, a full
    disk or Ctrl-C therefore leaves the older outputs as they were, never a mix of old and new.
    (Devices such as ``/dev/stdout`` are written in place, before any rename.)

    Returns:
        The paths written, in the order given.
    """
    if not outputs:
        return []
    (path, write), rest = outputs[0], outputs[1:]

    def write_then_the_rest(tmp: Path) -> None:
        write(tmp)
        write_together(rest)  # the rest are renamed into place before this one, after all are written

    atomic_write(path, write_then_the_rest)
    return [path, *(p for p, _ in rest)]


def resolve_device(name: str | None) -> str | None:
    """``--device`` checked before the model loads: a name torch knows, on hardware that is there.

    Raises:
        InputError: The name is not a device, or names a GPU this machine does not have.
    """
    if name is None:
        return None
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"--device: unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"--device {name}: torch finds no CUDA GPU on this machine; use --device cpu")
        if device.index is not None and device.index >= count:
            raise InputError(f"--device {name}: there is no such GPU ({count} found: cuda:0 to cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {name}: Apple's MPS backend is not available on this machine; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {name}: mmempathy runs on cpu, cuda or mps, not {device.type}")
    return name


def _utf8(text: str | None, option: str) -> str | None:
    """Text from the command line that must be UTF-8.

    Python decodes ``argv`` with ``surrogateescape``: bytes that are not UTF-8 arrive as lone
    surrogates (``\\udce9``), which no tokenizer accepts.
    """
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        bad = text[err.start]
        where = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else f"character U+{ord(bad):04X}"
        raise InputError(
            f"{option} is not valid UTF-8 text ({where} at position {err.start}); pass UTF-8 (convert it with iconv)"
        ) from None
    return text
