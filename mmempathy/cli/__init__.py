"""The ``mmempathy`` command: thin subcommands over the Python API.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds its
parser and sets ``func``. User errors (bad files, bad options) end in one readable line and exit
status 2, Ctrl-C in one line and status 130, a closed pipe on standard output silently with 141;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mmempathy.errors import MMEmpathyError
from mmempathy.extras import needs

SUBCOMMANDS = ("predict", "live", "train", "bench", "models", "coach", "adapt", "predict_corpus", "export_onnx")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    import importlib

    parser = argparse.ArgumentParser(prog="mmempathy", description="Multimodal emotion recognition.")
    parser.add_argument("--version", action="version", version=f"mmempathy {installed_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"mmempathy.cli.{name}")
        module.register(subparsers)
    return parser


def installed_version() -> str:
    """The installed distribution's version (its metadata), or the package's own when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version("mmempathy")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        from mmempathy import __version__

        return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmempathy`` console script; returns the exit status.

    Ctrl-C ends any subcommand with one line and status 130 (128 + SIGINT, as shells report it);
    outputs are written through :func:`mmempathy.io.atomic_write`, so none is left half-written.
    """
    try:
        args = build_parser().parse_args(argv)
        with needs(f"mmempathy {args.command}"):  # a package it needs is missing: say what to install
            return int(args.func(args) or 0)
    except (MMEmpathyError, FileNotFoundError) as err:
        print(f"mmempathy: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmempathy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of standard output left (| head): end quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # else flushing at exit fails again
        return 141  # 128 + SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
