"""Plot an emotion timeline (raw and smoothed) as PNG files, and save it as JSON.

python examples/plot_timeline.py                      # demo clip -> outputs/demo_timeline.png, ..._smooth.png, .json
python examples/plot_timeline.py my.mp4 --out plots/ --window 4 --hop 2

Windows overlap by default (3 s every 1.5 s): each is drawn over the hop-long span in its middle,
so a change of emotion shows where it happened (``mmempathy.media.timeline.drawn_spans``); the
JSON keeps every window's own start and end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmempathy import EmotionFuser
from mmempathy.media import Timeline

DEMO = Path(__file__).resolve().parent / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEMO / "demo.mp4")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the PNG and JSON files")
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--hop", type=float, default=1.5)
    parser.add_argument("--model", default="lite")
    args = parser.parse_args()

    fuser = EmotionFuser.from_pretrained(args.model)
    timeline = fuser.predict_video(args.video, window=args.window, hop=args.hop)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{args.video.stem}_timeline"
    timeline.plot(f"{stem}.png")
    timeline.smooth(3).plot(f"{stem}_smooth.png", title="Emotion timeline, smoothed over 3 windows")
    timeline.to_json(f"{stem}.json")
    again = Timeline.from_json(f"{stem}.json")  # the JSON reads back into the same timeline
    assert again.to_dataframe().equals(timeline.to_dataframe())
    print(f"wrote {stem}.png, {stem}_smooth.png and {stem}.json ({len(timeline)} segments)")


if __name__ == "__main__":
    main()
