"""``mmempathy predict-corpus DIR|CSV --out results.parquet``: emotion timelines of a whole archive.

Every media file of a folder (recursively; ``<name>.srt``/``.vtt`` beside a file are its
subtitles) or of a CSV list (a ``path`` column, optional ``subtitles`` and ``transcript``) becomes
rows of segments in a parquet dataset directory, one part per file (:mod:`mmempathy.corpus`).
Running it again resumes: files already done are skipped, changed files are done again. A file
that fails is recorded in ``OUT/_failures/`` and the run goes on; ``--retry-failed`` tries such
files again. ``--engine ray`` runs the same stages as a Ray Data pipeline, on a local Ray or on a
cluster (``--ray-address``). Exits 0 when the run finished, failures or not (the last line counts them).

Example:
    mmempathy predict-corpus calls/ --out results.parquet --segment-by speech --asr off
    mmempathy predict-corpus calls.csv --out results.parquet --engine ray --ray-address auto
    python -c "import pandas as pd; print(pd.read_parquet('results.parquet').groupby('file').dominant.value_counts())"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmempathy.cli.predict import add_segment_options, resolve_device, segment_config

SHOWN_FAILURES = 5  # failures printed at the end; the rest are in OUT/_failures/


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict-corpus`` subcommand."""
    parser = subparsers.add_parser(
        "predict-corpus",
        help="emotion timelines of every file of a folder or CSV list, into a parquet dataset (resumable)",
        description="Predict every video/audio file of a folder (recursively) or of a CSV list (a 'path' column, "
        "optional 'subtitles' and 'transcript' columns, relative to the CSV) and write one row per segment to a "
        "parquet dataset directory, one part per file. Running again skips the files already done; failed files "
        "are recorded in OUT/_failures/ and never stop the run.",
    )
    parser.add_argument("inputs", type=Path, metavar="DIR|CSV", help="a folder of media files, or a CSV list")
    parser.add_argument("--out", type=Path, required=True, help="output directory, e.g. results.parquet")
    parser.add_argument("--engine", default="local", choices=("local", "ray"), help="where to run (default: local)")
    parser.add_argument(
        "--ray-address", default=None, help="Ray cluster (auto, ray://host:10001); default: start a local Ray"
    )
    parser.add_argument(
        "--model-workers",
        type=int,
        default=None,
        help="Ray model workers (default: one per GPU; without GPUs one per 4 CPUs)",
    )
    parser.add_argument("--retry-failed", action="store_true", help="try again the files that failed before")
    parser.add_argument("--model", default="lite", help="preset name or checkpoint directory (default: lite)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    add_segment_options(parser, batch=True)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``predict-corpus`` with parsed arguments; returns the exit status."""
    config = segment_config(args)  # bad values: InputError, one line, exit status 2
    from mmempathy.corpus import find_inputs, predict_corpus

    items = find_inputs(args.inputs)  # a bad folder or CSV fails before the model loads
    device = resolve_device(args.device)
    report = predict_corpus(
        args.model,
        items,
        args.out,
        engine=args.engine,
        config=config,
        retry_failed=args.retry_failed,
        device=device,
        ray_address=args.ray_address,
        model_workers=args.model_workers,
        progress=not args.quiet,
    )
    for file, error, message in report.failures[:SHOWN_FAILURES]:
        print(f"failed {file}: {error}: {message}", file=sys.stderr)
    if len(report.failures) > SHOWN_FAILURES:
        print(f"... and {len(report.failures) - SHOWN_FAILURES} more", file=sys.stderr)
    if report.failed or report.skipped_failed:
        print(f"failures: {args.out / '_failures'}/ (one JSON file each)", file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
