"""Does the fusion earn its keep? The fused answer against the best single modality, on every real set.

    python benchmarks/fusion.py --data-dir ../shared/data --out benchmarks/results/fusion
    python benchmarks/fusion.py --only combos clips example      # the shipped lite model only

Four parts, each written to ``<out>/<part>.json`` and summarised in ``<out>/summary.md``:

* ``mosi``: CMU-MOSI (real trimodal features, 31 unseen test speakers) through ``mmempathy bench``:
  each modality alone and all three under each fusion mode (late, attention, concat), ``--seeds``
  seeds; dev is 6 train videos (speakers), on which the calibration is fitted; test is read once.
* ``heads``: each of the shipped lite model's heads alone on its own test set: MELD test (text),
  RAVDESS actors 19-24 (speech, 7 classes, calm -> neutral), TESS (speech, cross-corpus: two
  speakers and a corpus no part trained on), FER2013 PublicTest and PrivateTest (faces), with ECE.
* ``combos``: the shipped lite model on label-matched test combinations (MELD test, RAVDESS actors
  19-24, FER2013 PrivateTest; :mod:`mmempathy.bench.combos`): fused vs each head alone, for every
  pair and the triple, before and after the shipped calibration (ECE, 15 bins).
* ``clips``: the 14 real RAVDESS audio-visual clips of actor 05 (``ravdess-av/``), one segment per
  clip: fused vs audio alone vs face alone. Actor 05's *speech* is in the speech part's training
  actors (1-16), so the audio figure is optimistic; no face of actor 05 was ever trained on.
* ``example``: the README's example (the words "I can't believe you did that!", an angry RAVDESS
  test-actor utterance and an angry FER2013 PrivateTest face): each modality's top class and the
  fused one.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from mmempathy import EmotionFuser, Sample
from mmempathy.bench import BenchConfig, run_benchmark
from mmempathy.bench.combos import evaluate_combos, keep_modalities, lite_pools
from mmempathy.bench.evaluate import head_metrics, predict
from mmempathy.data import get_dataset, read_sound_file
from mmempathy.data.combined import LabelMatched
from mmempathy.data.ravdess import NATIVE_LABELS, label_map, parse_name
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.media.decode import probe
from mmempathy.train import FeatureCache

PARTS = ("mosi", "heads", "combos", "clips", "example")


MOSI_VARIANTS = {"text": ("text", "late"), "audio": ("audio", "late"), "face": ("face", "late")}
MOSI_VARIANTS.update({f"all-{mode}": ("text,audio,face", mode) for mode in ("late", "attention", "concat")})


def mosi(data_dir: Path, out: Path, seeds: int, names: list[str]) -> dict[str, Any]:
    """Test accuracy (mean ± std over seeds) of each modality alone and of each fusion mode; variants
    already in ``<out>/mosi.json`` are kept, so the variants can be run one at a time."""
    previous = out / "mosi.json"
    rows = json.loads(previous.read_text()) if previous.exists() else {}
    for name in names:
        mods, mode = MOSI_VARIANTS[name]
        cfg = BenchConfig(
            "mosi",
            data_dir=str(data_dir / "cmu-mosi"),
            seeds=seeds,
            fusion=mode,
            out=str(out / "runs"),
            modalities=tuple(mods.split(",")),
            progress=False,
            n_boot=200,
        )
        rows[name] = mosi_row(run_benchmark(cfg))
        previous.write_text(json.dumps(rows, indent=2, default=str))
    return rows


def mosi_row(summary: dict[str, Any]) -> dict[str, Any]:
    """One variant's line: test accuracy and ECE over seeds, each head's scores, the calibrations."""
    accs = [r["test"]["accuracy"] for r in summary["runs"]]
    return {
        "accuracy_mean": statistics.mean(accs),
        "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "accuracy_seeds": accs,
        "ece_mean": statistics.mean(r["test"]["ece"] for r in summary["runs"]),
        "heads": [r["heads"] for r in summary["runs"]],
        "calibration": [r["calibration"] for r in summary["runs"]],
        "folder": summary.get("folder"),
    }


def tess(root: Path) -> list[Sample]:
    """The TESS quarter as labelled speech samples in the default classes (``ps`` = pleasant surprise)."""
    names = {
        "angry": "anger",
        "disgust": "disgust",
        "fear": "fear",
        "happy": "joy",
        "neutral": "neutral",
        "ps": "surprise",
        "sad": "sadness",
    }
    samples = []
    for path in sorted(root.glob("*/*.flac")):
        audio, rate = read_sound_file(path)
        samples.append(
            Sample(audio=audio, sample_rate=rate, label=DEFAULT_LABELS.index(names[path.stem.split("_")[-1]]))
        )
    return samples


def heads(model: EmotionFuser, data_dir: Path) -> dict[str, Any]:
    """Each head alone on its own test set (accuracy, weighted F1, ECE)."""
    sets = {
        "text: MELD test": get_dataset("meld", data_dir / "meld", split="test"),
        "audio: RAVDESS actors 19-24": get_dataset("ravdess", data_dir / "ravdess", split="test"),
        "audio: TESS (cross-corpus)": tess(data_dir / "tess"),
        "face: FER2013 PublicTest": get_dataset("fer2013", data_dir / "fer2013", split="public_test"),
        "face: FER2013 PrivateTest": get_dataset("fer2013", data_dir / "fer2013", split="private_test"),
    }
    result = {}
    for name, data in sets.items():
        modality = name.split(":")[0]
        outputs = predict(model, data, batch_size=64, num_workers=0)
        result[name] = head_metrics({"labels": outputs["labels"], modality: outputs[modality]}, len(model.labels))[
            modality
        ]
    return result


def combos(model: EmotionFuser, data_dir: Path, cache_dir: Path) -> dict[str, Any]:
    """Fused vs each head on the label-matched test combinations, for the triple and each pair."""
    test = LabelMatched(lite_pools(data_dir)["test"], size=1500, seed=2)
    cached = FeatureCache(model, cache_dir).build(test, progress=True, desc="encode test combinations")
    result: dict[str, Any] = {"n": len(test)}
    calibration = model.config.calibration
    for key, cal in (("uncalibrated", None), ("calibrated", calibration)):
        model.set_calibration(cal)
        result[key] = {"all": evaluate_combos(model, cached)}
        for keep in (("text", "audio"), ("text", "face"), ("audio", "face")):
            scores = evaluate_combos(model, keep_modalities(cached, keep))
            result[key]["+".join(keep)] = {k: scores[k]["accuracy"] for k in ("fused", *keep)}
    model.set_calibration(calibration)
    return result


def clips(model: EmotionFuser, data_dir: Path) -> dict[str, Any]:
    """One segment per real clip: how often fused, audio alone and face alone name the intended emotion."""
    rows = []
    for path in sorted((data_dir / "ravdess-av").glob("*/*.mp4")):
        native = NATIVE_LABELS[parse_name(path.stem)["emotion"] - 1]
        truth = model.labels[label_map().index(native)]
        duration = probe(path).duration or 4.0
        timeline = model.predict_video(path, window=duration, hop=duration, asr="off", progress=False)
        seg = timeline.segments[0]
        top = lambda probs: max(probs, key=probs.get) if probs else None  # noqa: E731
        rows.append(
            {
                "clip": path.name,
                "truth": truth,
                "fused": top(seg.probs),
                **{m: top(seg.modalities.get(m, {})) for m in ("audio", "face")},
                "weights": seg.weights,
                "incongruity": getattr(seg, "incongruity", None),
            }
        )
    correct = {k: sum(r[k] == r["truth"] for r in rows) for k in ("fused", "audio", "face")}
    return {"n": len(rows), "correct": correct, "clips": rows}


def example(model: EmotionFuser, data_dir: Path) -> dict[str, Any]:
    """The README example with real inputs: what each modality says and what the fusion makes of it."""
    speech = get_dataset("ravdess", data_dir / "ravdess", split="test")
    faces = get_dataset("fer2013", data_dir / "fer2013", split="private_test")
    anger = model.labels.index("anger")
    voice = next(speech[i] for i in range(len(speech)) if speech.targets()[i] == anger)
    face = next(faces[i] for i in range(len(faces)) if faces.targets()[i] == anger)
    result = model.predict(
        text="I can't believe you did that!", audio=voice.audio, sample_rate=voice.sample_rate, faces=face.faces
    )
    tops = {m: max(p, key=p.get) for m, p in result.modalities.items()}
    return {
        "fused": result.label,
        "modalities": tops,
        "probs": result.probs,
        "weights": result.weights,
        "incongruity": result.incongruity,
        "voice": voice.meta.get("path"),
        "face": face.meta.get("path"),
    }


def summary_markdown(results: dict[str, Any]) -> str:
    lines = ["# Fusion against the best single modality", ""]
    if "mosi" in results:
        lines += ["## CMU-MOSI test accuracy (%)", "", "| variant | accuracy | ECE |", "|---|---|---|"]
        for name, row in results["mosi"].items():
            acc = f"{100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f}"
            lines.append(f"| {name} | {acc} | {100 * row['ece_mean']:.1f} |")
        lines.append("")
    if "heads" in results:
        lines += [
            "## Each head alone on its own test set",
            "",
            "| head: test set | n | accuracy | weighted F1 | ECE |",
            "|---|---|---|---|---|",
        ]
        for name, row in results["heads"].items():
            lines.append(
                f"| {name} | {row['n']} | {100 * row['accuracy']:.1f} | {100 * row['f1_weighted']:.1f} | "
                f"{100 * row['ece']:.1f} |"
            )
        lines.append("")
    if "combos" in results:
        lines += [
            "## Label-matched test combinations, accuracy (%)",
            "",
            "| calibration | inputs | fused | heads |",
            "|---|---|---|---|",
        ]
        for key in ("uncalibrated", "calibrated"):
            for subset, row in results["combos"][key].items():
                if subset == "all":
                    heads = ", ".join(f"{m} {100 * row[m]['accuracy']:.1f}" for m in ("text", "audio", "face"))
                    lines.append(
                        f"| {key} | text+audio+face | {100 * row['fused']['accuracy']:.1f} "
                        f"(ECE {100 * row['fused']['ece']:.1f}) | {heads} |"
                    )
                else:
                    heads = ", ".join(f"{m} {100 * v:.1f}" for m, v in row.items() if m != "fused")
                    lines.append(f"| {key} | {subset} | {100 * row['fused']:.1f} | {heads} |")
        lines.append("")
    if "clips" in results:
        c = results["clips"]["correct"]
        lines += [
            "## Real RAVDESS clips of actor 05 (one segment each)",
            "",
            f"fused {c['fused']}/{results['clips']['n']}, audio alone {c['audio']}, face alone {c['face']}",
            "",
        ]
    if "example" in results:
        e = results["example"]
        lines += [
            "## README example",
            "",
            f"modalities: {e['modalities']}; fused: **{e['fused']}**; "
            f"weights {json.dumps({k: round(v, 2) for k, v in e['weights'].items()})}",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fusion"))
    parser.add_argument("--model", default="lite", help="model for combos/clips/example")
    parser.add_argument("--seeds", type=int, default=3, help="MOSI seeds")
    parser.add_argument("--cache-dir", type=Path, default=Path("runs/feature_cache"), help="encoder output cache")
    parser.add_argument("--only", nargs="*", choices=PARTS, default=list(PARTS))
    parser.add_argument("--mosi-variants", nargs="*", choices=list(MOSI_VARIANTS), default=list(MOSI_VARIANTS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = EmotionFuser.from_pretrained(args.model, device="cpu") if set(args.only) - {"mosi"} else None
    results: dict[str, Any] = {}
    for part in args.only:
        print(f"== {part}", flush=True)
        if part == "mosi":
            results[part] = mosi(args.data_dir, args.out, args.seeds, args.mosi_variants)
        elif part == "combos":
            results[part] = combos(model, args.data_dir, args.cache_dir)
        else:
            results[part] = globals()[part](model, args.data_dir)
        (args.out / f"{part}.json").write_text(json.dumps(results[part], indent=2, default=str))
    previous = {p: json.loads((args.out / f"{p}.json").read_text()) for p in PARTS if (args.out / f"{p}.json").exists()}
    (args.out / "summary.md").write_text(summary_markdown({**previous, **results}))
    print(summary_markdown(results))


if __name__ == "__main__":
    main()
