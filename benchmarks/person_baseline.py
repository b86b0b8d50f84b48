"""The person baseline (:mod:`mmempathy.baseline`): its references, its settings, and what it changes, per person.

Every item is read once, plainly (``predict_samples`` without ``person``), and its per-modality
calibrated log-probabilities are cached; the settings are then scored on those with
:func:`mmempathy.baseline.person_shifts`, the very function the model uses. The final figures come
from the model itself (``predict_samples(samples, person=ids)``).

Sets, all grouped by person (the baseline uses unlabelled inputs of the same person, as speaker
normalisation does):

* references (``--fit``): RAVDESS train actors 1-16 (speech: the speech head's training people);
  FER2013 train, a seeded draw of 4,000 crops (faces: the face head's training distribution) for the
  face mean, and actor 05's video faces for the spread of a varied video recording of one person
  (FER2013 has no person ids, and random crops of strangers spread far more than one person does).
* choosing the settings (``--select``): RAVDESS dev actors 17-18 and the TESS speakers OAF and YAF,
  each read as a *mixed* recording (all of the person's clips, every emotion alike), as *skewed*
  recordings (uneven mixes: :func:`skewed`) and as *one-emotion* recordings (the person's clips of one
  emotion, e.g. angry throughout); the settings with the best mean of the six accuracies win.
* test, scored once: RAVDESS actors 19-24 (speech), mixed and one-emotion.
* reported: actor 05's 14 real audio-visual clips (fused, face, speech; a dev person), CK+48 by
  subject (faces: ``--ckplus DIR``, research use only, never shipped).

    OMP_NUM_THREADS=1 python benchmarks/person_baseline.py --fit --select --write mmempathy/weights/lite
    OMP_NUM_THREADS=1 python benchmarks/person_baseline.py --ckplus CK+48  # CK+48 faces by subject, too
    python benchmarks/person_baseline.py --smoke   # the tiny random model on a few clips: the recipe runs
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from feedback import DATA, load_model, ravdess, tess

from mmempathy import EmotionFuser
from mmempathy.baseline import BaselineSettings, centred, group_indices, person_shifts, spread
from mmempathy.data.ravdess import NATIVE_LABELS, TO_DEFAULT, parse_name
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.media.pipeline import clip_inputs
from mmempathy.sample import Sample

NEUTRAL = DEFAULT_LABELS.index("neutral")
FER_LABELS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "joy", "neutral": "neutral",
              "sad": "sadness", "surprise": "surprise"}  # fmt: skip
CK_LABELS = {k: v for k, v in FER_LABELS.items() if k != "neutral"} | {"anger": "anger", "sadness": "sadness"}
GATES = [(lo, hi) for lo, hi in itertools.product([0.5, 0.6, 0.65, 0.7, 0.75], [0.7, 0.75, 0.8, 0.9]) if lo < hi]
BOUNDS = [2.0, 4.0, 8.0]
KEEPS = [1.0, 0.5]


def gray_face(path: Path) -> np.ndarray:
    """A 48x48 grayscale crop as the ``[1, H, W, 3]`` uint8 faces of one item."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return np.repeat(image[:, :, None], 3, axis=2)[None]


def fer_train(n: int, seed: int = 0) -> list[Sample]:
    paths = sorted((DATA / "fer2013" / "train").glob("*/*.jpg"))
    paths = random.Random(seed).sample(paths, min(n, len(paths)))
    label = {p: DEFAULT_LABELS.index(FER_LABELS[p.parent.name]) for p in paths}
    return [Sample(faces=gray_face(p), label=label[p], meta={"speaker": "fer"}) for p in paths]


def ckplus(root: Path) -> list[Sample]:
    """CK+48 crops (``<emotion>/S<subject>_<sequence>_<frame>.png``), contempt left out (not a class here)."""
    return [
        Sample(faces=gray_face(p), label=DEFAULT_LABELS.index(CK_LABELS[p.parent.name]), meta={"speaker": p.stem[:4]})
        for p in sorted(root.glob("*/*.png"))
        if p.parent.name in CK_LABELS
    ]


def actor05(face_size: int) -> list[Sample]:
    """The real RAVDESS audio-visual clips, decoded as inference decodes them."""
    out = []
    for path in sorted((DATA / "ravdess-av").glob("*/*.mp4")):
        audio, faces = clip_inputs(path, face_size=face_size)
        label = DEFAULT_LABELS.index(TO_DEFAULT[NATIVE_LABELS[parse_name(path.stem)["emotion"] - 1]])
        out.append(Sample(audio=audio, sample_rate=16000, faces=faces, label=label, meta={"speaker": "actor05"}))
    return out


def read_plain(fuser: EmotionFuser, samples: list[Sample], modality: str) -> tuple[torch.Tensor, np.ndarray]:
    """Calibrated log-probabilities of ``modality`` (items without it dropped) and the labels."""
    results = fuser.predict_samples(samples, batch_size=32, progress=True)
    keep = [i for i, r in enumerate(results) if modality in r.modalities]
    probs = np.array([[results[i].modalities[modality][c] for c in fuser.labels] for i in keep])
    labels = np.array([samples[i].label for i in keep])
    return torch.tensor(np.log(np.clip(probs, 1e-12, 1)), dtype=torch.float32), labels


def reference(logp: torch.Tensor, people: list) -> dict:
    """The training people's mean (centred log-probabilities) and their median spread."""
    spreads = [spread(centred(logp[g])) for g in group_indices(people) if len(g) > 1]
    return {"mean": centred(logp).mean(0).tolist(), "spread": float(np.median(spreads))}


def accuracy(logp, labels, people, ref, settings) -> tuple[float, dict]:
    """Accuracy with each person's baseline (``people``: ids), and per person."""
    adapted = person_shifts(logp, people, ref, neutral=NEUTRAL, settings=settings)
    hits = ((logp - adapted.shift).argmax(-1).numpy() == labels).astype(float)
    per = {str(people[g[0]]): float(hits[g].mean()) for g in group_indices(people)}
    return float(hits.mean()), per


def one_emotion(people: list, labels: np.ndarray) -> list:
    """Each person's clips of one emotion as a recording of its own (angry throughout, sad throughout ...)."""
    return [f"{p}/{DEFAULT_LABELS[y]}" for p, y in zip(people, labels)]


PLAIN = BaselineSettings(min_segments=10**9)  # no person has that many items: everything read plainly


def skewed(people: list, labels: np.ndarray, draws: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Recordings with uneven mixes of emotions, as real ones have (an interview mostly calm, a complaint
    mostly angry): per person and draw, class weights from a Dirichlet(0.7), and each clip kept with its
    class's weight over the largest. Returns the kept indices of each draw."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        keep = np.zeros(len(labels), bool)
        for g in group_indices(people):
            w = rng.dirichlet(np.full(len(DEFAULT_LABELS), 0.7))
            keep[g] = rng.random(len(g)) < w[labels[g]] / w.max()
        out.append(np.flatnonzero(keep))
    return out


def score(sets: dict, ref: dict, settings: BaselineSettings) -> dict[str, float]:
    """Accuracy on each set read as mixed recordings (all of a person's clips), skewed ones and
    one-emotion ones."""
    out = {}
    for name, (logp, labels, people) in sets.items():
        out[f"{name} mixed"] = accuracy(logp, labels, people, ref, settings)[0]
        draws = [accuracy(logp[k], labels[k], [people[i] for i in k], ref, settings)[0] for k in skewed(people, labels)]
        out[f"{name} skewed"] = float(np.mean(draws))
        out[f"{name} one-emotion"] = accuracy(logp, labels, one_emotion(people, labels), ref, settings)[0]
    return out


def select(sets: dict, ref: dict) -> tuple[BaselineSettings, list[dict]]:
    """The settings with the best mean of mixed, skewed and one-emotion accuracy over the dev sets."""
    rows = []
    for (lo, hi), bound, keep in itertools.product(GATES, BOUNDS, KEEPS):
        settings = BaselineSettings(gate=(lo, hi), bound=bound, keep=keep)
        scores = score(sets, ref, settings)
        rows.append(
            {"gate": [lo, hi], "bound": bound, "keep": keep, **scores, "mean": float(np.mean(list(scores.values())))}
        )
    best = max(rows, key=lambda r: r["mean"])
    return BaselineSettings(gate=tuple(best["gate"]), bound=best["bound"], keep=best["keep"]), rows


def cached(path: Path, name: str, make: Callable[[], tuple[torch.Tensor, np.ndarray, list]]):
    file = path / f"{name}.pt"
    if file.exists():
        return torch.load(file, weights_only=False)
    value = make()
    torch.save(value, file)
    return value


def speech_set(fuser, samples):
    logp, labels = read_plain(fuser, samples, "audio")
    return logp, labels, [s.meta["speaker"] for s in samples if s.audio is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lite")
    parser.add_argument("--fit", action="store_true", help="compute the references (training people)")
    parser.add_argument("--select", action="store_true", help="choose gate, bound and keep on the dev sets")
    parser.add_argument("--write", type=Path, help="write the fitted settings into this checkpoint's config.json")
    parser.add_argument("--ckplus", type=Path, help="CK+48 folder (faces by subject; research use only)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mmempathy-person-baseline"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/person_baseline"))
    parser.add_argument("--smoke", action="store_true", help="tiny random model, a few clips")
    args = parser.parse_args()
    if args.smoke:
        return smoke()
    fuser = load_model(args.model)
    args.cache.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    c = args.cache
    train = cached(c, "ravdess-train", lambda: speech_set(fuser, ravdess("train", DATA)))
    dev = cached(c, "ravdess-dev", lambda: speech_set(fuser, ravdess("dev", DATA)))
    tess_set = cached(c, "tess", lambda: speech_set(fuser, tess(DATA)))
    av = actor05(fuser.processor.face_size)
    face_av = cached(c, "actor05-face", lambda: (*read_plain(fuser, av, "face"), ["actor05"] * len(av)))
    settings = fuser.baseline or BaselineSettings()
    if args.fit:
        fer = cached(c, "fer-train", lambda: read_plain(fuser, fer_train(4000), "face"))
        face_ref = reference(fer[0], ["fer"] * len(fer[0]))
        face_ref["spread"] = spread(centred(face_av[0]))  # one person's varied video, not strangers' crops
        settings.reference = {"audio": reference(train[0], train[2]), "face": face_ref}
    report: dict = {"model": args.model, "machine": platform.processor() or platform.machine(), "when": time.ctime()}
    if args.select:
        chosen, rows = select({"ravdess-dev": dev, "tess": tess_set}, settings.reference["audio"])
        chosen.reference = settings.reference
        settings = chosen
        report["select"] = sorted(rows, key=lambda r: -r["mean"])[:10]
    report["settings"] = settings.to_dict()
    if args.write:
        write_settings(args.write / "config.json", settings)
        fuser.set_calibration({**fuser.config.calibration, "baseline": settings.to_dict()})
    test = cached(c, "ravdess-test", lambda: speech_set(fuser, ravdess("test", DATA)))
    speech = {"ravdess-test": test, "ravdess-dev": dev, "tess": tess_set}
    ref_a = settings.reference["audio"]
    report["speech"] = {
        n: {"plain": score({n: s}, ref_a, PLAIN), "baseline": score({n: s}, ref_a, settings)} for n, s in speech.items()
    }
    report["speech_per_person"] = {
        n: {"plain": accuracy(*s, ref_a, PLAIN)[1], "baseline": accuracy(*s, ref_a, settings)[1]}
        for n, s in speech.items()
    }
    report["actor05"] = model_scores(fuser, av, ["actor05"] * len(av))
    if args.ckplus:
        ck = ckplus(args.ckplus)
        report["ckplus"] = model_scores(fuser, ck, [s.meta["speaker"] for s in ck], per_person=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k not in ("select", "speech_per_person")}, indent=1))


def model_scores(fuser: EmotionFuser, samples: list[Sample], people: list, per_person: bool = False) -> dict:
    """Accuracy of the model itself, plain and with ``person=people``: fused and each modality alone."""
    labels = np.array([s.label for s in samples])
    out = {}
    for mode, person in (("plain", None), ("baseline", people)):
        results = fuser.predict_samples(samples, batch_size=32, person=person)
        row = {"fused": float(np.mean([r.label == DEFAULT_LABELS[y] for r, y in zip(results, labels)]))}
        for m in ("audio", "face"):
            hits = [
                max(r.modalities[m], key=r.modalities[m].get) == DEFAULT_LABELS[y]
                for r, y in zip(results, labels)
                if m in r.modalities
            ]
            if hits:
                row[m] = float(np.mean(hits))
        if per_person:
            hits = np.array([r.label == DEFAULT_LABELS[y] for r, y in zip(results, labels)], float)
            row["by_person"] = float(np.mean([hits[g].mean() for g in group_indices(people)]))
        row["adapted"] = int(sum(bool(r.baseline) for r in results))
        out[mode] = row
    return out


def write_settings(config: Path, settings: BaselineSettings) -> None:
    data = json.loads(config.read_text())
    data["config"]["calibration"]["baseline"] = settings.to_dict()
    config.write_text(json.dumps(data, indent=2))


def smoke() -> None:
    """The recipe's pieces on the tiny random model and a few synthetic clips."""
    fuser = load_model("tiny")
    rng = np.random.default_rng(0)
    samples = [
        Sample(
            audio=rng.uniform(-0.3, 0.3, 16000).astype(np.float32),
            sample_rate=16000,
            label=i % 7,
            meta={"speaker": i % 2},
        )
        for i in range(12)
    ]
    logp, labels, people = speech_set(fuser, samples)
    ref = reference(logp, people)
    chosen, rows = select({"smoke": (logp, labels, people)}, ref)
    assert len(rows) == len(GATES) * len(BOUNDS) * len(KEEPS) and 0 <= rows[0]["mean"] <= 1
    print("smoke ok:", chosen)


if __name__ == "__main__":
    main()
