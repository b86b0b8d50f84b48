"""The practice library: labelled items a person reads, and how the model reads each of them.

Sources:

* the demo clip's six segments (shipped in ``mmempathy/assets/demo/``: video with voice, face and subtitle);
* the user's own labelled clips: a folder (``<emotion>/<file>`` or ``<emotion>_<name>.<ext>``) or a
  CSV with ``path,emotion`` and optional ``text``;
* from a data folder laid out as ``../shared/data`` (when given): MELD test turns with the two turns
  before them, FER2013 test face stills and RAVDESS voice-only clips of the held-out actors 23/24.

A clip that cannot be read is left out, with a note the home page shows.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.output import EmotionResult

# Package data, so that the coach starts after a plain ``pip install`` (see the README there for its licences).
DEMO_DIR = Path(__file__).resolve().parents[1] / "assets" / "demo"
MEDIA_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".wav", ".flac", ".mp3", ".ogg", ".m4a"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a"}
# Other datasets' names for the seven labels.
ALIASES = {"angry": "anger", "happy": "joy", "sad": "sadness", "fearful": "fear", "surprised": "surprise"}
ALIASES |= {"calm": "neutral", "disgusted": "disgust", "ps": "surprise"}
RAVDESS = {
    "01": "neutral",
    "03": "joy",
    "04": "sadness",
    "05": "anger",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}


@dataclass
class Item:
    """One thing to practise on.

    Attributes:
        id: Stable identifier (kept in the database with every answer).
        kind: ``video``, ``voice``, ``face`` or ``text``.
        truth: The label the source gives.
        path: The media file, for video, voice and face items.
        start: Segment start in seconds within ``path`` (video segments).
        end: Segment end in seconds.
        text: What is said, when known.
        context: The turns before ``text`` (dialogue items), ``"Speaker: words"``.
        source: Where the item comes from, for the record.
    """

    id: str
    kind: str
    truth: str
    path: Path | None = None
    start: float | None = None
    end: float | None = None
    text: str | None = None
    context: list[str] = field(default_factory=list)
    source: str = ""


@dataclass
class Library:
    """The items, and notes about what was left out."""

    items: dict[str, Item] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, item: Item) -> None:
        self.items[item.id] = item


def normalise_label(name: str) -> str:
    """A label in the default space (``happy`` -> ``joy``); raises InputError for anything else."""
    label = ALIASES.get(name.strip().lower(), name.strip().lower())
    if label not in DEFAULT_LABELS:
        raise InputError(f"unknown emotion {name!r} (known: {', '.join(DEFAULT_LABELS)})")
    return label


def build_library(
    clips: str | Path | None = None, data_dir: str | Path | None = None, *, demo: bool = True, per_source: int = 14
) -> Library:
    """Collect the practice items.

    Args:
        clips: The user's labelled clips: a folder or a CSV (``path,emotion[,text]``).
        data_dir: A folder laid out as ``../shared/data`` (MELD, FER2013, RAVDESS), optional.
        demo: Include the demo clip's segments.
        per_source: Items taken from each public data source (spread over the labels).
    """
    lib = Library()
    if demo:
        add_demo(lib)
    if clips:
        add_clips(lib, Path(clips))
    if data_dir:
        root = Path(data_dir)
        if not root.is_dir():
            lib.notes.append(f"data folder {root} not found: no MELD, FER2013 or RAVDESS items")
        else:
            add_meld(lib, root / "meld" / "test_sent_emo.csv", per_source)
            add_faces(lib, root / "fer2013" / "test", per_source)
            add_voices(lib, root / "ravdess", per_source)
    return lib


def add_demo(lib: Library) -> None:
    truth = DEMO_DIR / "truth.csv"
    if not truth.is_file():
        lib.notes.append("the demo clip is missing from this installation of mmempathy (reinstall it to get it back)")
        return
    with truth.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            lib.add(
                Item(
                    id=f"demo:{row['segment']}",
                    kind="video",
                    truth=row["emotion"],
                    path=DEMO_DIR / "demo.mp4",
                    start=float(row["start"]),
                    end=float(row["end"]),
                    text=row["text"],
                    source=f"demo segment {row['segment']} (FER2013 face, RAVDESS voice, {row['text_source']} words)",
                )
            )


def add_clips(lib: Library, where: Path) -> None:
    """The user's clips; unreadable or unlabelled ones become notes."""
    if not where.exists():
        lib.notes.append(f"clips {where} not found")
        return
    rows: list[tuple[Path, str, str | None]] = []
    if where.is_file():
        try:
            with where.open(encoding="utf-8", newline="") as f:
                for n, row in enumerate(csv.DictReader(f), start=2):
                    if not row.get("path") or not row.get("emotion"):
                        lib.notes.append(f"{where.name} line {n}: needs path and emotion, skipped")
                        continue
                    path = Path(row["path"])
                    rows.append((path if path.is_absolute() else where.parent / path, row["emotion"], row.get("text")))
        except (UnicodeDecodeError, csv.Error) as err:
            lib.notes.append(f"{where}: not a readable CSV ({err})")
            return
    else:
        for path in sorted(p for p in where.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES):
            label = path.parent.name if path.parent != where else path.stem.split("_")[0]
            rows.append((path, label, None))
    for path, label, text in rows:
        try:
            truth = normalise_label(label)
            check_media(path)
        except (InputError, OSError) as err:
            lib.notes.append(f"skipped clip {path.name}: {err}")
            continue
        kind = "voice" if path.suffix.lower() in AUDIO_SUFFIXES else "video"
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        lib.add(Item(id=f"clip:{digest}", kind=kind, truth=truth, path=path, text=text or None, source=str(path)))


def check_media(path: Path) -> None:
    """Raise when ``path`` cannot be opened as media (read from the header only)."""
    from mmempathy.media.decode import probe

    if not path.is_file():
        raise InputError("file not found")
    try:
        info = probe(path)
    except Exception as err:  # PyAV raises many types for broken files; all mean "unreadable" here
        raise InputError(f"unreadable media ({type(err).__name__})") from err
    if not (info.has_video or info.has_audio):
        raise InputError("no audio or video stream")


def add_meld(lib: Library, csv_path: Path, n: int) -> None:
    if not csv_path.is_file():
        return
    import pandas as pd

    df = pd.read_csv(csv_path)
    df["Utterance"] = df["Utterance"].astype(str).str.replace("\u2019", "'").str.replace("\u2018", "'")
    picked = 0
    # Turns with at least two before them, spread over the labels, in file order.
    for label in DEFAULT_LABELS:
        rows = df[(df["Emotion"] == label) & (df["Utterance_ID"] >= 2)].head(max(1, n // len(DEFAULT_LABELS)))
        for _, row in rows.iterrows():
            dia = df[(df["Dialogue_ID"] == row["Dialogue_ID"]) & (df["Utterance_ID"] < row["Utterance_ID"])]
            context = [f"{r.Speaker}: {r.Utterance}" for r in dia.tail(2).itertuples()]
            uid = f"dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}"
            lib.add(
                Item(
                    id=f"meld:test:{uid}",
                    kind="text",
                    truth=label,
                    text=f"{row['Speaker']}: {row['Utterance']}",
                    context=context,
                    source=f"MELD test {uid}",
                )
            )
            picked += 1
    if not picked:
        lib.notes.append(f"{csv_path}: no MELD turns found")


def add_faces(lib: Library, root: Path, n: int) -> None:
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            label = normalise_label(folder.name)
        except InputError:
            continue
        for path in sorted(folder.glob("PrivateTest_*.jpg"))[: max(1, n // len(DEFAULT_LABELS))]:
            lib.add(
                Item(
                    id=f"fer:{folder.name}/{path.name}",
                    kind="face",
                    truth=label,
                    path=path,
                    source=f"FER2013 {path.name}",
                )
            )


def add_voices(lib: Library, root: Path, n: int) -> None:
    files = sorted((root / "Actor_23").glob("03-01-*.flac")) + sorted((root / "Actor_24").glob("03-01-*.flac"))
    per_label: dict[str, int] = {}
    for path in files:
        label = RAVDESS.get(path.name.split("-")[2])
        if label is None or per_label.get(label, 0) >= max(1, n // len(DEFAULT_LABELS)):
            continue
        per_label[label] = per_label.get(label, 0) + 1
        lib.add(Item(id=f"ravdess:{path.stem}", kind="voice", truth=label, path=path, source=f"RAVDESS {path.name}"))


# --- how the model reads an item ---------------------------------------------------------------

Reader = Callable[[Item], EmotionResult]


def model_reader(fuser: Any) -> Reader:
    """A reader that runs ``fuser`` on an item (the demo clip's timeline is computed once)."""
    timelines: dict[Path, Any] = {}

    def timeline(path: Path, subtitles: Path | None = None) -> Any:
        if path not in timelines:
            timelines[path] = fuser.predict_video(path, subtitles=subtitles)
        return timelines[path]

    def read(item: Item) -> EmotionResult:
        if item.id.startswith("demo:"):
            tl = timeline(item.path, DEMO_DIR / "demo.srt")
            seg = min(tl.segments, key=lambda s: abs(s.start - item.start) + abs(s.end - item.end))
            return EmotionResult(dict(seg.probs), dict(seg.modalities), dict(seg.weights), list(seg.present))
        if item.kind == "text":
            return fuser.predict(text=item.text.split(": ", 1)[-1])
        if item.kind == "face":
            import cv2

            image = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise InputError(f"cannot read image {item.path}")
            return fuser.predict(faces=image)
        if item.kind == "voice" and item.path.suffix.lower() in {".flac", ".wav"}:
            import soundfile as sf

            wave, rate = sf.read(str(item.path), dtype="float32", always_2d=True)
            return fuser.predict(text=item.text, audio=wave.mean(axis=1), sample_rate=rate)
        return aggregate(timeline(item.path))

    return read


def aggregate(timeline: Any) -> EmotionResult:
    """One reading of a whole clip: the mean of its segments (each modality over the segments it had)."""
    segs = timeline.segments
    if not segs:
        raise InputError("the clip gave no segments")
    labels = list(timeline.labels)
    probs = {k: float(np.mean([s.probs[k] for s in segs])) for k in labels}
    mods = {m: [s.modalities[m] for s in segs if m in s.modalities] for m in timeline.modality_names()}
    modalities = {m: {k: float(np.mean([p[k] for p in ps])) for k in labels} for m, ps in mods.items() if ps}
    weights = {m: float(np.mean([s.weights.get(m, 0.0) for s in segs])) for m in modalities}
    total = sum(weights.values()) or 1.0
    return EmotionResult(probs, modalities, {m: w / total for m, w in weights.items()}, list(modalities))
