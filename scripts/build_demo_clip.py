"""Build the demo clip ``mmempathy/assets/demo/demo.mp4`` (+ ``demo.srt``, ``truth.csv``) from public test data.

Each segment shows one emotion in all three modalities at once:

* face: a FER2013 *test* image of that emotion (48x48 grayscale), upscaled and placed on a plain
  background, drifting and breathing a little from frame to frame; only images that OpenCV's Haar
  detector finds are used;
* speech: a RAVDESS utterance of that emotion by actor 23 or 24 (held out of training);
* text: a MELD *test* utterance of that emotion (MELD's own label), as the segment's subtitle cue;
  hand-picked (``MELD_PICKS``) among the short ones for a line that makes sense out of context.

Usage:
    python scripts/build_demo_clip.py --data-dir ../shared/data --out mmempathy/assets/demo

The choice is deterministic (sorted files, fixed rules), so rebuilding gives the same clip.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from mmempathy.media.decode import iter_frames
from mmempathy.media.faces import FaceDetector
from mmempathy.testing import write_clip

SAMPLE_RATE = 16_000
WIDTH, HEIGHT, FPS = 640, 360, 10
FACE_SIDE = 200  # FER's 48 px faces, upscaled
SEGMENT_SECONDS = 3.0

# Our label -> FER2013 folder, RAVDESS emotion code, RAVDESS actor (alternating voices).
EMOTIONS = [
    ("anger", "angry", "05", 23),
    ("joy", "happy", "03", 24),
    ("sadness", "sad", "04", 23),
    ("surprise", "surprise", "08", 24),
    ("neutral", "neutral", "01", 23),
    ("fear", "fear", "06", 24),
]


# (Dialogue_ID, Utterance_ID) of test_sent_emo.csv; each one's MELD label is checked when building.
MELD_PICKS = {
    "anger": (64, 0),  # So, you stole my joke, and you stole my money.
    "joy": (38, 0),  # Guess what, I got an audition!
    "sadness": (22, 4),  # So, I guess this is over.
    "surprise": (4, 2),  # It kicked! I think the baby kicked!
    "neutral": (16, 0),  # Hey, Joey, could you pass the cheese?
    "fear": (113, 4),  # No-no! Don't do it! Don't!
}


@dataclass
class Segment:
    emotion: str
    start: float
    end: float
    face_file: Path
    audio_file: Path
    text: str
    text_source: str


def pick_face(data: Path, folder: str, detector: FaceDetector, skip: int = 0) -> tuple[Path, np.ndarray]:
    """The first FER2013 test face of ``folder`` that the detector finds on the demo canvas."""
    found = 0
    for path in sorted((data / "fer2013" / "test" / folder).glob("*.jpg")):
        face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if face is None or face.std() < 30:  # skip blank or washed-out images
            continue
        frames = [render(face, t) for t in (0.0, 1.0, 2.0, 2.9)]
        if all(len(detector(f)) == 1 for f in frames):
            if found == skip:
                return path, face
            found += 1
    raise SystemExit(f"no detectable FER2013 test face in {folder}")


def render(face: np.ndarray, t: float) -> np.ndarray:
    """One frame: the face on a plain background, drifting slowly and scaling a little with time."""
    canvas = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    canvas[:] = (70, 86, 104)  # slate blue-grey
    side = round(FACE_SIDE * (1.0 + 0.04 * np.sin(2 * np.pi * t / 3.0)))
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    x = round(WIDTH / 2 - side / 2 + 20 * np.sin(2 * np.pi * t / 6.0))
    y = round(HEIGHT / 2 - side / 2 + 6 * np.cos(2 * np.pi * t / 4.0))
    canvas[y : y + side, x : x + side] = big[..., None]
    return canvas


def pick_audio(data: Path, code: str, actor: int) -> Path:
    """Strong intensity (neutral has only normal), statement 1, repetition 1."""
    intensity = "01" if code == "01" else "02"
    path = data / "ravdess" / f"Actor_{actor:02d}" / f"03-01-{code}-{intensity}-01-01-{actor:02d}.flac"
    if not path.is_file():
        raise SystemExit(f"missing RAVDESS file {path}")
    return path


def speech_window(path: Path) -> np.ndarray:
    """``SEGMENT_SECONDS`` of the utterance, starting just before the speech does."""
    audio, rate = sf.read(path, dtype="float32")
    if rate != SAMPLE_RATE or audio.ndim != 1:
        raise SystemExit(f"{path}: expected 16 kHz mono, got {rate} Hz, shape {audio.shape}")
    frame = SAMPLE_RATE // 100
    energy = np.sqrt(np.mean(audio[: len(audio) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    onset = int(np.argmax(energy > 0.1 * energy.max())) * frame
    start = max(0, onset - SAMPLE_RATE // 5)
    out = np.zeros(round(SEGMENT_SECONDS * SAMPLE_RATE), np.float32)
    piece = audio[start : start + len(out)]
    out[: len(piece)] = piece
    # Fade the edges so that the cuts do not click.
    ramp = np.linspace(0, 1, SAMPLE_RATE // 50, dtype=np.float32)
    out[: len(ramp)] *= ramp
    out[-len(ramp) :] *= ramp[::-1]
    return out


def pick_text(data: Path, emotion: str) -> tuple[str, str]:
    """The picked MELD test utterance for ``emotion``, checked to carry that label."""
    dialogue, utterance = MELD_PICKS[emotion]
    with open(data / "meld" / "test_sent_emo.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (int(row["Dialogue_ID"]), int(row["Utterance_ID"])) == (dialogue, utterance):
                if row["Emotion"] != emotion:
                    raise SystemExit(f"MELD test dia{dialogue}_utt{utterance} is {row['Emotion']}, not {emotion}")
                return row["Utterance"].strip(), f"MELD test dia{dialogue}_utt{utterance}"
    raise SystemExit(f"MELD test dia{dialogue}_utt{utterance} not found")


def srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def build(data: Path, out: Path) -> list[Segment]:
    out.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector(detector="haar")  # the cascade that picked the committed demo faces
    segments, faces, audio = [], [], []
    for i, (emotion, fer, code, actor) in enumerate(EMOTIONS):
        face_file, face = pick_face(data, fer, detector)
        audio_file = pick_audio(data, code, actor)
        text, source = pick_text(data, emotion)
        start = i * SEGMENT_SECONDS
        segments.append(Segment(emotion, start, start + SEGMENT_SECONDS, face_file, audio_file, text, source))
        faces.append(face)
        audio.append(speech_window(audio_file))

    def frames():
        for k in range(round(len(segments) * SEGMENT_SECONDS * FPS)):
            t = k / FPS
            yield render(faces[min(int(t // SEGMENT_SECONDS), len(faces) - 1)], t % SEGMENT_SECONDS)

    write_clip(out / "demo.mp4", frames(), fps=FPS, audio=np.concatenate(audio), crf=30, audio_bitrate=48_000)
    cues = [
        f"{i}\n{srt_time(s.start + 0.1)} --> {srt_time(s.end - 0.1)}\n{s.text}\n" for i, s in enumerate(segments, 1)
    ]
    (out / "demo.srt").write_text("\n".join(cues), encoding="utf-8")
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["segment", "start", "end", "emotion", "face_file", "audio_file", "text_source", "text"])
        for i, s in enumerate(segments, 1):
            writer.writerow(
                [i, s.start, s.end, s.emotion, rel(s.face_file, data), rel(s.audio_file, data), s.text_source, s.text]
            )
    return segments


def rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def check(out: Path) -> float:
    """Share of the clip's decoded frames (2 fps) in which the detector finds exactly one face."""
    detector = FaceDetector(detector="haar")  # the cascade that picked the committed demo faces
    hits = [len(detector(f.image)) == 1 for f in iter_frames(out / "demo.mp4", fps=2.0)]
    return sum(hits) / len(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--out", type=Path, default=Path("mmempathy/assets/demo"), help="output folder")
    args = parser.parse_args()
    segments = build(args.data_dir, args.out)
    rate = check(args.out)
    size = (args.out / "demo.mp4").stat().st_size
    for s in segments:
        print(f"{s.start:5.1f}-{s.end:5.1f}  {s.emotion:<9} {rel(s.face_file, args.data_dir)}  {s.audio_file.name}")
    print(f"wrote {args.out / 'demo.mp4'} ({size / 1e6:.2f} MB); face found in {rate:.0%} of frames at 2 fps")
    if rate < 0.9:
        raise SystemExit("the Haar detector misses the face in too many frames")


if __name__ == "__main__":
    main()
