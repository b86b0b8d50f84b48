"""Probe: do MediaPipe face blendshapes read the emotion of faces of people never seen, and does a
per-person shift help?

A logistic regression (scikit-learn, on standardised scores) is trained on the 52 blendshape scores
(:class:`~mmempathy.media.blendshapes.BlendshapeExtractor`) of FER2013 train images (``--per-class``
at most of each class, drawn with a fixed seed) and read on person-grouped sets it never saw:

* FER2013 PublicTest (the dev half; no person ids, so no shift),
* CK+48 (``S<subject>_<seq>_<frame>.png`` crops; ``contempt`` dropped; accuracy over all images and the
  mean of the per-subject accuracies),
* the 14 real RAVDESS audio-visual clips of actor 05: the main face's crops cut as
  ``benchmarks/face_real.py`` (and the pipeline) cut them; a clip is the mean of its frames'
  probabilities (also: weighted by the extractor's quality).

Each with and without a **per-person shift** of the blendshape vectors (no labels used, but the
person's other inputs, the test inputs included): ``mean`` moves the person's mean onto the training
mean; ``others`` does the same with the mean of the person's *other* clips (CK+: other sequences), so
that no input shapes its own shift; ``bounded`` moves it at most ``--bound`` training standard
deviations per score; ``calm`` moves
the mean of the person's least emotional quarter (the frames the unshifted classifier finds most
neutral) onto the mean of the training set's neutral faces, and ``quiet`` does the same with the quarter
whose expressive blendshapes (gaze and blinks aside) sum lowest. The same crops go through the face CNN
of the shipped ``lite`` model (faces only), without and with the same shifts (``calm`` and ``quiet``
aside) applied to its log-probabilities, and a late fusion (mean of the two probability vectors) is reported too.

Extracted features are cached under ``--cache`` (default ``/work/cache/blendshape_probe``, outside the
repository). ``--private-test`` also scores FER2013 PrivateTest (touch it once, at the end).

    python benchmarks/blendshape_probe.py --per-class 1500 --out benchmarks/results/blendshapes/probe.json
    python benchmarks/blendshape_probe.py --speed     # ms a face on one thread, on the demo clip's faces
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from face_real import DEFAULT_DATA as RAVDESS_AV
from face_real import clip_crops, label_of
from tqdm import tqdm
from video_speed import machine

from mmempathy import EmotionFuser
from mmempathy.data.fer2013 import FOLDER_CLASSES
from mmempathy.data.fer2013 import LABEL_MAP as FER_MAP
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.media.blendshapes import BLENDSHAPES, BlendshapeExtractor
from mmempathy.media.pipeline import VideoConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CKPLUS = {"anger": "anger", "disgust": "disgust", "fear": "fear", "happy": "joy", "sadness": "sadness"}
CKPLUS["surprise"] = "surprise"  # contempt has no default label: dropped
NEUTRAL = DEFAULT_LABELS.index("neutral")
SHIFTS = ("none", "mean", "others", "bounded", "calm", "quiet")
# the blendshapes that move with expression (gaze and blinks do not), summed into the ``quiet`` shift's activity
EXPRESSIVE = [i for i, name in enumerate(BLENDSHAPES) if not name.startswith(("_neutral", "eyeLook", "eyeBlink"))]


# --- the inputs: gray or RGB uint8 crops, default-space labels, and a person (group) id per crop -----------


def fer_images(root: Path, split: str, per_class: int | None, seed: int = 0) -> dict:
    """FER2013 ``train`` (at most ``per_class`` a class, drawn with ``seed``) or a test half by file prefix."""
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for name in FOLDER_CLASSES:
        folder = root / ("train" if split == "train" else "test") / name
        found = sorted(folder.glob("*.jpg" if split == "train" else f"{split}_*.jpg"))
        if per_class is not None and len(found) > per_class:
            found = [found[i] for i in sorted(rng.choice(len(found), per_class, replace=False))]
        paths += found
        labels += [FER_MAP.index(name)] * len(found)
    if not paths:
        raise SystemExit(f"no FER2013 {split} images under {root}")
    crops = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    return {"crops": crops, "labels": np.array(labels), "groups": np.arange(len(paths)), "units": np.arange(len(paths))}


def ckplus_images(root: Path, limit: int | None = None) -> dict:
    """CK+48 crops of the six classes we share, with the subject (``S005``) as the group."""
    paths = sorted(p for name in CKPLUS for p in (root / name).glob("*.png"))[:limit]
    if not paths:
        raise SystemExit(f"no CK+48 images under {root}")
    return {
        "crops": [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths],
        "labels": np.array([DEFAULT_LABELS.index(CKPLUS[p.parent.name]) for p in paths]),
        "groups": np.array([p.stem.split("_")[0] for p in paths]),
        "units": np.array(["_".join(p.stem.split("_")[:2]) for p in paths]),  # the sequence
    }


def actor_crops(root: Path, face_size: int, limit: int | None = None) -> dict:
    """The main face's crops of each clip, as the pipeline cuts them; the group is the clip's index."""
    clips = sorted(root.glob("Actor_*/*.mp4"))[:limit]
    if not clips:
        raise SystemExit(f"no Actor_*/*.mp4 under {root}")
    crops, owner = [], []
    for i, path in enumerate(tqdm(clips, desc="clips", leave=False)):
        cut, _ = clip_crops(path, "auto", face_size, VideoConfig())
        crops += cut
        owner += [i] * len(cut)
    labels = [DEFAULT_LABELS.index(label_of(p)) for p in clips]
    owner = np.array(owner)
    return {"crops": crops, "labels": np.array([labels[i] for i in owner]), "groups": owner, "units": owner}


def features(name: str, load, extractor: BlendshapeExtractor, fuser: EmotionFuser, cache: Path) -> dict:
    """Blendshapes and the lite face CNN's probabilities of a set, from ``cache/<name>.npz`` when there."""
    file = cache / f"{name}.npz"
    if file.is_file():
        return dict(np.load(file, allow_pickle=False))
    data = load()
    crops = data.pop("crops")
    started, rows = time.perf_counter(), []
    for start in tqdm(range(0, len(crops), 64), desc=f"{name}: blendshapes", unit_scale=64):
        rows.append(extractor(crops[start : start + 64]))
    seconds = time.perf_counter() - started
    cnn = []
    for start in tqdm(range(0, len(crops), 256), desc=f"{name}: lite CNN", unit_scale=256):
        chunk = crops[start : start + 256]
        results = fuser.predict([None] * len(chunk), faces=[c[None] for c in chunk], batch_size=256)
        cnn.append(np.array([[r.probs[k] for k in DEFAULT_LABELS] for r in results]))
    out = {
        **data,
        "scores": np.concatenate([r.scores for r in rows]),
        "quality": np.concatenate([r.quality for r in rows]),
        "presence": np.concatenate([r.presence for r in rows]),
        "pose": np.concatenate([r.pose for r in rows]),
        "cnn": np.concatenate(cnn),
        "ms_per_face": np.array(1e3 * seconds / max(1, len(crops))),
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(file, **out)
    return out


# --- the shift and the scores ---------------------------------------------------------------------------------


def person_shift(
    x: np.ndarray,
    groups: np.ndarray,
    target: np.ndarray,
    *,
    mode: str,
    scale: np.ndarray | None = None,
    bound: float = 0.5,
    calm: np.ndarray | None = None,
    calm_target: np.ndarray | None = None,
    units: np.ndarray | None = None,
) -> np.ndarray:
    """``x`` with each group's reference point moved onto ``target`` (no labels used).

    ``mean``: the group's mean; ``others``: for each of the group's ``units`` (a clip, a sequence), the
    mean of the group's other units, so that no input shapes its own shift; ``bounded``: the ``mean``
    move, clipped to ``bound * scale`` per feature; ``calm``: the mean of the group's rows with the
    top-quarter ``calm`` score, moved onto ``calm_target``.
    """
    if mode == "none":
        return x
    out = x.copy()
    for group in np.unique(groups):
        rows = groups == group
        if mode == "calm":
            k = max(1, int(np.ceil(rows.sum() / 4)))
            chosen = np.flatnonzero(rows)[np.argsort(-calm[rows])[:k]]
            out[rows] += calm_target - x[chosen].mean(0)
            continue
        if mode == "others":
            for unit in np.unique(units[rows]):
                mine = rows & (units == unit)
                rest = rows & ~mine
                out[mine] += target - x[rest if rest.any() else mine].mean(0)
            continue
        move = target - x[rows].mean(0)
        if mode == "bounded":
            move = np.clip(move, -bound * scale, bound * scale)
        out[rows] += move
    return out


def accuracy(probs: np.ndarray, labels: np.ndarray, groups: np.ndarray, *, by: str, weights=None) -> dict:
    """Overall accuracy, and ``by="person"``: mean per-group accuracy; ``by="clip"``: groups are clips
    whose (weighted) mean probability is the prediction."""
    hits = probs.argmax(1) == labels
    out = {"n": len(labels), "accuracy": float(hits.mean())}
    if by == "person":
        out["per_person"] = float(np.mean([hits[groups == g].mean() for g in np.unique(groups)]))
        out["persons"] = len(np.unique(groups))
    elif by == "clip":
        w = np.ones(len(labels)) if weights is None else weights
        clips = np.unique(groups)
        right = [
            np.average(probs[groups == c], axis=0, weights=w[groups == c] + 1e-9).argmax() == labels[groups == c][0]
            for c in clips
        ]
        out |= {"clips": len(clips), "clips_right": int(sum(right)), "frame_accuracy": out.pop("accuracy")}
    return out


def log_softmax(z: np.ndarray) -> np.ndarray:
    return z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)


def evaluate(train: dict, sets: dict[str, dict], *, bound: float, c: float) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    probe.fit(train["scores"], train["labels"])
    x_mean, x_std = train["scores"].mean(0), train["scores"].std(0) + 1e-6
    neutral_mean = train["scores"][train["labels"] == NEUTRAL].mean(0)
    cnn_log = np.log(train["cnn"] + 1e-9)
    out: dict = {"train": {"n": len(train["labels"]), "accuracy": float(probe.score(train["scores"], train["labels"]))}}
    for name, data in sets.items():
        by = "person" if name == "ckplus" else "clip" if name.startswith("actor05") else "none"
        # the people: CK+ subjects; every clip of actor 05 is the same person
        people = np.zeros(len(data["labels"])) if by == "clip" else data["groups"]
        # what marks a person's least emotional frames: the classifier's neutral probability, or little activity
        calm = {"calm": probe.predict_proba(data["scores"])[:, NEUTRAL], "quiet": -data["scores"][:, EXPRESSIVE].sum(1)}
        rows = {}
        for mode in SHIFTS if by != "none" else ("none",):
            shifted = person_shift(
                data["scores"],
                people,
                x_mean,
                mode="calm" if mode in calm else mode,
                scale=x_std,
                bound=bound,
                calm=calm.get(mode),
                calm_target=neutral_mean,
                units=data.get("units"),
            )
            probs = probe.predict_proba(shifted)
            rows[f"blendshapes/{mode}"] = accuracy(probs, data["labels"], data["groups"], by=by)
            if by == "clip":
                rows[f"blendshapes/{mode}/quality-weighted"] = accuracy(
                    probs, data["labels"], data["groups"], by=by, weights=data["quality"]
                )
            if mode not in calm:
                z = person_shift(
                    np.log(data["cnn"] + 1e-9),
                    people,
                    cnn_log.mean(0),
                    mode=mode,
                    scale=cnn_log.std(0),
                    bound=bound,
                    units=data.get("units"),
                )
                cnn = np.exp(log_softmax(z))
                rows[f"lite-cnn/{mode}"] = accuracy(cnn, data["labels"], data["groups"], by=by)
                rows[f"fusion/{mode}"] = accuracy((cnn + probs) / 2, data["labels"], data["groups"], by=by)
        out[name] = rows
    return out


def speed(repeats: int = 5, faces: int = 40) -> dict:
    """Milliseconds a face on one thread (median of ``repeats`` passes over ``faces`` crops of the demo
    clip, cut by the pipeline's FaceExtractor at 48 and 112 px), single pass and refined."""
    from mmempathy.media.decode import iter_frames
    from mmempathy.media.faces import FaceExtractor

    demo = Path(__file__).resolve().parents[1] / "examples" / "demo" / "demo.mp4"
    out = {}
    for size in (48, 112):
        cut = FaceExtractor(size)
        crops = [c for item in iter_frames(demo, fps=faces / 18) for c in cut(item.image, item.time).crops[:1]]
        for refine in (False, True):
            extractor = BlendshapeExtractor(refine=refine, threads=1)
            extractor(crops[:2])  # warm-up
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                extractor(crops)
                times.append(1e3 * (time.perf_counter() - started) / len(crops))
            out[f"{size}px{' refine' if refine else ''}"] = float(np.median(times))
    return out


def print_tables(results: dict) -> None:
    """One markdown table a set: a row per model and shift."""
    for name, rows in results.items():
        if name in ("setup", "train"):
            continue
        keys = [k for k in next(iter(rows.values())) if k != "n"]
        print(f"\n{name} (n={next(iter(rows.values()))['n']})\n| model / shift | {' | '.join(keys)} |")
        print("|---" * (len(keys) + 1) + "|")
        for row, r in rows.items():
            cells = [f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys]
            print(f"| {row} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer2013", type=Path, default=SHARED / "fer2013")
    parser.add_argument("--ckplus", type=Path, default=Path("/work/data/ckplus/CK+48"))
    parser.add_argument("--ravdess-av", type=Path, default=RAVDESS_AV)
    parser.add_argument("--per-class", type=int, default=1500, help="FER2013 train images per class, at most")
    parser.add_argument("--bound", type=float, default=0.5, help="the bounded shift's limit, in training stds")
    parser.add_argument("--c", type=float, default=1.0, help="the logistic regression's inverse regularisation")
    parser.add_argument("--actor-size", type=int, default=160, help="also actor 05's crops at this side (0: no)")
    parser.add_argument("--refine", action="store_true", help="run the landmark model twice per face")
    parser.add_argument("--private-test", action="store_true", help="also score FER2013 PrivateTest (once)")
    parser.add_argument("--speed", action="store_true", help="only time the extractor on the demo clip's faces")
    parser.add_argument("--smoke", type=int, default=None, help="a few images of each set (and 2 clips) only")
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/blendshape_probe"))
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.speed:
        timing = speed()
        print(json.dumps({"ms_per_face": timing, "machine": machine(), "load_average": os.getloadavg()}, indent=1))
        return
    extractor = BlendshapeExtractor(refine=args.refine, threads=1)
    fuser = EmotionFuser.from_pretrained("lite", device="cpu")
    n = args.smoke
    tag = f"{'refine' if args.refine else 'single'}{f'-smoke{n}' if n else ''}"
    cache = args.cache / tag
    per_class = min(args.per_class, n) if n else args.per_class
    loaders = {
        f"fer_train{per_class}": lambda: fer_images(args.fer2013, "train", per_class),
        "fer_public": lambda: fer_images(args.fer2013, "PublicTest", n),
        "ckplus": lambda: ckplus_images(args.ckplus, n),
        "actor05": lambda: actor_crops(args.ravdess_av, fuser.processor.face_size, 2 if n else None),
    }
    if args.actor_size:  # the same boxes cut larger, for the blendshapes (the CNN resizes them to its own size)
        size = args.actor_size
        loaders[f"actor05_{size}px"] = lambda: actor_crops(args.ravdess_av, size, 2 if n else None)
    if args.private_test:
        loaders["fer_private"] = lambda: fer_images(args.fer2013, "PrivateTest", n)
    data = {name: features(name, load, extractor, fuser, cache) for name, load in loaders.items()}
    train = data.pop(f"fer_train{per_class}")
    results = evaluate(train, data, bound=args.bound, c=args.c)
    results["setup"] = {
        "machine": machine(),
        "per_class": per_class,
        "refine": args.refine,
        "bound": args.bound,
        "c": args.c,
        "ms_per_face": {name: float(d["ms_per_face"]) for name, d in [("fer_train", train), *data.items()]},
        "median_presence": {name: float(np.median(d["presence"])) for name, d in data.items()},
    }
    print_tables(results)
    print(json.dumps(results["setup"], indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
