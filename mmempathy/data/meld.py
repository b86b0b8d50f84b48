"""MELD: utterances of *Friends* dialogues, seven emotions and three sentiments.

Layout (the official release)::

    <root>/train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv
    <root>/train_splits/dia{D}_utt{U}.mp4                 (optional, also under MELD.Raw/)
    <root>/dev_splits_complete/dia{D}_utt{U}.mp4
    <root>/output_repeated_splits_test/dia{D}_utt{U}.mp4

Without the clip folders the dataset is text-only. With them, each item's clip path is in
``meta["video"]`` (decoded lazily). A few clips of the official release are missing; those items
stay text-only (``meta["video"] is None``) unless ``missing_clips="drop"``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from mmempathy.data.base import EmotionDataset, LabelMap, check_split, require_dir
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.sample import Sample

SPLITS = ("train", "dev", "test")
CSV_NAMES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
CLIP_DIRS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
EMOTIONS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
SENTIMENTS = ("negative", "neutral", "positive")

# MELD's emotion names are already the default space, one to one.
EMOTION_MAP = LabelMap.build(EMOTIONS, {e: e for e in EMOTIONS}, DEFAULT_LABELS)

_C1 = re.compile("[\u0080-\u009f]")
_MOJIBAKE = re.compile("[\u00c2\u00c3\u00e2][\u0080-\u00bf\u20ac\u201a-\u203a\u0152-\u0178\u2122]")


def fix_text(text: str) -> str:
    """Repair the encoding damage found in MELD's CSVs, leaving clean text untouched.

    Two kinds occur across MELD's copies: Windows-1252 bytes read as Latin-1 (``\\x92`` where
    ``’`` was meant) and UTF-8 read as Windows-1252 (``â€™``). Both are undone; genuine non-ASCII
    (``café``, ``’``) is kept.

    Example:
        >>> fix_text("You must\\x92ve had your hands full\\x85"), fix_text("Paulâ€™s CafÃ©")
        ('You must’ve had your hands full…', 'Paul’s Café')
    """
    if _MOJIBAKE.search(text):
        try:
            text = text.encode("cp1252").decode("utf-8")
        except UnicodeError:
            pass
    if _C1.search(text):
        text = _C1.sub(lambda m: bytes([ord(m.group())]).decode("cp1252", errors="ignore"), text)
    return text.replace("\u00a0", " ").strip()


def read_meld_csv(path: str | Path) -> pd.DataFrame:
    """Read one official MELD CSV (UTF-8, or Windows-1252 in older copies) with repaired text."""
    raw = Path(path).read_bytes()
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        decoded = raw.decode("cp1252", errors="replace")
    from io import StringIO

    frame = pd.read_csv(StringIO(decoded), keep_default_na=False)
    needed = {"Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"}
    if not needed <= set(frame.columns):
        raise InputError(f"{path}: not a MELD CSV, missing columns {sorted(needed - set(frame.columns))}")
    frame["Utterance"] = frame["Utterance"].map(fix_text)
    return frame


class MELD(EmotionDataset):
    """MELD utterances as ``Sample``s: text always, the clip path when the clips are present.

    Args:
        root: Folder with the three CSVs (and optionally the clip folders).
        split: ``"train"`` (9,989), ``"dev"`` (1,109) or ``"test"`` (2,610).
        target: ``"emotion"`` (7 classes, the default space) or ``"sentiment"`` (negative, neutral,
            positive).
        clips_dir: Where the clip folders live; default: ``root`` or ``root/MELD.Raw`` if they exist.
        missing_clips: ``"text"`` keeps an item whose clip is missing as text-only; ``"drop"`` leaves it out.
        decode_clips: Decode clips into audio and faces in ``__getitem__``.

    Example:
        >>> ds = MELD("/data/meld", "dev")  # doctest: +SKIP
        >>> ds[0].text, ds.labels[ds[0].label]  # doctest: +SKIP
        ('Oh my God, he’s lost it. He’s totally lost it.', 'sadness')
    """

    name = "meld"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        target: str = "emotion",
        clips_dir: str | Path | None = None,
        missing_clips: str = "text",
        decode_clips: bool = False,
    ) -> None:
        root = require_dir(root, "MELD")
        check_split(split, SPLITS)
        if target not in ("emotion", "sentiment"):
            raise InputError(f"MELD target must be 'emotion' or 'sentiment', got {target!r}")
        frame = read_meld_csv(root / CSV_NAMES[split])
        clip_folder = _find_clip_folder(root if clips_dir is None else Path(clips_dir), split)
        labels = DEFAULT_LABELS if target == "emotion" else SENTIMENTS
        items = []
        for row in frame.itertuples(index=False):
            label = EMOTION_MAP.index(row.Emotion) if target == "emotion" else SENTIMENTS.index(row.Sentiment)
            meta = {
                "id": f"dia{row.Dialogue_ID}_utt{row.Utterance_ID}",
                "dialogue": int(row.Dialogue_ID),
                "utterance": int(row.Utterance_ID),
                "speaker": row.Speaker,
                "emotion": row.Emotion,
                "sentiment": row.Sentiment,
                "start": getattr(row, "StartTime", None),
                "end": getattr(row, "EndTime", None),
                "split": split,
                "video": None,
            }
            if clip_folder is not None:
                clip = clip_folder / f"{meta['id']}.mp4"
                if clip.is_file():
                    meta["video"] = str(clip)
                elif missing_clips == "drop":
                    continue
            items.append(Sample(text=row.Utterance, label=label, meta=meta))
        super().__init__(items, labels=labels, split=split, decode_clips=decode_clips)
        self.clip_folder = clip_folder


def _find_clip_folder(base: Path, split: str) -> Path | None:
    for folder in (base / CLIP_DIRS[split], base / "MELD.Raw" / CLIP_DIRS[split]):
        if folder.is_dir():
            return folder
    return None
