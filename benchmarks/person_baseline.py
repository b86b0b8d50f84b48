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
* choosing the settings (``--select``): what is centred (the voice's log-probabilities, or its encoder
  outputs against the training speakers' mean, ``centre="features"``), gate, bound and keep, on
  RAVDESS dev actors 17-18 and the TESS speakers OAF and YAF,
  each read as a *mixed* recording (all of the person's clips, every emotion alike), as *skewed*
  recordings (uneven mixes: :func:`skewed`) and as *one-emotion* recordings (the person's clips of one
  emotion, e.g. angry throughout); the settings with the best mean of the six accuracies win.
* test, scored once: RAVDESS actors 19-24 (speech), mixed and one-emotion.
* reported: actor 05's 14 real audio-visual clips (fused, face, speech; a dev person), CK+48 by
  subject (faces: ``--ckplus DIR``, research use only, never shipped).
* ``--calibrate-video`` (:func:`video_calibration`): the face temperature fitted on CK+48 (held-out NLL by
  subject-grouped 5-fold cross-validation), the voice and face gate biases on actor 05's clips (scored
  leave-one-clip-out), the text temperature on MELD dev with neutral lines as no evidence (checked on
  the GoEmotions dev comments labelled neutral and RAVDESS's two sentences), and the text head's class
  biases (its prior: :func:`~mmempathy.calibration.fit_class_bias` on MELD dev's labels); every candidate is read
  through the model on all of these, and ``--ship`` names what the calibration keeps.

    OMP_NUM_THREADS=1 python benchmarks/person_baseline.py --fit --select --write mmempathy/weights/lite
    OMP_NUM_THREADS=1 python benchmarks/person_baseline.py --ckplus CK+48  # CK+48 faces by subject, too
    OMP_NUM_THREADS=1 python benchmarks/person_baseline.py --ckplus CK+48 --calibrate-video --ship text prior \\
        --write mmempathy/weights/lite  # temperatures, gate and the text prior, ablated (as shipped)
    python benchmarks/person_baseline.py --smoke   # the tiny random model on a few clips: the recipe runs
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import itertools
import json
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from feedback import DATA, load_model, ravdess, tess
from sklearn.metrics import f1_score

from mmempathy import EmotionFuser
from mmempathy.baseline import BaselineSettings, centred, group_indices, mean_output, person_shifts, spread
from mmempathy.calibration import (
    collect_outputs,
    fit_class_bias,
    fit_gate_bias,
    fit_temperature,
    no_evidence_targets,
)
from mmempathy.data import get_dataset
from mmempathy.data.ravdess import NATIVE_LABELS, STATEMENTS, TO_DEFAULT, parse_name
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.media.pipeline import clip_inputs
from mmempathy.metrics import expected_calibration_error
from mmempathy.modality import Modality
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
    """The real RAVDESS audio-visual clips, decoded as inference decodes them (the spoken sentence in
    ``meta["statement"]``)."""
    out = []
    for path in sorted((DATA / "ravdess-av").glob("*/*.mp4")):
        audio, faces = clip_inputs(path, face_size=face_size)
        fields = parse_name(path.stem)
        label = DEFAULT_LABELS.index(TO_DEFAULT[NATIVE_LABELS[fields["emotion"] - 1]])
        meta = {"speaker": "actor05", "statement": STATEMENTS[fields["statement"]]}
        out.append(Sample(audio=audio, sample_rate=16000, faces=faces, label=label, meta=meta))
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


@dataclasses.dataclass
class SpeechSet:
    """One speech set's plain readings (calibrated log-probabilities), labels and speakers, and the voice
    encoder's outputs (each clip's tokens and their mean), which a feature baseline re-reads."""

    logp: torch.Tensor
    labels: np.ndarray
    people: list
    tokens: list[torch.Tensor]
    pooled: torch.Tensor

    def take(self, keep: np.ndarray) -> SpeechSet:
        return SpeechSet(
            self.logp[keep], self.labels[keep], [self.people[i] for i in keep], [self.tokens[i] for i in keep],
            self.pooled[keep],
        )  # fmt: skip


def voice_logp(fuser: EmotionFuser, tokens: list[torch.Tensor], offsets: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """The voice head's calibrated log-probabilities of clips whose encoder outputs are ``tokens``, each
    with its ``offsets`` row taken off every token (as :class:`~mmempathy.baseline.BaselineReader` does)."""
    out = []
    fuser.eval()
    for start in range(0, len(tokens), batch):
        chunk = tokens[start : start + batch]
        padded = torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True)
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(t), dtype=torch.bool) for t in chunk], batch_first=True)
        with torch.no_grad():
            result = fuser.fuse({Modality.AUDIO: (padded - offsets[start : start + batch, None], mask)})
        out.append(result.modality_probs[Modality.AUDIO].float().clamp_min(1e-12).log())
    return torch.cat(out)


def accuracy(fuser, s: SpeechSet, people: list, ref, settings) -> tuple[float, dict]:
    """Accuracy of the voice with each person's baseline (``people``: ids), and per person."""
    adapted = person_shifts(s.logp, people, ref, neutral=NEUTRAL, settings=settings, pooled=s.pooled)
    logp = s.logp - adapted.shift if adapted.features is None else voice_logp(fuser, s.tokens, adapted.features)
    hits = (logp.argmax(-1).numpy() == s.labels).astype(float)
    per = {str(people[g[0]]): float(hits[g].mean()) for g in group_indices(people)}
    return float(hits.mean()), per


def one_emotion(people: list, labels: np.ndarray) -> list:
    """Each person's clips of one emotion as a recording of its own (angry throughout, sad throughout ...)."""
    return [f"{p}/{DEFAULT_LABELS[y]}" for p, y in zip(people, labels)]


def rescaled(logp: torch.Tensor, old: float, new: float) -> torch.Tensor:
    """Log-probabilities calibrated with temperature ``old`` read with ``new`` instead (the cached readings
    are ``log_softmax(logits / old)``, the logits up to a constant per item)."""
    return torch.log_softmax(logp * old / new, -1)


def face_temperature(fuser: EmotionFuser, samples: list[Sample], folds: int = 5) -> tuple[float, dict]:
    """The face head's temperature fitted on person-grouped faces (CK+48), and its held-out NLL against
    the shipped one's by subject-grouped cross-validation (each fold's temperature fitted on the others)."""
    out = collect_outputs(fuser, samples)
    logits, labels = out["modality_logits"]["face"], out["labels"]
    people = [s.meta["speaker"] for s in samples]
    subjects = sorted(set(people))
    random.Random(0).shuffle(subjects)
    old = float(fuser.temperatures[1 + [m.value for m in fuser.modalities].index("face")])
    nll = {"shipped": 0.0, "fitted": 0.0}
    for k in range(folds):
        held = torch.tensor([p in subjects[k::folds] for p in people])
        fitted = fit_temperature(logits[~held], labels[~held])
        for name, t in (("shipped", old), ("fitted", fitted)):
            nll[name] += float(torch.nn.functional.cross_entropy(logits[held] / t, labels[held], reduction="sum"))
    return fit_temperature(logits, labels), {k: v / len(labels) for k, v in nll.items()}


def gate_outputs(fuser: EmotionFuser, samples: list[Sample], person: list | None) -> dict:
    """What :func:`~mmempathy.calibration.fit_gate_bias` reads, from the model's own results (plain, or
    against the person's baseline): the voice's and the face's calibrated (maybe shifted) log-probabilities,
    the gate's weights and the fused logits (up to a constant per item)."""
    results = fuser.predict_samples(samples, batch_size=32, person=person)
    names = ("audio", "face")
    logp = {m: torch.tensor([[r.modalities[m][c] for c in fuser.labels] for r in results]).log() for m in names}
    fused = torch.tensor([[r.probs[c] for c in fuser.labels] for r in results]).log()
    return {
        "labels": torch.tensor([s.label for s in samples]),
        "weights": torch.tensor([[r.weights.get(m, 0.0) for m in names] for r in results]),
        "present": torch.tensor([[m in r.modalities for m in names] for r in results]),
        "modality_logits": logp,
        "logits": float(fuser.temperatures[0]) * fused,
    }


def refused(outputs: dict, bias: dict[str, float]) -> torch.Tensor:
    """The fused logits with ``bias`` added to the gate's scores (the correction path kept as it is)."""
    logp = torch.stack([outputs["modality_logits"][m] for m in bias], 1)
    weights = outputs["weights"]
    mixture = torch.einsum("b m, b m c -> b c", weights, logp)
    gated = torch.softmax(weights.clamp(min=1e-12).log() + torch.tensor(list(bias.values())), -1)
    return torch.einsum("b m, b m c -> b c", gated, logp) + outputs["logits"] - mixture


def subset(outputs: dict, keep: torch.Tensor) -> dict:
    """The items ``keep`` selects of :func:`gate_outputs`'s tensors."""
    return {k: {m: t[keep] for m, t in v.items()} if isinstance(v, dict) else v[keep] for k, v in outputs.items()}


def video_gate(outputs: dict) -> tuple[dict[str, float], list[bool]]:
    """The voice's and the face's gate biases fitted on one person's clips, and leave-one-clip-out hits
    (each clip read with biases fitted on the other clips only)."""
    names = list(outputs["modality_logits"])
    ones = {m: 1.0 for m in names}
    every = torch.arange(len(outputs["labels"]))
    hits = []
    for i in every.tolist():
        bias = fit_gate_bias(subset(outputs, every != i), names, ones)
        hits.append(bool(refused(subset(outputs, every == i), bias).argmax(-1).item() == outputs["labels"][i].item()))
    return fit_gate_bias(outputs, names, ones), hits


def text_sets() -> tuple[list[Sample], list[Sample]]:
    """MELD dev utterances (labelled), and the GoEmotions dev comments labelled neutral alone (Reddit, not
    dialogue: a check from another corpus than the one the text temperature is fitted on)."""
    meld = get_dataset("meld", DATA / "meld", split="dev")
    folder = DATA / "goemotions" / "ekman"
    neutral = str((folder / "labels.txt").read_text().split().index("neutral"))
    rows = [line.rstrip("\n").split("\t") for line in (folder / "dev.tsv").open(encoding="utf-8")]
    return (
        [Sample(text=meld[i].text, label=meld[i].label) for i in range(len(meld))],
        [Sample(text=r[0], label=NEUTRAL) for r in rows if r[1] == neutral],
    )


def text_scores(fuser: EmotionFuser, meld: list[Sample], neutral: list[Sample]) -> dict:
    """The text reading through the model: MELD dev accuracy, weighted F1, NLL and ECE; on neutral lines,
    the share read as neutral, the share in which some emotion gets 0.3 or more and the mean top emotion
    probability; the two RAVDESS sentences' readings."""
    out: dict = {}
    for name, samples in (("meld-dev", meld), ("neutral-dev", neutral)):
        results = fuser.predict_samples(samples, batch_size=64)
        probs = np.array([[r.probs[c] for c in fuser.labels] for r in results])
        labels = np.array([s.label for s in samples])
        emotion = np.delete(probs, NEUTRAL, 1).max(1)
        out[name] = {
            "accuracy": float(np.mean(probs.argmax(1) == labels)),
            "weighted_f1": float(f1_score(labels, probs.argmax(1), average="weighted")),
            "nll": float(-np.mean(np.log(probs[np.arange(len(labels)), labels]))),
            "ece": expected_calibration_error(probs, labels),
            "emotion_0.3": float(np.mean(emotion >= 0.3)),
            "top_emotion": float(emotion.mean()),
        }
    sentences = fuser.predict_samples([Sample(text=t) for t in STATEMENTS.values()])
    out["sentences"] = {t: {c: round(p, 3) for c, p in r.probs.items()} for t, r in zip(STATEMENTS.values(), sentences)}
    return out


def video_calibration(fuser: EmotionFuser, args: argparse.Namespace, av: list[Sample], refs: dict) -> dict:
    """Temperatures and gate fitted on faces from video and on what carries no emotion, and the ablation.

    Face temperature: CK+48 (subject-grouped cross-validation says whether it beats the shipped one).
    Gate biases (voice against face): actor 05's clips, scored leave-one-clip-out. Text temperature: MELD
    dev with neutral lines as no evidence (:func:`~mmempathy.calibration.no_evidence_targets`). Each
    candidate is then read through the model on every set; ``args.ship`` names what goes into the
    calibration (``refs``: the cached plain face readings the face reference is rebuilt from).
    """
    shipped = copy.deepcopy(fuser.config.calibration)
    ck = ckplus(args.ckplus)
    t_face, face_nll = face_temperature(fuser, ck)
    meld, neutral = text_sets()
    text = collect_outputs(fuser, meld)
    targets = no_evidence_targets(text["labels"], len(fuser.labels), NEUTRAL)
    t_text = fit_temperature(text["modality_logits"]["text"], targets)
    fitted = {"face": with_face_temperature(shipped, t_face, refs)}
    fitted["text"] = copy.deepcopy(shipped)
    fitted["text"]["temperature"]["text"] = t_text
    fitted["prior"] = copy.deepcopy(fitted["text"])  # and the prior of what people say (MELD dev's labels)
    fitted["prior"]["class_bias"] = {"text": fit_class_bias(text["modality_logits"]["text"] / t_text, text["labels"])}
    fuser.set_calibration(fitted["face"])
    gate = {}
    for mode, person in (("plain", None), ("baseline", ["actor05"] * len(av))):
        bias, hits = video_gate(gate_outputs(fuser, av, person))
        gate[mode] = {"bias": bias, "loo_hits": int(sum(hits)), "of": len(hits)}
    fitted["gate"] = copy.deepcopy(fitted["face"])
    for m, b in gate["plain"]["bias"].items():
        fitted["gate"]["gate_bias"][m] += b
    report = {"face_temperature": t_face, "face_nll_ckplus_by_subject": face_nll, "text_temperature": t_text}
    report["text_class_bias"] = fitted["prior"]["class_bias"]["text"]
    report["gate_actor05"] = gate
    spoken = [dataclasses.replace(s, text=s.meta["statement"]) for s in av]
    candidates = {"shipped": shipped, **fitted, "chosen": chosen_calibration(shipped, fitted, args.ship)}
    report["ablation"] = {}
    for name, calibration in candidates.items():
        fuser.set_calibration(calibration)
        report["ablation"][name] = {
            "actor05": model_scores(fuser, av, ["actor05"] * len(av)),
            "actor05 + sentence": model_scores(fuser, spoken, ["actor05"] * len(av)),
            "ckplus": model_scores(fuser, ck, [s.meta["speaker"] for s in ck], per_person=True),
            "text": text_scores(fuser, meld, neutral),
        }
    fuser.set_calibration(candidates["chosen"])
    return report


def with_face_temperature(calibration: dict, temperature: float, refs: dict) -> dict:
    """``calibration`` with another face temperature, and the face reference of the person baseline
    rebuilt for it (the FER2013 mean and actor 05's spread, from readings cached under ``calibration``)."""
    out = copy.deepcopy(calibration)
    old, out["temperature"]["face"] = out["temperature"]["face"], temperature
    fer = rescaled(refs["fer"], old, temperature)
    face = reference(fer, ["fer"] * len(fer))
    face["spread"] = spread(centred(rescaled(refs["actor05"], old, temperature)))
    out["baseline"]["reference"]["face"] = face
    return out


def chosen_calibration(shipped: dict, fitted: dict, ship: list[str]) -> dict:
    """The shipped calibration with the fitted parts named in ``ship`` (``face``: its temperature and
    reference; ``gate``: the gate biases, fitted under the new face temperature; ``text``: its temperature;
    ``prior``: the text temperature and the text head's class biases)."""
    out = copy.deepcopy(fitted["face"] if {"face", "gate"} & set(ship) else shipped)
    if "gate" in ship:
        out["gate_bias"] = fitted["gate"]["gate_bias"]
    if {"text", "prior"} & set(ship):
        out["temperature"]["text"] = fitted["text"]["temperature"]["text"]
    if "prior" in ship:
        out["class_bias"] = fitted["prior"]["class_bias"]
    return out


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


def score(fuser: EmotionFuser, sets: dict[str, SpeechSet], ref: dict, settings: BaselineSettings) -> dict[str, float]:
    """Accuracy on each set read as mixed recordings (all of a person's clips), skewed ones and
    one-emotion ones."""
    out = {}
    for name, s in sets.items():
        out[f"{name} mixed"] = accuracy(fuser, s, s.people, ref, settings)[0]
        draws = [
            accuracy(fuser, s.take(k), [s.people[i] for i in k], ref, settings)[0] for k in skewed(s.people, s.labels)
        ]
        out[f"{name} skewed"] = float(np.mean(draws))
        out[f"{name} one-emotion"] = accuracy(fuser, s, one_emotion(s.people, s.labels), ref, settings)[0]
    return out


def select(fuser: EmotionFuser, sets: dict[str, SpeechSet], ref: dict) -> tuple[BaselineSettings, list[dict]]:
    """The settings with the best mean of mixed, skewed and one-emotion accuracy over the dev sets: what is
    centred (the voice's log-probabilities, or its encoder outputs when ``ref`` has ``features``; the
    latter has no bound and uses every segment), the gate, and for log-probabilities the bound and keep."""
    grid = [("logits", gate, bound, keep) for gate, bound, keep in itertools.product(GATES, BOUNDS, KEEPS)]
    if "features" in ref:
        grid += [("features", gate, max(BOUNDS), 1.0) for gate in GATES]
    rows = []
    for centre, (lo, hi), bound, keep in grid:
        settings = BaselineSettings(gate=(lo, hi), bound=bound, keep=keep, centre=centre)
        scores = score(fuser, sets, ref, settings)
        rows.append({"centre": centre, "gate": [lo, hi], "bound": bound, "keep": keep, **scores})
        rows[-1]["mean"] = float(np.mean(list(scores.values())))
    best = max(rows, key=lambda r: r["mean"])
    return BaselineSettings(
        gate=tuple(best["gate"]), bound=best["bound"], keep=best["keep"], centre=best["centre"]
    ), rows


def model_digest(fuser: EmotionFuser) -> str:
    """A short hash of the model's weights and calibration, naming its folder of cached readings."""
    digest = hashlib.sha256(json.dumps(fuser.config.calibration, sort_keys=True, default=str).encode())
    for name, tensor in sorted(fuser.state_dict().items()):
        digest.update(name.encode() + tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


def cached(path: Path, name: str, make: Callable[[], Any]) -> Any:
    """``make()``'s value, kept in ``path / name.pt`` (a :class:`SpeechSet`, or readings and labels)."""
    file = path / f"{name}.pt"
    if file.exists():
        return torch.load(file, weights_only=False)
    value = make()
    torch.save(value, file)
    return value


def speech_set(fuser: EmotionFuser, samples: list[Sample]) -> SpeechSet:
    """Read every clip plainly, keeping its voice encoder outputs (all clips have audio)."""
    tokens, pooled, logp = [], [], []
    for encoded, out in fuser.read_batches(samples, 32, progress=True):
        clips, mask = encoded[Modality.AUDIO]
        tokens += [t[m].float().cpu() for t, m in zip(clips, mask)]
        pooled.append(mean_output(encoded, Modality.AUDIO, len(clips), clips.shape[-1]))
        logp.append(out.modality_probs[Modality.AUDIO].float().clamp_min(1e-12).log().cpu())
    labels = np.array([s.label for s in samples])
    return SpeechSet(torch.cat(logp), labels, [s.meta["speaker"] for s in samples], tokens, torch.cat(pooled))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lite")
    parser.add_argument("--fit", action="store_true", help="compute the references (training people)")
    parser.add_argument("--select", action="store_true", help="choose gate, bound and keep on the dev sets")
    parser.add_argument("--write", type=Path, help="write the fitted settings into this checkpoint's config.json")
    parser.add_argument(
        "--calibrate-video",
        action="store_true",
        help="fit the face temperature (CK+48: needs --ckplus), the gate (actor 05) and the text temperature "
        "(neutral as no evidence), and ablate them",
    )
    parser.add_argument(
        "--ship",
        nargs="*",
        default=[],
        choices=["face", "gate", "text", "prior"],
        help="with --calibrate-video: the fitted parts that go into the calibration (and --write)",
    )
    parser.add_argument("--ckplus", type=Path, help="CK+48 folder (faces by subject; research use only)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mmempathy-person-baseline"), help="model readings")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/person_baseline"))
    parser.add_argument("--smoke", action="store_true", help="tiny random model, a few clips")
    args = parser.parse_args()
    if args.smoke:
        return smoke()
    fuser = load_model(args.model)
    c = args.cache / model_digest(fuser)  # readings of another model (or calibration) are never reused
    c.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    train = cached(c, "ravdess-train", lambda: speech_set(fuser, ravdess("train", DATA)))
    dev = cached(c, "ravdess-dev", lambda: speech_set(fuser, ravdess("dev", DATA)))
    tess_set = cached(c, "tess", lambda: speech_set(fuser, tess(DATA)))
    av = actor05(fuser.processor.face_size)
    face_av = cached(c, "actor05-face", lambda: (*read_plain(fuser, av, "face"), ["actor05"] * len(av)))
    fer = cached(c, "fer-train", lambda: read_plain(fuser, fer_train(4000), "face"))
    report: dict = {"model": args.model, "machine": platform.processor() or platform.machine(), "when": time.ctime()}
    if args.calibrate_video:  # the caches hold readings under the shipped face temperature: --fit reads them as such
        refs = {"fer": fer[0], "actor05": face_av[0]}
        report["video_calibration"] = video_calibration(fuser, args, av, refs)
    settings = fuser.baseline or BaselineSettings()
    if args.fit:
        face_ref = reference(fer[0], ["fer"] * len(fer[0]))
        face_ref["spread"] = spread(centred(face_av[0]))  # one person's varied video, not strangers' crops
        voice = reference(train.logp, train.people)
        voice["features"] = torch.stack([train.pooled[g].mean(0) for g in group_indices(train.people)]).mean(0).tolist()
        settings.reference = {"audio": voice, "face": face_ref}
    if args.select:
        chosen, rows = select(fuser, {"ravdess-dev": dev, "tess": tess_set}, settings.reference["audio"])
        chosen.reference = settings.reference
        settings = chosen
        report["select"] = sorted(rows, key=lambda r: -r["mean"])[:10]
    report["settings"] = settings.to_dict()
    if args.write:
        calibration = {**fuser.config.calibration, "baseline": settings.to_dict()}
        fuser.set_calibration(calibration)
        write_calibration(args.write / "config.json", calibration)
    test = cached(c, "ravdess-test", lambda: speech_set(fuser, ravdess("test", DATA)))
    speech = {"ravdess-test": test, "ravdess-dev": dev, "tess": tess_set}
    ref_a = settings.reference["audio"]
    report["speech"] = {
        n: {"plain": score(fuser, {n: s}, ref_a, PLAIN), "baseline": score(fuser, {n: s}, ref_a, settings)}
        for n, s in speech.items()
    }
    report["speech_per_person"] = {
        n: {
            "plain": accuracy(fuser, s, s.people, ref_a, PLAIN)[1],
            "baseline": accuracy(fuser, s, s.people, ref_a, settings)[1],
        }
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


def write_calibration(config: Path, calibration: dict) -> None:
    data = json.loads(config.read_text())
    data["config"]["calibration"] = calibration
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
    voices = speech_set(fuser, samples)
    ref = reference(voices.logp, voices.people)
    ref["features"] = voices.pooled.mean(0).tolist()
    chosen, rows = select(fuser, {"smoke": voices}, ref)
    assert len(rows) == len(GATES) * (len(BOUNDS) * len(KEEPS) + 1) and 0 <= rows[0]["mean"] <= 1
    size = fuser.processor.face_size
    for s in samples:
        s.faces = rng.integers(0, 255, (2, size, size, 3), dtype=np.uint8)
    bias, hits = video_gate(gate_outputs(fuser, samples, None))
    assert len(hits) == len(samples) and abs(sum(bias.values())) < 1e-5, bias
    print("smoke ok:", chosen, bias)


if __name__ == "__main__":
    main()
