"""Face detection rate and speed on real video: Haar cascade against CenterFace (and ``auto``).

Frames are sampled from the RAVDESS audio-visual clips as the pipeline samples them
(``VideoConfig.fps``, converted at most ``VideoConfig.frame_max_side`` large) and searched at the
pipeline's ``VideoConfig.detect_side``, on ``--threads`` threads (default one, for OpenCV and
for CenterFace's onnxruntime session alike). Detection rate: the fraction of sampled
frames with at least one face. Speed: milliseconds per frame on the unchanged frames, median of
``--repeats`` runs. Robustness cases: the same frames rotated 30 degrees (about the centre, border
replicated), flipped left-right, and downscaled so the longer side is 320 pixels.

    python benchmarks/face_detect.py --repeats 3
    python benchmarks/face_detect.py --repeats 3 --threads 2   # as the pipeline runs CenterFace
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from mmempathy.media.decode import VideoFrame, iter_media
from mmempathy.media.faces import FaceDetector
from mmempathy.media.pipeline import VideoConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-av"


def rotate(image: np.ndarray, degrees: float = 30.0) -> np.ndarray:
    turn = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), degrees, 1.0)
    return cv2.warpAffine(image, turn, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def downscale(image: np.ndarray, side: int = 320) -> np.ndarray:
    scale = side / max(image.shape[:2])
    return cv2.resize(
        image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )


CASES = {
    "as recorded": lambda im: im,
    "rotated 30°": rotate,
    "flipped": lambda im: np.ascontiguousarray(im[:, ::-1]),
    "downscaled to 320 px": downscale,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding Actor_XX/*.mp4")
    parser.add_argument("--detectors", nargs="+", default=["haar", "centerface", "auto"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="first N clips only (smoke runs)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    config = VideoConfig()
    clips = sorted(args.data.glob("Actor_*/*.mp4"))[: args.limit]
    if not clips:
        raise SystemExit(f"no Actor_*/*.mp4 under {args.data}")
    frames = [
        item.image
        for path in clips
        for item in iter_media(path, fps=config.fps, audio=False, max_side=config.frame_max_side)
        if isinstance(item, VideoFrame)
    ]
    print(
        f"{len(clips)} clips, {len(frames)} frames at {config.fps} fps, "
        f"detect side {config.detect_side}, {args.threads} thread(s)"
    )
    header = " | ".join(CASES)
    print(f"| detector | ms / frame | {header} |")
    print("|---|---|" + "---|" * len(CASES))
    detectors = {
        name: FaceDetector(detector=name, detect_side=config.detect_side, threads=args.threads)
        for name in args.detectors
    }
    # Detectors take turns on each frame, so that load from other jobs on a shared machine falls on
    # all of them alike; each run's figure is the mean over frames, the median of runs is reported.
    runs: dict[str, list[float]] = {name: [] for name in detectors}
    for _ in range(args.repeats):
        spent = dict.fromkeys(detectors, 0.0)
        for image in frames:
            for name, detector in detectors.items():
                start = time.perf_counter()
                detector(image)
                spent[name] += time.perf_counter() - start
        for name in detectors:
            runs[name].append(spent[name] / len(frames) * 1000)
    for name, detector in detectors.items():
        rates = [np.mean([bool(detector(case(im))) for im in frames]) for case in CASES.values()]
        cells = " | ".join(f"{r:.3f}" for r in rates)
        print(f"| {name} ({detector.name}) | {statistics.median(runs[name]):.1f} | {cells} |")


if __name__ == "__main__":
    main()
