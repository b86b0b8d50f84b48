"""RAVDESS: 24 actors, speech and song, eight emotions, audio-only and audio-visual recordings.

Layout: file names ``MM-VV-EE-II-SS-RR-AA.ext`` in ``Actor_XX`` folders, directly under ``root``
(``<root>/Actor_01/03-01-05-01-01-01-01.wav``) or one level down as the official zips unpack
(``<root>/Video_Speech_Actor_01/Actor_01/01-01-05-01-01-01-01.mp4``). Fields: modality (01 audio-video,
02 video-only, 03 audio-only), vocal channel (01 speech, 02 song), emotion (01..08), intensity (01
normal, 02 strong), statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the door"),
repetition, actor (odd = male). Audio may be WAV (the 48 kHz originals, some stereo) or FLAC; it is
returned as 16 kHz mono. When the same recording appears twice (a FLAC copy and the WAV original),
the shallower path wins.

Labels: ``label_space="native"`` gives the eight RAVDESS classes; ``"default"`` maps onto the seven
default classes with *calm merged into neutral* (``calm="drop"`` leaves calm out instead).

Splits (no official one exists; actor-independent, gender-balanced):
``TEST_ACTORS`` 19-24 (3 male, 3 female; includes 23 and 24, kept out of training for the demo clip),
``DEV_ACTORS`` 17-18, the other 16 actors train. ``fold``/``num_folds`` instead give k-fold
cross-validation by actor pairs (see ``actor_folds``).
"""

from __future__ import annotations

import re
from pathlib import Path

from mmempathy.data.base import EmotionDataset, LabelMap, check_split, require_dir
from mmempathy.errors import InputError
from mmempathy.sample import Sample

SPLITS = ("train", "dev", "test")
TEST_ACTORS = (19, 20, 21, 22, 23, 24)
DEV_ACTORS = (17, 18)
NATIVE_LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
TO_DEFAULT = {
    "neutral": "neutral",
    "calm": "neutral",
    "happy": "joy",
    "sad": "sadness",
    "angry": "anger",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}
STATEMENTS = {1: "Kids are talking by the door.", 2: "Dogs are sitting by the door."}
NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
AUDIO_EXTS = (".wav", ".flac")
VIDEO_EXTS = (".mp4",)


def parse_name(stem: str) -> dict[str, int]:
    """The seven numeric fields of a RAVDESS file name."""
    match = NAME.match(stem)
    if match is None:
        raise InputError(f"not a RAVDESS file name: {stem!r}")
    keys = ("modality", "channel", "emotion", "intensity", "statement", "repetition", "actor")
    fields = dict(zip(keys, (int(g) for g in match.groups())))
    if not 1 <= fields["emotion"] <= 8 or fields["modality"] not in (1, 2, 3):
        raise InputError(f"not a RAVDESS file name: {stem!r}")
    return fields


def label_map(label_space: str = "default", calm: str = "merge") -> LabelMap:
    """RAVDESS's eight classes, kept (``"native"``) or mapped onto the default seven."""
    if label_space == "native":
        return LabelMap.identity(NATIVE_LABELS)
    if label_space != "default" or calm not in ("merge", "drop"):
        raise InputError(f"bad RAVDESS labels: label_space={label_space!r}, calm={calm!r}")
    return LabelMap.build(NATIVE_LABELS, {**TO_DEFAULT, "calm": "neutral" if calm == "merge" else None})


def actor_folds(num_folds: int = 4) -> list[tuple[list[int], list[int]]]:
    """Actor-independent folds over actor pairs (1-2, 3-4, ...), so each fold is gender-balanced.

    Pair ``p`` (actors ``2p+1, 2p+2``) is tested in fold ``p % num_folds``; 12 pairs, so ``num_folds``
    must divide evenly for equal folds (2, 3, 4, 6 or 12).
    """
    pairs = list(range(12))
    if not 2 <= num_folds <= 12:
        raise ValueError(f"num_folds must be in [2, 12], got {num_folds}")
    folds = []
    for k in range(num_folds):
        test = sorted(a for p in pairs if p % num_folds == k for a in (2 * p + 1, 2 * p + 2))
        folds.append(([a for a in range(1, 25) if a not in test], test))
    return folds


class RAVDESS(EmotionDataset):
    """RAVDESS recordings of one split.

    Args:
        root: Folder holding ``Actor_XX`` folders (directly or one level down).
        split: ``"train"``, ``"dev"`` or ``"test"`` (fixed actors), or with ``fold``: ``"train"``/``"test"``.
        media: ``"audio"`` (WAV/FLAC) or ``"video"`` (audio-visual ``.mp4``, modality 01, path in
            ``meta["video"]``).
        channel: ``"speech"``, ``"song"`` or ``"both"``.
        label_space: ``"default"`` (seven classes) or ``"native"`` (eight).
        calm: With the default space, ``"merge"`` calm into neutral or ``"drop"`` it.
        fold: Use fold ``fold`` of ``actor_folds(num_folds)`` instead of the fixed split.
        num_folds: Number of actor folds.
        with_text: Put the spoken statement in ``Sample.text`` (two neutral sentences; off by default).
        decode_clips: Decode video clips into audio and faces in ``__getitem__``.

    Example:
        >>> ds = RAVDESS("/data/ravdess", "test")  # doctest: +SKIP
        >>> len(ds), ds[0].sample_rate  # doctest: +SKIP
        (360, 16000)
    """

    name = "ravdess"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        media: str = "audio",
        channel: str = "speech",
        label_space: str = "default",
        calm: str = "merge",
        fold: int | None = None,
        num_folds: int = 4,
        with_text: bool = False,
        decode_clips: bool = False,
    ) -> None:
        root = require_dir(root, "RAVDESS")
        check_split(split, ("train", "test") if fold is not None else SPLITS)
        if media not in ("audio", "video") or channel not in ("speech", "song", "both"):
            raise InputError("RAVDESS media must be 'audio'/'video', channel 'speech'/'song'/'both'")
        actors = _split_actors(split, fold, num_folds)
        labels = label_map(label_space, calm)
        channels = {"speech": (1,), "song": (2,), "both": (1, 2)}[channel]
        items = []
        for path in find_files(root, AUDIO_EXTS if media == "audio" else VIDEO_EXTS):
            fields = parse_name(path.stem)
            if media == "video" and fields["modality"] != 1:
                continue  # video-only copies (02) carry no sound
            if fields["actor"] not in actors or fields["channel"] not in channels:
                continue
            label = labels.index(NATIVE_LABELS[fields["emotion"] - 1])
            if label is None:
                continue
            meta = {
                "id": path.stem,
                "speaker": fields["actor"],
                "gender": "male" if fields["actor"] % 2 else "female",
                "emotion": NATIVE_LABELS[fields["emotion"] - 1],
                "intensity": "strong" if fields["intensity"] == 2 else "normal",
                "split": split,
                "audio_path": str(path) if media == "audio" else None,
                "video": str(path) if media == "video" else None,
            }
            text = STATEMENTS[fields["statement"]] if with_text else None
            items.append(Sample(text=text, label=label, meta=meta))
        super().__init__(items, labels=labels.target, split=split, decode_clips=decode_clips)


def find_files(root: Path, exts: tuple[str, ...]) -> list[Path]:
    """RAVDESS files in ``Actor_XX`` folders at depth 1 or 2, one per recording, sorted by name."""
    found: dict[str, Path] = {}
    for pattern in ("Actor_*/*", "*/Actor_*/*"):
        for path in sorted(root.glob(pattern)):
            if path.suffix.lower() in exts and NAME.match(path.stem) and path.stem not in found:
                found[path.stem] = path
    return [found[stem] for stem in sorted(found)]


def _split_actors(split: str, fold: int | None, num_folds: int) -> set[int]:
    if fold is not None:
        train, test = actor_folds(num_folds)[fold]
        return set(train if split == "train" else test)
    fixed = {"test": set(TEST_ACTORS), "dev": set(DEV_ACTORS)}
    return fixed.get(split, set(range(1, 25)) - set(TEST_ACTORS) - set(DEV_ACTORS))
