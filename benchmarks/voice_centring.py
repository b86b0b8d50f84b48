"""Which voice head reads speakers best once each speaker is centred: checkpoints compared on dev speakers.

For each checkpoint, the voice head alone reads RAVDESS dev actors 17-18, the TESS speakers OAF and YAF
(cross-corpus) and RAVDESS test actors 19-24, two ways: **plain**, and **centred**: each speaker's mean
voice encoder output (over all of that speaker's clips, no labels) taken off every token and the
training speakers' mean (RAVDESS actors 1-16) put in its place, the reading ``centre="features"`` gives a
varied recording (:mod:`mmempathy.baseline`, strength 1). The **dev score** is the mean accuracy over the
four dev speakers (17, 18, OAF, YAF), the rule ``scripts/train_lite.py --centre-voice`` was chosen by;
the test actors are reported beside it. The voice encoder (Whisper tiny.en, frozen) must be the same in
every checkpoint: its outputs are computed once, with the first.

    OMP_NUM_THREADS=2 python benchmarks/voice_centring.py /tmp/lite-before runs/lite-p0/fusion/best \\
        runs/lite-p1/fusion/best --out benchmarks/results/lite/voice_centring.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from feedback import DATA, load_model, ravdess, tess
from person_baseline import SpeechSet, speech_set, voice_logp

from mmempathy.baseline import group_indices

DEV_SPEAKERS = ("17", "18", "OAF", "YAF")


def centred_offsets(s: SpeechSet, reference: torch.Tensor) -> torch.Tensor:
    """Per clip, its speaker's mean encoder output less ``reference``."""
    offsets = torch.zeros_like(s.pooled)
    for members in group_indices(s.people):
        offsets[members] = s.pooled[members].mean(0) - reference
    return offsets


def read(fuser, sets: dict[str, SpeechSet], reference: torch.Tensor) -> dict[str, float]:
    """Accuracy (%) per set and per speaker, plain and centred, and the dev scores."""
    row: dict[str, float] = {}
    for name, s in sets.items():
        for mode, offsets in (("plain", torch.zeros_like(s.pooled)), ("centred", centred_offsets(s, reference))):
            hits = voice_logp(fuser, s.tokens, offsets).argmax(-1).numpy() == s.labels
            row[f"{name} {mode}"] = round(100 * float(hits.mean()), 1)
            for members in group_indices(s.people):
                row[f"{name} {mode} {s.people[members[0]]}"] = round(100 * float(hits[members].mean()), 1)
    for mode in ("plain", "centred"):
        per = [row[key] for n in sets for who in DEV_SPEAKERS if (key := f"{n} {mode} {who}") in row]
        row[f"dev score {mode}"] = round(float(np.mean(per)), 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", help="model directories or preset names")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    first = load_model(args.checkpoints[0])
    people = {
        "train": ravdess("train", DATA),
        "ravdess-dev": ravdess("dev", DATA),
        "tess": tess(DATA),
        "ravdess-test": ravdess("test", DATA),
    }
    sets = {name: speech_set(first, samples) for name, samples in people.items()}
    train = sets.pop("train")
    reference = torch.stack([train.pooled[g].mean(0) for g in group_indices(train.people)]).mean(0)
    report = {}
    for path in args.checkpoints:
        report[path] = read(load_model(path), sets, reference)
        summary = {k: v for k, v in report[path].items() if len(k.split()) == 2 or k.startswith("dev score")}
        print(path, json.dumps(summary), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
