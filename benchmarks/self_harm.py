"""The self-harm check (:mod:`mmempathy.respond.safety`): recall on phrasings and false alarms on ordinary text.

Sets:

* ``benchmarks/self_harm_lists/dev.jsonl``: our own labelled phrasings, used to choose the semantic
  threshold (``--choose``) and to grow the patterns; optimistic by construction.
* ``benchmarks/self_harm_lists/heldout.jsonl``: risk phrasings and ordinary lines written before any
  tuning and never edited after: recall on wordings nobody tuned on.
* MELD (all three official splits) and GoEmotions (``original/``, each split) lines that contain
  "kill", "die", "dead", "death", "end it" and the like: ordinary emotional text, so each flag is a
  false alarm unless, read by hand, the line does speak of self-harm (the flagged lines are saved
  for that reading). GoEmotions' train split was looked at while choosing the threshold; its dev
  and test splits and MELD were not.

Threshold rule (``--choose``): the smallest similarity, on a 0.01 grid, at which the whole check flags
at most 5 % of the dev list's ordinary lines and the semantic layer adds flags to at most 1 % of
GoEmotions' train lines with those words (lines no pattern flagged); the dev recall there is reported.

    OMP_NUM_THREADS=1 python benchmarks/self_harm.py --choose
    OMP_NUM_THREADS=1 python benchmarks/self_harm.py --out benchmarks/results/self_harm
    python benchmarks/self_harm.py --limit 20 --out /tmp/self_harm   # smoke run
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import time
from pathlib import Path

import numpy as np

from mmempathy.data.goemotions import read_tsv
from mmempathy.data.meld import read_meld_csv
from mmempathy.respond.safety import SemanticCheck, match_pattern, normalise

HERE = Path(__file__).resolve().parent
LISTS = HERE / "self_harm_lists"
DATA = HERE.parent.parent / "shared" / "data"
# Lines of ordinary text that an over-eager check would flag.
DANGER_WORDS = re.compile(
    r"\b(?:kill\w*|die[sd]?|dying|dead\w*|death\w*|end(?:ing)? (?:it|things|everything|my life)|suicid\w*|"
    r"overdos\w*|(?:hang|hurt|cut|harm)(?:ing)? myself)\b"
)


# The check before issue 25 (one case-insensitive regular expression on the raw text), for comparison.
PREVIOUS = re.compile(
    r"\b(kill(ing)? my ?self|suicid\w*|end(ing)? (my|it all|my own) ?(life)?|take my (own )?life|"
    r"hurt(ing)? my ?self|harm(ing)? my ?self|self[- ]harm\w*|cut(ting)? my ?self|want(ed)? to die|"
    r"better off dead|(don't|do not|dont) want to (live|be alive|be here)|no reason to live|"
    r"not worth living|wish i (was|were) dead)\b",
    re.IGNORECASE,
)


def read_list(name: str) -> list[dict]:
    return [json.loads(line) for line in (LISTS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def ordinary_lines(data: Path) -> dict[str, list[str]]:
    """MELD and GoEmotions lines with words of death or killing, one list per corpus split."""
    sets = {}
    for split in ("train", "dev", "test"):
        texts = read_meld_csv(data / "meld" / f"{split}_sent_emo.csv")["Utterance"].tolist()
        sets[f"meld-{split}"] = texts
    for split in ("train", "dev", "test"):
        sets[f"goemotions-{split}"] = [t for t, _, _ in read_tsv(data / "goemotions" / "original" / f"{split}.tsv")]
    return {k: [t for t in v if DANGER_WORDS.search(normalise(t))] for k, v in sets.items()}


def score(texts: list[str], semantic: SemanticCheck, batch: int = 64) -> tuple[list[str | None], np.ndarray, list]:
    """Per text: the pattern that fired (or ``None``), the semantic similarity and the :class:`SemanticScore`.

    The similarity is set to -1 where the sentence is closer to a figure of speech, so that any
    threshold leaves it unflagged, as :class:`SemanticCheck` does.
    """
    normal = [normalise(t) for t in texts]
    patterns = [(m[0] if (m := match_pattern(t)) else None) for t in normal]
    found = [s for i in range(0, len(normal), batch) for s in semantic.scores(normal[i : i + batch])]
    return patterns, np.array([s.score if s.score > s.figure_score else -1.0 for s in found]), found


def flags(patterns: list[str | None], sims: np.ndarray, threshold: float) -> np.ndarray:
    return np.array([p is not None for p in patterns]) | (sims >= threshold)


def choose(dev: list[dict], train_lines: list[str], semantic: SemanticCheck) -> dict:
    """The threshold rule of the module's docstring, applied to the dev list and GoEmotions train."""
    semantic = copy.copy(semantic)
    semantic.threshold = -1.0  # every sentence that beats the figures of speech, so any threshold can be tried
    pats, sims, _ = score([d["text"] for d in dev], semantic)
    risk = np.array([d["risk"] for d in dev], bool)
    train_pats, train_sims, _ = score(train_lines, semantic)
    left = np.array([p is None for p in train_pats])  # the lines the patterns leave to the semantic layer
    for t in np.round(np.arange(0.30, 0.95, 0.01), 2):
        dev_fa = flags(pats, sims, t)[~risk].mean()
        train_fa = ((train_sims >= t) & left).mean()
        if dev_fa <= 0.05 and train_fa <= 0.01:
            return {
                "threshold": float(t),
                "dev_recall": float(flags(pats, sims, t)[risk].mean()),
                "dev_false_alarms": float(dev_fa),
                "goemotions_train_added_by_semantic": float(train_fa),
                "dev_risk_similarity": [float(x) for x in np.sort(sims[risk])],
                "dev_ordinary_similarity": [float(x) for x in np.sort(sims[~risk])],
            }
    raise SystemExit("no threshold meets the rule")


def evaluate(name: str, texts: list[str], risk: list[int], semantic: SemanticCheck) -> dict:
    pats, sims, found = score(texts, semantic)
    fired = flags(pats, sims, semantic.threshold)
    by_pattern = np.array([p is not None for p in pats])
    previous = np.array([bool(PREVIOUS.search(t)) for t in texts])
    risk_arr = np.array(risk, bool)
    out = {"set": name, "n": len(texts), "n_risk": int(risk_arr.sum()), "n_ordinary": int((~risk_arr).sum())}
    if risk_arr.any():
        out |= {
            "recall": float(fired[risk_arr].mean()),
            "recall_patterns_only": float(by_pattern[risk_arr].mean()),
            "recall_previous": float(previous[risk_arr].mean()),
            "missed": [t for t, f, r in zip(texts, fired, risk_arr) if r and not f],
        }
    if (~risk_arr).any():
        out |= {
            "false_alarms": int(fired[~risk_arr].sum()),
            "false_alarm_rate": float(fired[~risk_arr].mean()),
            "false_alarms_patterns_only": int(by_pattern[~risk_arr].sum()),
            "false_alarms_previous": int(previous[~risk_arr].sum()),
        }
    out["flagged"] = [
        {"text": t, "risk": bool(r), "layer": "pattern" if p else "semantic", "rule": p or s.statement,
         "similarity": round(float(s.score), 3)}
        for t, r, p, s, f in zip(texts, risk_arr, pats, found, fired) if f
    ]  # fmt: skip
    return out


def timing(texts: list[str], semantic: SemanticCheck) -> dict:
    """Milliseconds a text: normalisation and patterns alone, and with the semantic layer (one text a call)."""
    start = time.perf_counter()
    for t in texts:
        match_pattern(normalise(t))
    patterns_ms = (time.perf_counter() - start) * 1000 / len(texts)
    start = time.perf_counter()
    for t in texts:
        semantic.score(t)
    semantic_ms = (time.perf_counter() - start) * 1000 / len(texts)
    return {"patterns_ms": round(patterns_ms, 4), "semantic_ms": round(semantic_ms, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (meld/, goemotions/)")
    parser.add_argument("--choose", action="store_true", help="choose the threshold on the dev list and stop")
    parser.add_argument("--threshold", type=float, default=None, help="override the shipped threshold")
    parser.add_argument("--limit", type=int, default=0, help="at most this many lines of each set (smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="write one JSON per set here")
    args = parser.parse_args()

    semantic = SemanticCheck() if args.threshold is None else SemanticCheck(threshold=args.threshold)
    cap = (lambda xs: xs[: args.limit]) if args.limit else (lambda xs: xs)
    ordinary = {k: cap(v) for k, v in ordinary_lines(args.data).items()}
    dev, heldout = cap(read_list("dev.jsonl")), cap(read_list("heldout.jsonl"))
    if args.choose:
        print(json.dumps(choose(dev, ordinary["goemotions-train"], semantic), indent=1))
        return
    sets = {"dev": dev, "heldout": heldout} | {k: [{"text": t, "risk": 0} for t in v] for k, v in ordinary.items()}
    results = [evaluate(k, [d["text"] for d in v], [d["risk"] for d in v], semantic) for k, v in sets.items()]
    speed = timing([d["text"] for d in heldout], semantic)
    print(f"threshold {semantic.threshold}; ms a text: patterns {speed['patterns_ms']}, all {speed['semantic_ms']}")
    print("| set | lines | recall (patterns alone; previous regex) | false alarms (patterns alone; previous regex) |")
    print("|---|---|---|---|")
    for r in results:
        rec = "-"
        if r["n_risk"]:
            rec = f"{r['recall']:.1%} of {r['n_risk']} ({r['recall_patterns_only']:.1%}; {r['recall_previous']:.1%})"
        fa = "-"
        if r["n_ordinary"]:
            fa = f"{r['false_alarms']} of {r['n_ordinary']} = {r['false_alarm_rate']:.1%}"
            fa += f" ({r['false_alarms_patterns_only']}; {r['false_alarms_previous']})"
        print(f"| {r['set']} | {r['n']} | {rec} | {fa} |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for r in results:
            (args.out / f"{r['set']}.json").write_text(json.dumps(r | {"threshold": semantic.threshold}, indent=1))
        (args.out / "timing.json").write_text(json.dumps(speed))


if __name__ == "__main__":
    main()
