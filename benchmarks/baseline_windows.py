"""The voice's person baseline in the video pipeline: windows over one actor's clips played back to back.

``benchmarks/person_baseline.py`` reads every clip as one segment (as ``clip_inputs`` and
``predict_samples`` do). Here each RAVDESS **test** actor (19-24) becomes two recordings read by
``predict_video`` (3-s windows, voice activity on, no text, no face): *angry*, every angry clip of the
actor (one emotion throughout: the baseline must leave it alone), and *varied*, statement 1 at normal
intensity in all eight emotions, twice (16 clips, about a minute). Each window is scored against the
clip under its middle. Reported per actor, plain (``adapt="off"``) and with the baseline (``"auto"``):
windows with speech, the share read angry, the share right, and the baseline strengths applied; and, to
tell the windows from the recordings' mix, the same clips read whole (``predict_samples``, one segment a
clip, plain and with ``person=``).

    OMP_NUM_THREADS=2 python benchmarks/baseline_windows.py --out benchmarks/results/person_baseline/windows.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from feedback import DATA, load_model

from mmempathy.data.ravdess import NATIVE_LABELS, TO_DEFAULT
from mmempathy.sample import Sample

RECORDINGS = {"angry": "03-01-05-*.flac", "varied": "03-01-0[1-8]-01-01-*.flac"}


def recording(actor: int, pattern: str, folder: Path) -> tuple[Path, np.ndarray, list[str], list[np.ndarray]]:
    """The actor's clips matching ``pattern`` back to back: the file, each clip's end (s), label and waveform."""
    clips = sorted((DATA / "ravdess" / f"Actor_{actor:02d}").glob(pattern))
    waves = [sf.read(str(c), dtype="float32")[0] for c in clips]
    path = folder / f"{Path(pattern).stem.replace('*', 'x')}-{actor}.wav"
    sf.write(path, np.concatenate(waves), 16000)
    labels = [TO_DEFAULT[NATIVE_LABELS[int(c.name.split("-")[2]) - 1]] for c in clips]
    return path, np.cumsum([len(w) / 16000 for w in waves]), labels, waves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lite")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    fuser = load_model(args.model)
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for actor in range(19, 25):
            for name, pattern in RECORDINGS.items():
                path, ends, labels, waves = recording(actor, pattern, Path(tmp))
                clips = [Sample(audio=w, sample_rate=16000) for w in waves]
                for adapt, person in (("off", None), ("auto", [actor] * len(clips))):
                    read = fuser.predict_samples(clips, person=person)
                    report.setdefault(str(actor), {}).setdefault(f"{name}, clips whole", {})[adapt] = {
                        "angry": float(np.mean([r.label == "anger" for r in read])),
                        "right": float(np.mean([r.label == y for r, y in zip(read, labels)])),
                    }
                for adapt in ("off", "auto"):
                    voiced = [s for s in fuser.predict_video(path, asr="off", adapt=adapt) if "audio" in s.present]
                    truth = [
                        labels[min(int(np.searchsorted(ends, (s.start + s.end) / 2)), len(labels) - 1)] for s in voiced
                    ]
                    report.setdefault(str(actor), {}).setdefault(name, {})[adapt] = {
                        "windows": len(voiced),
                        "angry": float(np.mean([s.dominant == "anger" for s in voiced])),
                        "right": float(np.mean([s.dominant == y for s, y in zip(voiced, truth)])),
                        "strength": sorted({s.baseline.get("audio", {}).get("strength", 0.0) for s in voiced}),
                    }
            print(actor, json.dumps(report[str(actor)]), flush=True)
    for name in (*RECORDINGS, *(f"{n}, clips whole" for n in RECORDINGS)):
        for adapt in ("off", "auto"):
            key = "angry" if name == "angry" else "right"
            mean = np.mean([report[a][name][adapt][key] for a in report])
            print(f"{name} recordings, adapt={adapt}: mean share {key} {100 * mean:.1f} %")
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "actors": report}, indent=1))


if __name__ == "__main__":
    main()
