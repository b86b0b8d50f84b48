"""``mmempathy adapt``: feed corrections into the feedback store and train a per-user adapter.

Example:
    mmempathy adapt --user ana --segments corrected.csv --replay ravdess:train   # store, then train
    mmempathy adapt --user ana --coach-db coach.db --coach-data-dir ../shared/data --no-train
    mmempathy adapt --list
    mmempathy adapt --delete ana
    mmempathy predict clip.mp4 --model lite   # the base model; from Python: from_pretrained("lite", adapter="ana")
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmempathy.errors import CheckpointError, InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``adapt`` subcommand."""
    parser = subparsers.add_parser(
        "adapt",
        help="learn from corrections (per-user adapters)",
        description="Record corrections (a CSV of corrected timeline segments: source,start,end,label; or the coach "
        "app's answers) in the feedback store, then train a small adapter on them mixed with replayed training data. "
        "The adapter is written beside the base weights (<checkpoint>/adapters/<name>/, or --directory); the base "
        "weights are never changed.",
    )
    parser.add_argument("--model", default="lite", help="preset name or checkpoint directory (default: lite)")
    parser.add_argument("--user", default=None, help="whose corrections (default: the anonymous ones)")
    parser.add_argument("--store", type=Path, help="feedback store file (default: beside the adapters)")
    parser.add_argument("--directory", type=Path, help="the adapter's own folder (default: adapters/<name>); one that "
                        "holds other files is refused")  # fmt: skip
    parser.add_argument("--name", help="adapter name (default: the user, or 'default')")
    parser.add_argument("--segments", type=Path, help="CSV of corrected segments: source,start,end,label[,text]")
    parser.add_argument("--coach-db", type=Path, help="the coach's SQLite file: import each person's answers")
    parser.add_argument("--coach-clips", help="the coach's --clips (to find the answered items)")
    parser.add_argument("--coach-data-dir", help="the coach's --data-dir (to find the answered items)")
    parser.add_argument("--coach-use", default="answer", choices=("answer", "truth"), help="label taken from coach")
    parser.add_argument("--no-train", dest="train", action="store_false", help="only record the corrections")
    parser.add_argument("--kind", default="calibration", choices=("calibration", "lora"), help="adapter kind")
    parser.add_argument("--steps", type=int, default=150, help="optimiser steps (default: %(default)s)")
    parser.add_argument("--replay", help="replay data DATASET[:SPLIT] (e.g. ravdess:train, meld:train)")
    parser.add_argument("--anchor", type=float, help="how many corrections the base model's own predictions on "
                        "the replay data are worth (default: the library's, chosen on dev speakers)")  # fmt: skip
    parser.add_argument("--replay-n", type=int, default=300, help="replay items drawn (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list stored corrections per user and saved adapters")
    parser.add_argument("--delete", metavar="NAME", help="delete adapter NAME's two files (adapter.json, "
                        "adapter.safetensors), once adapter.json says it is NAME; nothing else is removed")  # fmt: skip
    parser.set_defaults(func=run)


def replay_dataset(spec: str) -> Any:
    """The dataset ``DATASET[:SPLIT]`` names (checked before anything is recorded or trained)."""
    from mmempathy.data import get_dataset, list_datasets

    name, _, split = spec.partition(":")
    if name not in list_datasets():
        raise InputError(f"--replay: unknown dataset {name!r}; use one of {', '.join(list_datasets())}")
    return get_dataset(name, split=split or "train")


def replay_samples(dataset: Any, n: int) -> list:
    """``n`` labelled samples drawn (seed 0) from ``dataset``."""
    import numpy as np

    order = np.random.default_rng(0).permutation(len(dataset))[:n]
    return [dataset[int(i)] for i in order]


def run(args: argparse.Namespace) -> int:
    """Record, train, list or delete, as asked."""
    from mmempathy import EmotionFuser
    from mmempathy.feedback import (
        AdaptSettings,
        adapter_path,
        check_adapter_directory,
        counts_text,
        delete_adapter,
        import_coach,
        open_store,
        record_segments_csv,
    )

    check_names(args)
    settings = None
    if args.train and not (args.delete or args.list):
        if args.replay is None:
            raise InputError("give --replay DATASET[:SPLIT] (what keeps the model from forgetting), or --no-train")
        if args.replay_n < 1:
            raise InputError(f"--replay-n must be at least 1, got {args.replay_n}")
        anchor = {} if args.anchor is None else {"anchor": args.anchor}
        settings = AdaptSettings(kind=args.kind, steps=args.steps, **anchor)  # checked before anything is done
    fuser = EmotionFuser.from_pretrained(args.model, device="cpu")
    if args.delete:
        removed = delete_adapter(fuser, args.delete, args.directory)
        print(f"adapt: deleted adapter {args.delete}: {', '.join(str(p) for p in removed)}")
        return 0
    store = open_store(fuser, args.store)
    if args.list:
        return list_store(fuser, store)
    replay = None
    if args.train:  # every check that needs no work comes before anything is recorded
        replay = replay_dataset(args.replay)
        check_adapter_directory(adapter_path(fuser, args.name or args.user or "default", args.directory))
    if args.segments:
        ids = record_segments_csv(fuser, args.segments, user=args.user, store=store)
        print(f"adapt: stored {len(ids)} corrected segments from {args.segments}")
    if args.coach_db:
        from mmempathy.coach import build_library

        library = build_library(args.coach_clips, args.coach_data_dir)
        print(f"adapt: {import_coach(fuser, args.coach_db, library, store=store, use=args.coach_use)}")
    if not args.train:
        return 0
    adapter = fuser.adapt(
        user=args.user,
        store=store,
        replay=replay_samples(replay, args.replay_n),
        settings=settings,
        name=args.name,
        directory=args.directory,
    )
    left_out = f"; left out {counts_text(adapter.info['skipped'])}" if adapter.info.get("skipped") else ""
    print(f"adapt: trained a {args.kind} adapter on {adapter.info['corrections']} corrections "
          f"(+{adapter.info['replay']} replayed){left_out}; saved as {adapter.info['name']}")  # fmt: skip
    return 0


def check_names(args: argparse.Namespace) -> None:
    """Names and paths that no file system or listing takes (a NUL byte, control characters)."""
    for option in ("user", "name", "delete", "store", "directory", "segments", "coach_db"):
        value = getattr(args, option)
        if value is not None and not str(value).isprintable():
            flag = "--" + option.replace("_", "-")
            raise InputError(f"{flag} cannot hold a NUL byte or other control characters: {str(value)!r}")


def list_store(fuser: Any, store: Any) -> int:
    """``--list``: corrections per user, then the adapters saved under the default directory."""
    from mmempathy.feedback import ADAPTER_CONFIG, default_directory, read_adapter_meta

    for user in store.users():
        line = f"corrections  {user or '(anonymous)'}: {len(store.corrections(user))}"
        print(line + (f" ({len(store.damaged)} damaged, left out)" if store.damaged else ""))
    for config in sorted(default_directory(fuser).glob(f"*/{ADAPTER_CONFIG}")):
        try:
            info = read_adapter_meta(config.parent)["info"]
        except CheckpointError as err:
            print(f"adapter      {config.parent.name}: unreadable ({err})")
            continue
        print(
            f"adapter      {config.parent.name}: {info.get('corrections', '?')} corrections, {info.get('created', '?')}"
        )
    return 0
