"""Online corrections on an unseen speaker: accuracy after 0, 5, 10, 20, 50 corrections, and forgetting.

Protocol (audio only). Speakers the model never saw: RAVDESS test actors 19-24 and the two TESS
speakers (OAF, YAF). For each speaker and seed, the speaker's clips are shuffled; the first ``k``
are given as corrections (their true labels, as a user would give them) and the model is scored on
the speaker's *remaining* clips. Methods, all trained on the same corrections:

* ``calibration``: the per-user calibration head (:mod:`mmempathy.feedback`), with replay;
* ``lora``: LoRA on the fusion and heads, with replay;
* ``finetune``: every parameter of the fusion and heads trained on the corrections alone (the naive way);
* ``finetune+replay``: the same, with the replay buffer.

Forgetting: accuracy on a fixed general test set before and after adapting: RAVDESS test minus the
speaker (for a RAVDESS speaker) or all of RAVDESS test (for a TESS speaker). The replay buffer is a
fixed random draw of RAVDESS *train* clips (actors 1-16, what the lite model trained on).

Every clip is encoded once (the feature cache), then everything runs on cached encoder outputs.

    OMP_NUM_THREADS=1 python benchmarks/feedback.py --out benchmarks/results/feedback
    OMP_NUM_THREADS=1 python benchmarks/feedback.py --select   # the adapter's anchor, chosen on dev actors 17-18
    python benchmarks/feedback.py --smoke  # the tiny random model on a few clips: checks the recipe runs
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
import json
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm.auto import tqdm

from mmempathy import EmotionFuser
from mmempathy.data import get_dataset
from mmempathy.data.ravdess import DEV_ACTORS
from mmempathy.feedback import AdaptSettings, collate, lora_loss, train_adapter
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.sample import Sample
from mmempathy.train.cache import FeatureCache

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TESS_LABELS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "joy", "neutral": "neutral",
               "ps": "surprise", "sad": "sadness"}  # fmt: skip
METHODS = ("calibration", "lora", "finetune", "finetune+replay")
SELECT_MARGIN = 0.5  # points of dev general accuracy an admissible setting may lose at any count (the goal is 1)


def load_model(name: str) -> EmotionFuser:
    """``from_pretrained(name)`` on the CPU, without the untrained-weights warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fuser = EmotionFuser.from_pretrained(name, device="cpu")
    fuser._warned_untrained = True
    return fuser


def ravdess(split: str, data: Path) -> list[Sample]:
    """Audio-only samples (no text), meta with the speaker."""
    ds = get_dataset("ravdess", data / "ravdess", split=split)
    out = []
    for i in range(len(ds)):
        s = ds[i]
        out.append(Sample(audio=s.audio, sample_rate=s.sample_rate, label=s.label, meta={"speaker": s.meta["speaker"]}))
    return out


def tess(data: Path) -> list[Sample]:
    out = []
    for path in sorted((data / "tess").glob("*/*.flac")):
        speaker, _, emotion = path.stem.split("_", 2)
        wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
        label = DEFAULT_LABELS.index(TESS_LABELS[emotion.lower()])
        out.append(Sample(audio=wave.mean(1), sample_rate=rate, label=label, meta={"speaker": speaker}))
    return out


def encode(fuser: EmotionFuser, samples: list[Sample], cache_dir: Path, desc: str) -> list:
    """``[(encoded, label)]`` from the feature cache (encoding what is missing)."""
    cached = FeatureCache(fuser, cache_dir).build(samples, progress=True, desc=desc)
    return [cached[i] for i in range(len(cached))]


@torch.no_grad()
def accuracy(fuser: EmotionFuser, items: list, batch_size: int = 64) -> float:
    if not items:
        return float("nan")
    hits = 0
    for i in range(0, len(items), batch_size):
        encoded, labels = collate(items[i : i + batch_size], fuser.device)
        hits += int((fuser.fuse(encoded).logits.argmax(-1) == labels).sum())
    return 100.0 * hits / len(items)


def finetune(fuser: EmotionFuser, corrections: list, replay: list, *, steps: int, lr: float, seed: int) -> EmotionFuser:
    """A copy of ``fuser`` whose whole fusion and heads are trained (same loss and steps as LoRA)."""
    model = copy.deepcopy(fuser).eval()
    params = [p for n, p in model.named_parameters() if not n.startswith("encoders.")]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    n_corr = min(16, len(corrections))
    with torch.enable_grad():
        for _ in range(steps):
            ci = torch.randperm(len(corrections), generator=gen)[:n_corr]
            loss = lora_loss(model, [corrections[i] for i in ci])[0]
            if replay:
                ri = torch.randperm(len(replay), generator=gen)[: 2 * n_corr]
                loss = loss + lora_loss(model, [replay[i] for i in ri])[0]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model


def load(args: argparse.Namespace, fuser: EmotionFuser) -> tuple[dict[str, list], list, list, list]:
    """Encoded ``(speakers, general pool, the pool's speakers, replay buffer)``.

    Test protocol: the users are RAVDESS test actors and TESS speakers, the general set RAVDESS test
    (minus the user). ``--dev`` (choosing hyperparameters, never on the test speakers): the users are
    the dev actors 17-18, the general set the other dev actor and the RAVDESS train clips outside the
    replay buffer.
    """
    cache = Path(args.cache)
    train = ravdess("train", DATA)
    order = np.random.default_rng(0).permutation(len(train))
    replay = [train[i] for i in order[: args.replay]]
    users = ravdess("dev" if args.dev else "test", DATA)
    pool = users + [train[i] for i in order[args.replay :]] if args.dev else users
    actors = DEV_ACTORS if args.dev else args.ravdess_actors
    speakers_data = {f"ravdess-{a}": [s for s in users if s.meta["speaker"] == a] for a in actors}
    if args.tess and not args.dev:
        t = tess(DATA)
        speakers_data |= {f"tess-{sp}": [s for s in t if s.meta["speaker"] == sp] for sp in args.tess_speakers}
    if args.smoke:
        speakers_data = {k: v[: args.smoke] for k, v in list(speakers_data.items())[:2]}
        pool, replay = pool[: args.smoke * 2], replay[: args.smoke]
    enc_pool = encode(fuser, pool, cache, "general")
    enc_replay = encode(fuser, replay, cache, "replay")
    enc_speakers = {k: encode(fuser, v, cache, k) for k, v in speakers_data.items()}
    return enc_speakers, enc_pool, [s.meta["speaker"] for s in pool], enc_replay


def adapt_rows(
    fuser: EmotionFuser,
    data: tuple[dict[str, list], list, list, list],
    args: argparse.Namespace,
    overrides: dict | None = None,
    progress: bool = True,
) -> list[dict]:
    """One row per speaker, seed and correction count: the accuracy of every method on the speaker's
    other clips and on the general set. ``overrides``: :class:`AdaptSettings` fields for the adapters."""
    enc_speakers, enc_pool, pool_speaker, enc_replay = data
    rows = []
    bar = tqdm(total=len(enc_speakers) * len(args.seeds) * len(args.counts), desc="adapt", disable=not progress)
    for name, items in enc_speakers.items():
        actor = int(name.split("-")[1]) if name.startswith("ravdess") else None
        general = [it for it, sp in zip(enc_pool, pool_speaker) if sp != actor]
        base_general = accuracy(fuser, general)
        for seed in args.seeds:
            order = np.random.default_rng(seed).permutation(len(items))
            for k in args.counts:
                corr = [items[i] for i in order[:k]]
                rest = [items[i] for i in order[k:]]
                base = accuracy(fuser, rest)
                row = {"speaker": name, "seed": seed, "k": k, "n_eval": len(rest), "base": base,
                       "base_general": base_general}  # fmt: skip
                if k == 0:
                    for m in args.methods:
                        row[m], row[f"{m}_general"] = base, base_general
                else:
                    for kind in [m for m in ("calibration", "lora") if m in args.methods]:
                        t0 = time.perf_counter()
                        settings = AdaptSettings(kind=kind, steps=args.steps, seed=seed, **(overrides or {}))
                        adapter = train_adapter(fuser, corr, enc_replay, settings)
                        row[f"{kind}_seconds"] = time.perf_counter() - t0
                        row[kind], row[f"{kind}_general"] = accuracy(fuser, rest), accuracy(fuser, general)
                        row[f"{kind}_params"] = sum(p.numel() for p in adapter.parameters(fuser))
                        fuser.use_adapter(None)
                    for m, replay in (("finetune", []), ("finetune+replay", enc_replay)):
                        if m not in args.methods:
                            continue
                        t0 = time.perf_counter()
                        model = finetune(fuser, corr, replay, steps=args.steps, lr=args.finetune_lr, seed=seed)
                        row[f"{m}_seconds"] = time.perf_counter() - t0
                        row[m], row[f"{m}_general"] = accuracy(model, rest), accuracy(model, general)
                rows.append(row)
                bar.update()
    bar.close()
    return rows


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    fuser = load_model(args.model)
    data = load(args, fuser)
    return {
        "rows": adapt_rows(fuser, data, args),
        "model": args.model,
        "replay": len(data[3]),
        "general": len(data[1]),
        "methods": list(args.methods),
        "steps": args.steps,
        "settings": dataclasses.asdict(AdaptSettings(steps=args.steps)),
        "protocol": "dev" if args.dev else "test",
    }


def select(args: argparse.Namespace) -> dict:
    """The calibration adapter's ``anchor``, ``distill_temperature`` and ``replay_weight``, chosen on
    the dev speakers (``--dev``): the highest mean accuracy over the correction counts among the
    settings whose mean general-set change is above ``-SELECT_MARGIN`` points at every count."""
    args.dev, args.tess, args.methods = True, False, ["calibration"]
    torch.manual_seed(0)
    fuser = load_model(args.model)
    data = load(args, fuser)
    grid = []
    configs = list(itertools.product(args.grid_anchor, args.grid_temperature, args.grid_replay_weight))
    for anchor, temperature, weight in tqdm(configs, desc="dev grid"):
        overrides = {"anchor": anchor, "distill_temperature": temperature, "replay_weight": weight}
        rows = adapt_rows(fuser, data, args, overrides, progress=False)
        counts = [k for k in args.counts if k > 0]
        change = {k: float(np.mean([r["calibration_general"] - r["base_general"] for r in rows if r["k"] == k]))
                  for k in counts}  # fmt: skip
        gain = {k: float(np.mean([r["calibration"] - r["base"] for r in rows if r["k"] == k])) for k in counts}
        grid.append({**overrides, "change": change, "gain": gain, "mean_gain": float(np.mean(list(gain.values()))),
                     "admissible": min(change.values()) > -SELECT_MARGIN})  # fmt: skip
    admissible = [g for g in grid if g["admissible"]]
    chosen = max(admissible, key=lambda g: g["mean_gain"]) if admissible else None
    return {"grid": grid, "chosen": chosen, "margin": SELECT_MARGIN, "counts": args.counts, "seeds": args.seeds,
            "speakers": list(data[0]), "general": len(data[1]), "replay": len(data[3]),
            "steps": args.steps}  # fmt: skip


def select_lines(result: dict) -> list[str]:
    counts = [k for k in result["counts"] if k > 0]
    lines = ["| anchor | T | replay weight | " + " | ".join(f"gain {k}" for k in counts) + " | "
             + " | ".join(f"change {k}" for k in counts) + " | admissible |",
             "|---|---|---|" + "---|" * (2 * len(counts) + 1)]  # fmt: skip
    for g in result["grid"]:
        chosen = " **chosen**" if g == result["chosen"] else ""
        lines.append(
            f"| {g['anchor']:g} | {g['distill_temperature']:g} | {g['replay_weight']:g} | "
            + " | ".join(f"{g['gain'][k]:+.1f}" for k in counts)
            + " | "
            + " | ".join(f"{g['change'][k]:+.1f}" for k in counts)
            + f" | {'yes' if g['admissible'] else 'no'}{chosen} |"
        )
    return lines


def summarise(result: dict, counts: list[int]) -> list[str]:
    rows, METHODS = result["rows"], result["methods"]  # noqa: N806
    lines = ["| corrections | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for k in counts:
        sel = [r for r in rows if r["k"] == k]
        cells = [f"{np.mean([r[m] for r in sel]):.1f} ± {np.std([r[m] for r in sel]):.1f}" for m in METHODS]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += ["", "Forgetting: general-test accuracy after adapting minus before (points, mean ± std over runs)", "",
              "| corrections | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]  # fmt: skip
    for k in counts[1:]:
        sel = [r for r in rows if r["k"] == k]
        cells = [
            f"{np.mean([r[f'{m}_general'] - r['base_general'] for r in sel]):+.1f} ± "
            f"{np.std([r[f'{m}_general'] - r['base_general'] for r in sel]):.1f}"
            for m in METHODS
        ]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines


def plot(result: dict, counts: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, methods = result["rows"], result["methods"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for m in methods:
        mean = [np.mean([r[m] for r in rows if r["k"] == k]) for k in counts]
        std = [np.std([r[m] for r in rows if r["k"] == k]) for k in counts]
        axes[0].errorbar(counts, mean, yerr=std, marker="o", capsize=3, label=m)
        gen = [np.mean([r[f"{m}_general"] for r in rows if r["k"] == k]) for k in counts]
        axes[1].plot(counts, gen, marker="o", label=m)
    axes[0].set(xlabel="corrections from the speaker", ylabel="accuracy on the speaker's other clips (%)",
                title="Unseen speaker")  # fmt: skip
    axes[1].set(xlabel="corrections from the speaker", ylabel="general test accuracy (%)", title="Forgetting")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lite")
    parser.add_argument("--ravdess-actors", type=int, nargs="+", default=[19, 20, 21, 22, 23, 24])
    parser.add_argument("--no-tess", dest="tess", action="store_false")
    parser.add_argument("--tess-speakers", nargs="+", default=["OAF", "YAF"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 5, 10, 20, 50])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--finetune-lr", type=float, default=1e-3)
    parser.add_argument("--replay", type=int, default=300, help="RAVDESS train clips in the replay buffer")
    parser.add_argument("--tag", default="", help="suffix of the output files (default: the methods)")
    parser.add_argument("--cache", default="runs/feedback-cache")
    parser.add_argument("--out", default="benchmarks/results/feedback")
    parser.add_argument("--smoke", type=int, default=0, help="clips per speaker: a quick check on the tiny model")
    parser.add_argument("--dev", action="store_true", help="the dev protocol: users RAVDESS 17-18 (see load)")
    parser.add_argument("--select", action="store_true", help="choose the calibration adapter's anchor on dev")
    parser.add_argument("--grid-anchor", type=float, nargs="+", default=[0, 10, 30, 100, 300])
    parser.add_argument("--grid-temperature", type=float, nargs="+", default=[1, 2, 4])
    parser.add_argument("--grid-replay-weight", type=float, nargs="+", default=[0, 1])
    args = parser.parse_args()
    if args.smoke:
        args.model, args.seeds, args.counts, args.steps = "tiny", [0], [0, 2], 3
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.select:
        chosen = select(args)
        (out / f"select-{args.tag or 'dev'}.json").write_text(json.dumps(chosen, indent=1))
        print("\n".join(select_lines(chosen)))
        return
    result = run(args)
    tag = args.tag or "-".join(args.methods) + ("-dev" if args.dev else "")
    (out / f"results-{tag}.json").write_text(json.dumps(result, indent=1))
    lines = summarise(result, args.counts)
    (out / f"summary-{tag}.md").write_text("\n".join(lines) + "\n")
    plot(result, args.counts, out / f"feedback-{tag}.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
