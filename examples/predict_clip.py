"""Predict the emotion timeline of a clip and print it.

python examples/predict_clip.py                                   # the demo clip and its subtitles
python examples/predict_clip.py my.mp4 --subtitles my.srt --model lite
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmempathy import EmotionFuser

DEMO = Path(__file__).resolve().parent / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEMO / "demo.mp4")
    parser.add_argument("--subtitles", type=Path, default=None, help="default: the demo's, for the demo clip")
    parser.add_argument("--model", default="lite")
    args = parser.parse_args()
    subtitles = args.subtitles
    if subtitles is None and args.video == DEMO / "demo.mp4":
        subtitles = DEMO / "demo.srt"

    fuser = EmotionFuser.from_pretrained(args.model)
    timeline = fuser.predict_video(args.video, subtitles=subtitles)
    print(timeline.to_table())
    for seg in timeline:
        best = ", ".join(f"{label} {p:.2f}" for label, p in sorted(seg.probs.items(), key=lambda kv: -kv[1])[:3])
        weights = ", ".join(f"{m} {w:.2f}" for m, w in seg.weights.items())
        print(f"{seg.start:5.1f}-{seg.end:5.1f} s  {best}   (weights: {weights})")


if __name__ == "__main__":
    main()
