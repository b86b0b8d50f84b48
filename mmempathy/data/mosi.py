"""CMU-MOSI as processed features: transcripts plus 73-d audio, 100-d video and 100-d text features.

Layout (declare-lab's contextual-utterance release)::

    <root>/transcripts.csv                      utterance id, transcript, video number, label (0/1)
    <root>/text_{train,test}.csv                row index into transcripts.csv, then 100 text features
    <root>/{text,audio,video}/<m>_{train,test}0.csv   features, then the 0/1 label (one row per utterance)

Row ``i`` of every modality file is the utterance at ``transcripts.csv`` row ``text_<split>.csv[i, 0]``;
the loader checks that the labels of all files agree row by row, and raises ``InputError`` if not.

Splits are speaker-independent: train 1,447 utterances of 62 videos, test 752 of 31 videos. For model
selection a dev split is carved from train *by video*: ``dev_videos`` whole videos picked with a
seeded shuffle of the train video numbers (default 6 of 62, seed 0). ``dev_videos=0`` gives the
official train split whole. Never tune on test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmempathy.data.base import EmotionDataset, check_split, require_dir
from mmempathy.errors import InputError
from mmempathy.sample import Sample

SPLITS = ("train", "dev", "test")
LABELS = ("negative", "positive")
# our feature names -> the folder/file stem of the release
FEATURE_FILES = {"audio": "audio", "face": "video", "text": "text"}


def read_mosi_split(root: str | Path, split: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Rows of ``transcripts.csv`` for an official split (``"train"``/``"test"``) and aligned features.

    Returns the transcript rows (columns ``id, text, video, label``) in the order of the feature
    files, and ``{"audio": [N, 73], "face": [N, 100], "text": [N, 100]}`` float32.
    """
    root = Path(root)
    transcripts = pd.read_csv(root / "transcripts.csv", header=None, names=["id", "text", "video", "label"])
    index = pd.read_csv(root / f"text_{split}.csv", header=None)
    rows = transcripts.iloc[index[0].astype(int).to_numpy()].reset_index(drop=True)
    features = {}
    for name, stem in FEATURE_FILES.items():
        table = pd.read_csv(root / stem / f"{stem}_{split}0.csv", header=None).to_numpy(np.float64)
        if len(table) != len(rows):
            raise InputError(f"MOSI {stem}_{split}0.csv has {len(table)} rows, expected {len(rows)}")
        mismatched = np.flatnonzero(table[:, -1].astype(int) != rows["label"].to_numpy())
        if len(mismatched):
            raise InputError(f"MOSI {stem}_{split}0.csv rows {mismatched[:5].tolist()} disagree with transcripts")
        features[name] = table[:, :-1].astype(np.float32)
    # text_<split>.csv repeats the text features: equal rows prove its index column is aligned too.
    if not np.allclose(index.iloc[:, 1 : 1 + features["text"].shape[1]].to_numpy(), features["text"], atol=1e-5):
        raise InputError(f"MOSI text_{split}.csv is not row-aligned with text/text_{split}0.csv")
    return rows, features


def dev_video_numbers(train_videos: np.ndarray, dev_videos: int, seed: int) -> set[int]:
    """The train video numbers held out as dev: a seeded shuffle of the distinct numbers, first ``dev_videos``."""
    distinct = np.unique(train_videos)
    return set(np.random.default_rng(seed).permutation(distinct)[:dev_videos].tolist())


class MOSI(EmotionDataset):
    """CMU-MOSI utterances: transcript text, pre-extracted features, binary sentiment label.

    Args:
        root: The ``cmu-mosi`` folder.
        split: ``"train"``, ``"dev"`` (carved from train by video) or ``"test"``.
        features: Which feature sets to attach: any of ``"audio"`` (73-d openSMILE), ``"face"``
            (100-d 3D-CNN video), ``"text"`` (100-d text-CNN; off by default because the transcript goes
            through the text encoder).
        text: Attach the transcript as ``Sample.text``.
        lowercase: Transcripts are all upper case; lower-case them for cased text encoders.
        dev_videos: Train videos held out as dev (0: no dev split, train is the official 1,447).
        seed: Seed of the dev video draw.

    Example:
        >>> ds = MOSI("/data/cmu-mosi", "test")  # doctest: +SKIP
        >>> s = ds[0]; s.text, s.features["audio"].shape, ds.labels[s.label]  # doctest: +SKIP
        ('anyhow it was really good', (73,), 'positive')
    """

    name = "mosi"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        features: tuple[str, ...] = ("audio", "face"),
        text: bool = True,
        lowercase: bool = True,
        dev_videos: int = 6,
        seed: int = 0,
    ) -> None:
        root = require_dir(root, "CMU-MOSI")
        check_split(split, SPLITS)
        unknown = set(features) - set(FEATURE_FILES)
        if unknown:
            raise InputError(f"unknown MOSI features {sorted(unknown)}; choose from {list(FEATURE_FILES)}")
        if split == "dev" and dev_videos <= 0:
            raise InputError("MOSI has no dev split with dev_videos=0")
        rows, feats = read_mosi_split(root, "test" if split == "test" else "train")
        keep = np.ones(len(rows), dtype=bool)
        if split != "test" and dev_videos > 0:
            dev = dev_video_numbers(rows["video"].to_numpy(), dev_videos, seed)
            keep = rows["video"].isin(dev).to_numpy() == (split == "dev")
        items = []
        for i in np.flatnonzero(keep):
            row = rows.iloc[i]
            transcript = str(row["text"]).lower() if lowercase else str(row["text"])
            items.append(
                Sample(
                    text=transcript if text else None,
                    features={name: feats[name][i] for name in features},
                    label=int(row["label"]),
                    meta={
                        "id": row["id"],
                        "video_id": row["id"].rsplit("_", 1)[0],
                        "video_number": int(row["video"]),
                        "split": split,
                    },
                )
            )
        super().__init__(items, labels=LABELS, split=split)
