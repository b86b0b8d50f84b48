"""Baselines and a PPO agent on ``mmempathy/EmpathyDialogue-v0`` built on MELD dialogues.

Builds the dialogue sets (MELD train / dev / test read by the lite model's text head; consults of the
voice and the face emulated with the model's audio head on label-matched RAVDESS clips and its face
head on label-matched FER2013 faces: training speakers/faces for train, held-out ones for dev/test;
see :mod:`mmempathy.rl.data`), then evaluates on the *test* dialogues:

* random (uniform over all actions), always-majority (the training set's most frequent label),
  always-text (the supervised text classifier), always-consult-all (supervised late fusion of all three);
* a threshold policy (consult while unsure; two thresholds and the order fitted on train);
* PPO (Stable-Baselines3, MlpPolicy), trained on train dialogues, with a learning curve on dev;
* with ``--cost-warmup``: PPO with a curriculum on the consult cost (free at first), its warm-up
  chosen on the dev dialogues.

Mean ± std over seeds (random: policy seeds; PPO: training seeds). Encoder outputs are cached.

    OMP_NUM_THREADS=1 python benchmarks/rl_baselines.py --out benchmarks/results/rl
    OMP_NUM_THREADS=1 python benchmarks/rl_baselines.py --cost-warmup 0.25 0.5   # + a consult-cost curriculum
    python benchmarks/rl_baselines.py --smoke   # tiny random model, a few dialogues
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mmempathy import EmotionFuser
from mmempathy.data import get_dataset
from mmempathy.rl.data import build_dialogue_set, fit_projection, modality_pool, readings
from mmempathy.rl.env import DialogueSet, EmpathyDialogueEnv
from mmempathy.rl.policies import (
    ConsultAllPolicy,
    MajorityPolicy,
    RandomPolicy,
    TextPolicy,
    ThresholdPolicy,
    evaluate,
    fit_threshold_policy,
)
from mmempathy.sample import Sample
from mmempathy.train.cache import FeatureCache

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedback import load_model  # noqa: E402  (the benchmarks' shared model loader)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def cached(fuser: EmotionFuser, samples: list[Sample], cache: Path, desc: str) -> list:
    ds = FeatureCache(fuser, cache).build(samples, progress=True, desc=desc)
    return [ds[i] for i in range(len(ds))]


def per_class(samples: list, n: int, seed: int = 0) -> list:
    """At most ``n`` items of each label (a fixed random draw)."""
    rng = np.random.default_rng(seed)
    out = []
    for y in sorted({s.label for s in samples}):
        idx = [i for i, s in enumerate(samples) if s.label == y]
        out += [samples[i] for i in rng.permutation(idx)[:n]]
    return out


def load_samples(name: str, split: str, **kwargs) -> list[Sample]:
    ds = get_dataset(name, DATA / {"meld": "meld", "ravdess": "ravdess", "fer2013": "fer2013"}[name], split=split)
    return [ds[i] for i in range(len(ds))]


def build_sets(fuser: EmotionFuser, args: argparse.Namespace) -> dict[str, DialogueSet]:
    cache = Path(args.cache)
    out_dir = Path(args.cache) / "dialogues"
    meld = {s: load_samples("meld", s) for s in ("train", "dev", "test")}
    voices = {s: [Sample(audio=x.audio, sample_rate=x.sample_rate, label=x.label) for x in load_samples("ravdess", s)]
              for s in ("train", "test")}  # fmt: skip
    faces = {s: per_class(load_samples("fer2013", s), args.faces_per_class) for s in ("train", "test")}
    if args.smoke:
        meld = {k: [x for x in v if x.meta["dialogue"] < 3] for k, v in meld.items()}
        voices = {k: per_class(v, 2) for k, v in voices.items()}
        faces = {k: per_class(v, 2) for k, v in faces.items()}
    pools = {
        side: {
            "audio": modality_pool(fuser, cached(fuser, voices[side], cache, f"ravdess {side}"), "audio"),
            "face": modality_pool(fuser, cached(fuser, faces[side], cache, f"fer {side}"), "face"),
        }
        for side in ("train", "test")
    }
    text = {s: readings(fuser, cached(fuser, [Sample(text=x.text, label=x.label) for x in v], cache, f"meld {s}"),
                        "text") for s, v in meld.items()}  # fmt: skip
    projection = fit_projection(text["train"][1], args.text_dims)
    sets = {}
    for split in ("train", "dev", "test"):
        side = "train" if split == "train" else "test"
        sets[split] = build_dialogue_set(
            fuser, meld[split], pools[side], projection=projection, seed=0, text=text[split],
            meta={"source": "meld", "split": split, "audio_pool": f"ravdess {side}", "face_pool": f"fer2013 {side}"},
        )  # fmt: skip
        sets[split].save(out_dir / f"meld-{split}.safetensors")
    return sets


def train_ppo(train: DialogueSet, dev: DialogueSet, args: argparse.Namespace, seed: int, warmup: float = 0.0) -> tuple:
    """PPO on the train dialogues, with a learning curve on dev (at the full consult cost).

    ``warmup`` > 0: a curriculum on the consult cost, which rises linearly from 0 to ``args.cost``
    over that fraction of the training steps, so that the agent meets consults while they are free,
    learns what they reveal, and keeps them where they pay once they cost.
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import Logger

    env = make_vec_env(lambda: EmpathyDialogueEnv(train, cost=args.cost), n_envs=8, seed=seed)
    dev_env = EmpathyDialogueEnv(dev, cost=args.cost)
    curve: list[tuple[int, float]] = []

    class Progress(BaseCallback):
        def _on_training_start(self) -> None:
            self.bar, self.next_eval = tqdm(total=args.ppo_steps, desc=f"ppo seed {seed} warm-up {warmup:g}"), 0

        def _on_step(self) -> bool:
            if warmup > 0:
                scale = min(1.0, self.num_timesteps / (warmup * args.ppo_steps))
                for base in self.training_env.get_attr("unwrapped"):
                    base.costs = {m: args.cost * scale for m in base.costs}
            self.bar.n = self.num_timesteps
            self.bar.refresh()
            if self.num_timesteps >= self.next_eval:
                policy = lambda obs: int(self.model.predict(obs, deterministic=True)[0])  # noqa: E731
                curve.append((self.num_timesteps, evaluate(dev_env, policy, episodes=args.curve_episodes)["reward"]))
                self.next_eval += args.ppo_steps // 10
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    model = PPO("MlpPolicy", env, seed=seed, n_steps=256, batch_size=256, n_epochs=4, learning_rate=1e-3,
                ent_coef=0.01, device="cpu", verbose=0)  # fmt: skip
    model.set_logger(Logger(folder=None, output_formats=[]))  # else SB3 leaves an empty SB3-<time> folder in /tmp
    model.learn(args.ppo_steps, callback=Progress())
    return model, curve


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lite")
    parser.add_argument("--cost", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ppo-steps", type=int, default=100_000)
    parser.add_argument("--curve-episodes", type=int, default=200, help="dev dialogues per learning-curve point")
    parser.add_argument("--faces-per-class", type=int, default=150)
    parser.add_argument("--text-dims", type=int, default=16)
    parser.add_argument("--cache", default="runs/rl-cache")
    parser.add_argument("--out", default="benchmarks/results/rl")
    parser.add_argument("--cost-warmup", type=float, nargs="*", default=[],
                        help="consult-cost curriculum: warm-up fractions to try on dev (e.g. 0.25 0.5)")  # fmt: skip
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.model, args.seeds, args.ppo_steps, args.faces_per_class, args.curve_episodes = "tiny", [0], 512, 4, 2
    torch.set_num_threads(1)
    fuser = load_model(args.model)
    t0 = time.perf_counter()
    sets = build_sets(fuser, args)
    build_seconds = time.perf_counter() - t0
    test = EmpathyDialogueEnv(sets["test"], cost=args.cost)
    train_env = EmpathyDialogueEnv(sets["train"], cost=args.cost)
    majority = int(np.bincount(sets["train"].targets).argmax())
    results: dict[str, list[dict]] = {
        "random": [evaluate(test, RandomPolicy(test, seed=s)) for s in args.seeds],
        "always-majority": [evaluate(test, MajorityPolicy(majority))],
        "always-text": [evaluate(test, TextPolicy(test))],
        "always-consult-all": [evaluate(test, ConsultAllPolicy(test))],
    }
    _, fitted = fit_threshold_policy(train_env)
    results["threshold (fit on train)"] = [evaluate(test, ThresholdPolicy(test, fitted["order"], fitted["thresholds"]))]
    curves = {}
    for seed in args.seeds:
        model, curve = train_ppo(sets["train"], sets["dev"], args, seed)
        results.setdefault("PPO (SB3)", []).append(
            evaluate(test, lambda obs, m=model: int(m.predict(obs, deterministic=True)[0]))
        )
        curves[seed] = curve
    curriculum = curriculum_runs(sets, test, args, results, curves) if args.cost_warmup else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "results": results, "threshold": fitted, "curves": curves, "build_seconds": build_seconds,
        "sizes": {k: {"dialogues": len(v), "utterances": len(v.targets)} for k, v in sets.items()},
        "majority_label": sets["train"].labels[majority], "cost": args.cost, "ppo_steps": args.ppo_steps,
        "curriculum": curriculum,
    }  # fmt: skip
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    lines = ["| policy | episode reward | weighted F1 (%) | accuracy (%) | consult cost / turn | consults / turn |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, runs in results.items():
        lines.append(
            f"| {name} | {fmt([r['reward'] for r in runs])} | {fmt([r['weighted_f1'] for r in runs])} | "
            f"{fmt([r['accuracy'] for r in runs])} | {np.mean([r['cost_per_turn'] for r in runs]):.3f} | "
            f"{np.mean([r['consults_per_turn'] for r in runs]):.2f} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    plot_curves(curves, results, out / "ppo_curve.png", args)
    print("\n".join(lines))
    print(json.dumps({"threshold": fitted, "sizes": summary["sizes"], "build_seconds": build_seconds}))


def curriculum_runs(
    sets: dict, test: EmpathyDialogueEnv, args: argparse.Namespace, results: dict, curves: dict
) -> dict:
    """The consult-cost curriculum: each ``--cost-warmup`` fraction trained with the first seed and
    scored on **all** dev dialogues (at the full cost); the best one is then trained with every seed
    and evaluated on test (the first seed's dev run is that very model, reused)."""
    dev = EmpathyDialogueEnv(sets["dev"], cost=args.cost)
    tried = {}
    for warmup in args.cost_warmup:
        model, curve = train_ppo(sets["train"], sets["dev"], args, args.seeds[0], warmup)
        policy = lambda obs, m=model: int(m.predict(obs, deterministic=True)[0])  # noqa: E731
        tried[warmup] = {"model": model, "curve": curve, "dev": evaluate(dev, policy)}
    chosen = max(tried, key=lambda w: tried[w]["dev"]["reward"])
    name = f"PPO + consult-cost curriculum (warm-up {chosen:g}, chosen on dev)"
    for seed in args.seeds:
        if seed == args.seeds[0]:
            model, curve = tried[chosen]["model"], tried[chosen]["curve"]
        else:
            model, curve = train_ppo(sets["train"], sets["dev"], args, seed, chosen)
        results.setdefault(name, []).append(
            evaluate(test, lambda obs, m=model: int(m.predict(obs, deterministic=True)[0]))
        )
        curves[f"{seed} curriculum"] = curve
    return {"chosen": chosen, "dev": {str(w): t["dev"] for w, t in tried.items()}}


def plot_curves(curves: dict, results: dict, path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for seed, curve in curves.items():
        if curve:
            steps, reward = zip(*curve)
            ax.plot(steps, reward, marker="o", label=f"PPO seed {seed} (dev)")
    ax.set(xlabel="environment steps", ylabel=f"mean episode reward ({args.curve_episodes} dev dialogues)",
           title="PPO on EmpathyDialogue-v0 (MELD)")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
