"""CREMA-D: 91 actors speaking 12 sentences in six emotions (audio and face video).

Layout (the official release)::

    <root>/AudioWAV/1001_DFA_ANG_XX.wav       actor _ sentence _ emotion _ intensity (LO/MD/HI/XX)
    <root>/VideoFlash/1001_DFA_ANG_XX.flv
    <root>/SentenceFilenames.csv, processedResults/summaryTable.csv, VideoDemographics.csv
    <root>/audeering_speaker_splits_v1.1.0.json     {"train": [actor ids], "dev": [...], "test": [...]}

Labels are the emotion the actor was asked to portray (in the file name) unless ``label_source`` picks
the crowd's majority vote for the voice, the face or both from ``summaryTable.csv``; items whose vote
is a tie (``"A:N"``) are then left out. CREMA-D covers six of the seven default classes (no surprise).
Splits are actor-independent (audeering's 56 / 18 / 17 actors).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from mmempathy.data.base import EmotionDataset, LabelMap, check_split, require_dir
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.sample import Sample

SPLITS = ("train", "dev", "test")
SPLIT_FILE = "audeering_speaker_splits_v1.1.0.json"
NAME = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{1,2})$")
EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
EMOTION_MAP = LabelMap.build(
    EMOTIONS,
    {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "joy", "NEU": "neutral", "SAD": "sadness"},
    DEFAULT_LABELS,
)
VOTE_CODES = {"A": "ANG", "D": "DIS", "F": "FEA", "H": "HAP", "N": "NEU", "S": "SAD"}
VOTE_COLUMNS = {"voice": "VoiceVote", "face": "FaceVote", "multimodal": "MultiModalVote"}
SENTENCES = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}


def parse_name(stem: str) -> dict[str, str]:
    """Fields of a CREMA-D file name such as ``1001_DFA_ANG_XX``."""
    match = NAME.match(stem)
    if match is None or match["emotion"] not in EMOTIONS:
        raise InputError(f"not a CREMA-D file name: {stem!r}")
    return match.groupdict()


def speaker_splits(root: str | Path) -> dict[str, list[int]]:
    """Actor ids of each split from audeering's speaker-independent split file."""
    splits = json.loads((Path(root) / SPLIT_FILE).read_text())
    return {name: [int(a) for a in splits[name]] for name in SPLITS}


class CremaD(EmotionDataset):
    """CREMA-D clips of one actor-independent split.

    Args:
        root: The CREMA-D folder.
        split: ``"train"``, ``"dev"`` or ``"test"``.
        media: ``"audio"`` (``AudioWAV``), ``"video"`` (``VideoFlash`` clip path in ``meta["video"]``) or
            ``"both"``.
        label_source: ``"intended"`` (file name) or the majority vote ``"voice"``, ``"face"``, ``"multimodal"``.
        require_media: Leave out names whose media file is absent (``False``: label-only items).
        with_text: Put the spoken sentence in ``Sample.text`` (the same 12 neutral sentences for every
            emotion, so it carries no label information; off by default).
        decode_clips: Decode video clips into audio and faces in ``__getitem__``.

    Example:
        >>> ds = CremaD("/data/crema-d", "test")  # doctest: +SKIP
        >>> ds[0].audio.shape, ds[0].sample_rate  # doctest: +SKIP
    """

    name = "cremad"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        media: str = "audio",
        label_source: str = "intended",
        require_media: bool = True,
        with_text: bool = False,
        decode_clips: bool = False,
    ) -> None:
        root = require_dir(root, "CREMA-D")
        check_split(split, SPLITS)
        if media not in ("audio", "video", "both"):
            raise InputError(f"CREMA-D media must be 'audio', 'video' or 'both', got {media!r}")
        if label_source != "intended" and label_source not in VOTE_COLUMNS:
            raise InputError(f"unknown CREMA-D label_source {label_source!r}")
        actors = set(speaker_splits(root)[split])
        votes = self._votes(root, label_source)
        items = []
        for stem in _stems(root):
            fields = parse_name(stem)
            if int(fields["actor"]) not in actors:
                continue
            code = fields["emotion"] if label_source == "intended" else votes.get(stem)
            if code is None:
                continue
            audio = root / "AudioWAV" / f"{stem}.wav"
            video = root / "VideoFlash" / f"{stem}.flv"
            meta = {
                "id": stem,
                "speaker": int(fields["actor"]),
                "sentence": fields["sentence"],
                "intended": fields["emotion"],
                "intensity": fields["level"],
                "split": split,
                "audio_path": str(audio) if media != "video" and audio.is_file() else None,
                "video": str(video) if media != "audio" and video.is_file() else None,
            }
            if require_media and meta["audio_path"] is None and meta["video"] is None:
                continue
            text = SENTENCES[fields["sentence"]] if with_text else None
            items.append(Sample(text=text, label=EMOTION_MAP.index(code), meta=meta))
        super().__init__(items, labels=DEFAULT_LABELS, split=split, decode_clips=decode_clips)

    @staticmethod
    def _votes(root: Path, label_source: str) -> dict[str, str]:
        if label_source == "intended":
            return {}
        table = pd.read_csv(root / "processedResults" / "summaryTable.csv", keep_default_na=False)
        votes = table.set_index("FileName")[VOTE_COLUMNS[label_source]]
        # a tie ("A:N") has no single majority class: such items are left out
        return {name: VOTE_CODES[v] for name, v in votes.items() if v in VOTE_CODES}


def _stems(root: Path) -> list[str]:
    """Every clip name: from ``SentenceFilenames.csv`` when present, else from the media folders."""
    listing = root / "SentenceFilenames.csv"
    if listing.is_file():
        return pd.read_csv(listing)["Filename"].astype(str).tolist()
    stems = {p.stem for folder in ("AudioWAV", "VideoFlash") for p in (root / folder).glob("*_*_*_*.*")}
    return sorted(stems)
