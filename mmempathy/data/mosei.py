"""CMU-MOSEI segments: sentiment (2, 3 or 7 classes) or the dominant one of six emotions.

Layout::

    <root>/CMU_MOSEI_Labels.csv     ,file,index,start,end,label2a,label2b,label6,label7,split
    <root>/Segmented_Audio/{train,dev,test}/<file>_<index>.wav        (optional, s3prl's segmentation)
    <root>/Videos/Segmented/Combined/<file>_<index>.mp4               (optional, segment clips)
    <root>/Transcript/Segmented/Combined/<file>.txt                   (optional, ``file___index___start___end___text``)

Label columns, as made by s3prl from the official ``.csd`` labels: ``label2a`` 0 negative / 1 non-negative
(sentiment >= 0); ``label2b`` -1/0/+1 sign of the sentiment; ``label7`` the sentiment rounded to
-3..3; ``label6`` the argmax of the six emotion intensities in the order happy, sad, anger, surprise,
disgust, fear. That argmax makes a segment with no emotion at all "happy" (index 0): a known artefact
of these labels, kept because it is what published s3prl results used. ``split`` is the standard fold:
0 train, 1 dev, 2 test; 3 (videos outside the standard folds) is never used.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmempathy.data.base import EmotionDataset, LabelMap, check_split, require_dir
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.sample import Sample

SPLITS = ("train", "dev", "test")
FOLD_IDS = {"train": 0, "dev": 1, "test": 2}
EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
# Six emotions onto the default space; MOSEI has no neutral class, so "neutral" never occurs.
EMOTION_MAP = LabelMap.build(
    EMOTIONS,
    {"happy": "joy", "sad": "sadness", "anger": "anger", "surprise": "surprise", "disgust": "disgust", "fear": "fear"},
    DEFAULT_LABELS,
)
TARGETS = {
    "sentiment2": ("label2a", ("negative", "non-negative"), 0),
    "sentiment3": ("label2b", ("negative", "neutral", "positive"), 1),
    "sentiment7": ("label7", tuple(str(v) for v in range(-3, 4)), 3),
}


def read_transcripts(folder: Path, video: str) -> dict[int, str]:
    """Segment index -> text from one ``Transcript/Segmented/Combined/<video>.txt``."""
    path = folder / f"{video}.txt"
    if not path.is_file():
        return {}
    texts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("___", 4)
        if len(parts) == 5 and parts[1].isdigit():
            texts[int(parts[1])] = parts[4].strip()
    return texts


class MOSEI(EmotionDataset):
    """CMU-MOSEI segments of one standard fold.

    Args:
        root: The ``cmu-mosei`` folder (labels CSV, optionally the media folders).
        split: ``"train"`` (16,327), ``"dev"`` (1,871) or ``"test"`` (4,662).
        target: ``"emotion"`` (six emotions on the seven-class space), ``"sentiment2"``,
            ``"sentiment3"`` or ``"sentiment7"`` (classes -3..3 as indices 0..6).
        require_media: Keep only segments whose audio or clip exists (``False``: labels-only items too).
        decode_clips: Decode segment clips into audio and faces in ``__getitem__``.

    Example:
        >>> ds = MOSEI("/data/cmu-mosei", "test", target="sentiment2")  # doctest: +SKIP
    """

    name = "mosei"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        target: str = "sentiment2",
        require_media: bool = False,
        decode_clips: bool = False,
    ) -> None:
        root = require_dir(root, "CMU-MOSEI")
        check_split(split, SPLITS)
        if target != "emotion" and target not in TARGETS:
            raise InputError(f"MOSEI target must be 'emotion' or one of {list(TARGETS)}, got {target!r}")
        frame = pd.read_csv(root / "CMU_MOSEI_Labels.csv", index_col=0, dtype={"file": str})
        frame = frame[frame["split"] == FOLD_IDS[split]]
        audio_dir = root / "Segmented_Audio" / split
        video_dir = root / "Videos" / "Segmented" / "Combined"
        text_dir = root / "Transcript" / "Segmented" / "Combined"
        transcripts: dict[str, dict[int, str]] = {}
        items = []
        for row in frame.itertuples(index=False):
            seg = f"{row.file}_{row.index}"
            audio = audio_dir / f"{seg}.wav"
            video = video_dir / f"{seg}.mp4"
            meta = {
                "id": seg,
                "video_id": row.file,
                "segment": int(row.index),
                "start": float(row.start),
                "end": float(row.end),
                "split": split,
                "audio_path": str(audio) if audio.is_file() else None,
                "video": str(video) if video.is_file() else None,
            }
            if require_media and meta["audio_path"] is None and meta["video"] is None:
                continue
            if text_dir.is_dir() and row.file not in transcripts:
                transcripts[row.file] = read_transcripts(text_dir, row.file)
            text = transcripts.get(row.file, {}).get(int(row.index))
            items.append(Sample(text=text, label=self._label(row, target), meta=meta))
        labels = DEFAULT_LABELS if target == "emotion" else TARGETS[target][1]
        super().__init__(items, labels=labels, split=split, decode_clips=decode_clips)

    @staticmethod
    def _label(row, target: str) -> int:
        if target == "emotion":
            return EMOTION_MAP.index(EMOTIONS[int(row.label6)])
        column, _, offset = TARGETS[target]
        return int(getattr(row, column)) + offset
