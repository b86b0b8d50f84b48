"""``mmempathy export-onnx DIR``: a model as ONNX graphs that predict with onnxruntime, without PyTorch.

The export is checked against the PyTorch model on synthetic items with every subset of its
modalities; the largest difference in probabilities and weights is printed (``--no-check`` skips it).
Load it with ``EmotionFuser.from_onnx(DIR)`` or ``mmempathy predict CLIP --onnx DIR``.

Example:
    mmempathy export-onnx lite-onnx
    mmempathy export-onnx my-onnx --model runs/meld/best
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from mmempathy.errors import InputError

TOLERANCE = 1e-3  # the largest difference in probabilities an export may show against PyTorch


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export-onnx`` subcommand."""
    parser = subparsers.add_parser(
        "export-onnx",
        help="write a model as ONNX graphs for onnxruntime (no PyTorch at run time)",
        description="Write the encoders, fusion and heads of a model as ONNX graphs (dynamic batch and length "
        "axes), with its tokenizer, preprocessing settings and calibration, to DIR; then compare the export "
        "with the PyTorch model on synthetic items.",
    )
    parser.add_argument("directory", type=Path, help="output directory (created; an earlier export is replaced)")
    parser.add_argument("--model", default="lite", help="preset name or checkpoint directory (default: lite)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default: %(default)s)")
    parser.add_argument(
        "--check", action=argparse.BooleanOptionalAction, default=True, help="compare with PyTorch (default: on)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export, then check; returns the exit status (1 when the export differs by more than the tolerance)."""
    check_target(args.directory)
    from mmempathy.model import EmotionFuser
    from mmempathy.onnx import OnnxEmotionFuser, check_opset, export_onnx, max_difference, parity_samples

    check_opset(args.opset)  # before the model loads: a typo should not cost minutes
    fuser = EmotionFuser.from_pretrained(args.model, device="cpu")
    export_onnx(fuser, args.directory, opset=args.opset)
    print(f"wrote {args.directory}")
    if not args.check:
        return 0
    samples = parity_samples(fuser.config)
    with warnings.catch_warnings():  # an untrained model's warning says nothing about the export
        warnings.simplefilter("ignore", UserWarning)
        difference = max_difference(
            fuser.predict_samples(samples), OnnxEmotionFuser(args.directory).predict_samples(samples)
        )
    print(f"max |dp| against PyTorch on {len(samples)} synthetic items: {difference:.2e} (tolerance {TOLERANCE:g})")
    return 0 if difference <= TOLERANCE else 1


def check_target(directory: Path) -> None:
    """Refuse a file, or a non-empty directory that is not an earlier export (it would be mixed with one)."""
    if directory.exists() and not directory.is_dir():
        raise InputError(f"cannot export to {directory}: it is a file")
    from mmempathy.onnx import CONFIG_NAME, FORMAT

    if directory.is_dir() and any(directory.iterdir()):
        try:
            earlier = json.loads((directory / CONFIG_NAME).read_text()).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            earlier = False
        if not earlier:
            raise InputError(
                f"cannot export to {directory}: it holds files other than an ONNX export; use a new directory"
            )
