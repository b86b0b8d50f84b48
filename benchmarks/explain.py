"""Do the word explanations mean something, and what do explanations cost (``mmempathy.explain``).

**Deletion curve** on MELD test lines (text only, the shipped ``lite`` model): each line is read with
``explain=True``; then its k words with the highest scores are deleted (k = 1, 2, 3, and half its words), and,
for comparison, k words chosen at random (``--random`` draws per line, averaged). The drop in the probability
of the label explained says how much the deleted words carried: if the scores mean something, deleting the
top words drops it more than deleting random ones. Lines with fewer than 4 words are left out (deleting 3 of
them leaves almost nothing). The fraction of lines whose label changes is reported too.

**Steps**: the word scores with :data:`mmempathy.explain.STEPS` integrated-gradients steps against 64 steps on
the first ``--steps-lines`` lines: how often the top word is the same, and the largest score difference.

**Cost**: the demo clip's segments (``examples/demo``: text, speech and a face each) and MELD lines (text
only), each read alone (batch of one) with and without ``explain=True``: median seconds over ``--repeats``
runs per item, summed over the items.

    OMP_NUM_THREADS=1 python benchmarks/explain.py --lines 500 --json benchmarks/results/explain.json
    OMP_NUM_THREADS=1 python benchmarks/explain.py --parts steps --json benchmarks/results/explain-steps.json
    python benchmarks/explain.py --lines 5 --repeats 1 --model tiny   # smoke run on a slice
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from mmempathy import EmotionFuser
from mmempathy.data import default_data_root, get_dataset
from mmempathy.explain import STEPS, explain_samples
from mmempathy.media.config import VideoConfig
from mmempathy.media.pipeline import iter_samples, sample_settings
from mmempathy.sample import Sample

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"
KS = (1, 2, 3, "half")


def deletion(fuser: EmotionFuser, texts: list[str], *, random_draws: int, seed: int) -> dict:
    """Mean drop in the explained label's probability after deleting the top-k words and k random words."""
    rng = np.random.default_rng(seed)
    drops: dict[str, dict[str, list[float]]] = {str(k): {"top": [], "random": []} for k in KS}
    flips: dict[str, dict[str, list[bool]]] = {str(k): {"top": [], "random": []} for k in KS}
    for text in texts:
        why = explain_samples(fuser, [Sample(text=text)])[0]
        words, label = [w["word"] for w in why["words"]], why["label"]
        scores = np.array([w["score"] for w in why["words"]])
        variants, keys = [text], []
        for k in KS:
            n = len(words) // 2 if k == "half" else k
            order = np.argsort(-scores, kind="stable")
            chosen = [("top", set(order[:n].tolist()))]
            chosen += [("random", set(rng.choice(len(words), n, replace=False).tolist())) for _ in range(random_draws)]
            for kind, gone in chosen:
                variants.append(" ".join(w for i, w in enumerate(words) if i not in gone))
                keys.append((str(k), kind))
        results = fuser.predict(text=variants, batch_size=len(variants))
        p0 = results[0].probs[label]
        for (k, kind), r in zip(keys, results[1:]):
            drops[k][kind].append(p0 - r.probs[label])
            flips[k][kind].append(r.label != label)
    rows = []
    for k in drops:
        top, rand = np.array(drops[k]["top"]), np.array(drops[k]["random"]).reshape(len(texts), -1).mean(1)
        rows.append(
            {
                "k": k,
                "drop_top": float(top.mean()),
                "drop_random": float(rand.mean()),
                "top_beats_random": float((top > rand).mean()),  # share of lines where the top words matter more
                "flip_top": float(np.mean(flips[k]["top"])),
                "flip_random": float(np.mean(flips[k]["random"])),
            }
        )
    return {"lines": len(texts), "random_draws": random_draws, "rows": rows}


def steps_check(fuser: EmotionFuser, texts: list[str], more: int = 64) -> dict:
    """The default steps against ``more`` steps: same top word, largest and mean absolute score difference."""
    same, gaps = [], []
    for text in texts:
        a, b = (explain_samples(fuser, [Sample(text=text)], steps=n)[0]["words"] for n in (STEPS, more))
        sa, sb = np.array([w["score"] for w in a]), np.array([w["score"] for w in b])
        same.append(int(sa.argmax()) == int(sb.argmax()))
        gaps.append(np.abs(sa - sb))
    every = np.concatenate(gaps)
    return {
        "lines": len(texts),
        "steps": [STEPS, more],
        "same_top_word": float(np.mean(same)),
        "max_abs_diff": float(every.max()),
        "mean_abs_diff": float(every.mean()),
    }


def seconds(call, repeats: int) -> float:
    """Median wall time of ``call()`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cost(fuser: EmotionFuser, samples: list[Sample], repeats: int) -> dict:
    """Seconds per item read alone, with and without the explanation (medians over ``repeats``, then the mean)."""
    plain = [seconds(lambda s=s: fuser.predict_samples([s]), repeats) for s in samples]
    explained = [seconds(lambda s=s: fuser.predict_samples([s], explain=True), repeats) for s in samples]
    return {
        "items": len(samples),
        "plain_s": float(np.mean(plain)),
        "explained_s": float(np.mean(explained)),
        "ratio": float(np.sum(explained) / np.sum(plain)),
    }


def demo_samples(fuser: EmotionFuser) -> list[Sample]:
    config = VideoConfig(asr="off", adapt="off")
    return list(iter_samples(DEMO / "demo.mp4", DEMO / "demo.srt", config=config, **sample_settings(fuser, config)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--data", type=Path, default=None, help="shared data root (default: $MMEMPATHY_DATA)")
    parser.add_argument("--lines", type=int, default=500, help="MELD test lines (with 4 words or more) to use")
    parser.add_argument("--random", type=int, default=5, help="random deletions per line and k")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per item (median)")
    parser.add_argument("--cost-lines", type=int, default=20, help="MELD lines in the cost measurement")
    parser.add_argument("--steps-lines", type=int, default=100, help="lines in the steps check")
    parser.add_argument(
        "--parts", nargs="+", default=["deletion", "steps", "cost"], choices=["deletion", "steps", "cost"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model of a smoke run is untrained on purpose
        fuser = EmotionFuser.from_pretrained(args.model, device="cpu")
    data = args.data or default_data_root()
    lines = [s.text for s in get_dataset("meld", data / "meld", split="test") if len(s.text.split()) >= 4]
    picked = np.random.default_rng(args.seed).permutation(len(lines))[: args.lines]
    texts = [lines[i] for i in sorted(picked)]
    report: dict = {"model": args.model, "threads": torch.get_num_threads()}
    if "deletion" in args.parts:
        report["deletion"] = deletion(fuser, texts, random_draws=args.random, seed=args.seed)
    if "steps" in args.parts:
        report["steps"] = steps_check(fuser, texts[: args.steps_lines])
    if "cost" in args.parts:
        report["cost"] = {
            "demo segments (text+speech+face)": cost(fuser, demo_samples(fuser), args.repeats),
            "MELD lines (text)": cost(fuser, [Sample(text=t) for t in texts[: args.cost_lines]], args.repeats),
        }
    print(json.dumps(report, indent=2))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
