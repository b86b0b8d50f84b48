"""Predict every video/audio file in a folder and write all the timelines to one CSV.

A file's subtitles are used when ``<name>.srt`` or ``<name>.vtt`` sits beside it. Files that cannot
be read are reported and skipped. For an archive (resumable, parquet, on Ray) use
``mmempathy predict-corpus`` (:mod:`mmempathy.corpus`), which finds files and subtitles the same way.

    python examples/batch_folder.py                                  # examples/demo -> outputs/timelines.csv
    python examples/batch_folder.py clips/ --out clips.csv --model lite
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from mmempathy import EmotionFuser, InputError
from mmempathy.corpus import MEDIA_SUFFIXES, subtitles_beside


def summary(table: pd.DataFrame) -> str:
    """How the file's time splits between dominant emotions, and how much its modalities disagreed, e.g.
    ``6 segments, 6 emotions by time: anger 17%, ...; modalities disagree in 2 of 6 (incongruity > 0.5)``."""
    seconds = (table["end"] - table["start"]).groupby(table["dominant"]).sum().sort_values(ascending=False)
    shares = ", ".join(f"{label} {share:.0%}" for label, share in (seconds / seconds.sum()).items())
    clash = int((table["incongruity"] > 0.5).sum())
    return (
        f"{len(table)} segments, {len(seconds)} emotion{'s' if len(seconds) != 1 else ''} by time: {shares}; "
        f"modalities disagree in {clash} of {len(table)} (incongruity > 0.5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path(__file__).resolve().parent / "demo")
    parser.add_argument("--out", type=Path, default=Path("outputs") / "timelines.csv", help="the CSV to write")
    parser.add_argument("--model", default="lite")
    args = parser.parse_args()

    fuser = EmotionFuser.from_pretrained(args.model)
    tables = []
    for path in sorted(p for p in args.folder.iterdir() if p.suffix.lower() in MEDIA_SUFFIXES):
        try:
            timeline = fuser.predict_video(path, subtitles=subtitles_beside(path))
        except InputError as err:
            print(f"skipped {path.name}: {err}")
            continue
        table = timeline.to_dataframe()
        table.insert(0, "file", path.name)
        tables.append(table)
        print(f"{path.name}: {summary(table)}")
    if not tables:
        raise SystemExit(f"no readable media files in {args.folder}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(tables, ignore_index=True).to_csv(args.out, index=False, float_format="%.4f")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
