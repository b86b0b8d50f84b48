"""``mmempathy bench RECIPE``: train on a dataset's train split, select on dev, report test.

Example:
    mmempathy bench mosi --data-dir ../shared/data/cmu-mosi --seeds 3 --out results/
    mmempathy bench mosi --modalities text,audio --fusion concat
    mmempathy bench fer2013 --data-dir /data/fer2013 --device cuda --epochs 40 --batch-size 256 --num-workers 8
"""

from __future__ import annotations

import argparse
import json

from mmempathy.config import FUSION_MODES
from mmempathy.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    from mmempathy.bench.recipes import RECIPES

    listing = "; ".join(f"{name}: {r.description}" for name, r in sorted(RECIPES.items()))
    parser = subparsers.add_parser(
        "bench",
        help="benchmark on a dataset (train, select on dev, report test)",
        description="Train a model for a dataset's recipe on its train split, keep the checkpoint that "
        "scores best on dev, and evaluate it once on test. Writes results.json, results.md (beside the "
        f"published numbers), confusion.png and config.json. Recipes: {listing}.",
    )
    parser.add_argument("recipe", help="dataset recipe: " + ", ".join(sorted(RECIPES)))
    parser.add_argument("--data-dir", help="the dataset's folder (default: $MMEMPATHY_DATA/<dataset>)")
    parser.add_argument(
        "--model",
        default="lite",
        help="preset (lite, tiny, base), checkpoint directory or hub repository: its encoders start the run "
        "(lite: its trained encoders), fusion and heads train fresh",
    )
    parser.add_argument(
        "--architecture-only",
        action="store_true",
        help="a preset's architecture with its encoders' pretrained weights, not the trained weights it ships",
    )
    parser.add_argument("--seeds", type=int, default=1, help="runs with seeds 0..N-1, reported as mean ± std")
    parser.add_argument("--modalities", help="comma-separated subset of the recipe's modalities, e.g. text,audio")
    parser.add_argument("--fusion", default="late", choices=FUSION_MODES, help="fusion mode")
    parser.add_argument(
        "--no-calibrate", dest="calibrate", action="store_false", help="skip fitting temperatures/gate biases on dev"
    )
    parser.add_argument(
        "--text-layers", type=int, default=0, metavar="N", help="fine-tune the top N text layers (0: frozen, cached)"
    )
    parser.add_argument(
        "--video-faces",
        action="store_true",
        help="augment face crops to look as a detector cuts them from video (margin, tilt, blur, JPEG, colour)",
    )
    parser.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: the recipe's)")
    parser.add_argument("--device", default="auto", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--num-workers", type=int, default=0, help="data loading worker processes")
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="at most N items per split (smoke run)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for test intervals")
    parser.add_argument("--out", default="results", help="results folder (default: results/)")
    parser.add_argument("--cache-dir", default="", help="text feature cache (default: <out>/feature_cache)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any TrainConfig field, e.g. --set lr_fusion=3e-4 --set patience=5 (values read as JSON)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def parse_sets(pairs: list[str]) -> dict:
    """``["lr_fusion=3e-4", "schedule=constant"]`` -> ``{"lr_fusion": 0.0003, "schedule": "constant"}``."""
    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--set needs KEY=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def run(args: argparse.Namespace) -> int:
    """Run ``bench`` with parsed arguments; returns the exit status."""
    from mmempathy.bench import BenchConfig, render_table, run_benchmark
    from mmempathy.train import TrainConfig

    train = parse_sets(args.set)
    try:
        TrainConfig.from_dict(train)  # unknown fields and bad values fail here, before any data is read
    except (ValueError, TypeError) as err:
        raise InputError(f"--set: {err}") from err
    cfg = BenchConfig(
        recipe=args.recipe,
        data_dir=args.data_dir,
        model=args.model,
        architecture_only=args.architecture_only,
        seeds=args.seeds,
        modalities=tuple(m.strip() for m in args.modalities.split(",")) if args.modalities else None,
        fusion=args.fusion,
        calibrate=args.calibrate,
        text_layers=args.text_layers,
        video_faces=args.video_faces,
        epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.num_workers,
        limit=args.limit,
        n_boot=args.n_boot,
        out=args.out,
        cache_dir=args.cache_dir,
        train=train,
        progress=not args.quiet,
    )
    summary = run_benchmark(cfg)
    print(render_table(summary))
    print(f"wrote {summary['folder']}/results.json, results.md, confusion.png, config.json")
    return 0
