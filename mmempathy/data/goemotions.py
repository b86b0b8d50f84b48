"""GoEmotions: Reddit comments, 27 emotions + neutral (multi-label), or their Ekman groups.

Layout::

    <root>/original/{train,dev,test}.tsv, labels.txt     text<TAB>label ids "3,27"<TAB>comment id
    <root>/ekman/{train,dev,test}.tsv, labels.txt        the same comments, ids of Ekman groups

(``root`` may also be one of those two folders itself.)

Label spaces: ``"native"`` keeps the variant's own labels (28 for original, 7 for Ekman);
``"default"`` uses the seven default classes, which equal the Ekman labels; for the original variant the
28 labels are grouped with ``EKMAN_GROUPS`` (the GoEmotions authors' Ekman mapping).

Multi-label rule (``multi``): ``"drop"`` (default) keeps only comments whose labels fall in exactly
one class of the chosen space (after grouping, so "joy,amusement" counts as one class); ``"first"``
keeps every comment and uses the first listed label. All of a comment's classes are always in
``meta["label_ids"]``; ``multi_hot()`` gives them as a matrix for multi-label training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmempathy.data.base import EmotionDataset, check_split, require_dir
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.sample import Sample

SPLITS = ("train", "dev", "test")
EKMAN_GROUPS = {
    "anger": ("anger", "annoyance", "disapproval"),
    "disgust": ("disgust",),
    "fear": ("fear", "nervousness"),
    "joy": (
        "joy",
        "amusement",
        "approval",
        "excitement",
        "gratitude",
        "love",
        "optimism",
        "relief",
        "pride",
        "admiration",
        "desire",
        "caring",
    ),
    "neutral": ("neutral",),
    "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprise": ("surprise", "realization", "confusion", "curiosity"),
}
TO_EKMAN = {label: group for group, members in EKMAN_GROUPS.items() for label in members}


def read_labels(folder: Path) -> tuple[str, ...]:
    return tuple(line.strip() for line in (folder / "labels.txt").read_text().splitlines() if line.strip())


def read_tsv(path: Path) -> list[tuple[str, list[int], str]]:
    """``(text, label ids, comment id)`` rows of one GoEmotions TSV."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text, ids, comment = line.split("\t")
        rows.append((text, [int(i) for i in ids.split(",")], comment))
    return rows


class GoEmotions(EmotionDataset):
    """GoEmotions comments of one official split.

    Args:
        root: The ``goemotions`` folder, or its ``original``/``ekman`` sub-folder.
        split: ``"train"`` (43,410 comments), ``"dev"`` (5,426) or ``"test"`` (5,427), before ``multi``.
        variant: ``"ekman"`` or ``"original"`` (ignored when ``root`` is already one of them).
        label_space: ``"default"`` (seven classes) or ``"native"``.
        multi: ``"drop"`` or ``"first"``, see the module docstring.

    Example:
        >>> ds = GoEmotions("/data/goemotions", "dev", variant="original", label_space="native")  # doctest: +SKIP
        >>> len(ds.labels)  # doctest: +SKIP
        28
    """

    name = "goemotions"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        variant: str = "ekman",
        label_space: str = "default",
        multi: str = "drop",
    ) -> None:
        root = require_dir(root, "GoEmotions")
        check_split(split, SPLITS)
        folder = root if (root / "labels.txt").is_file() else root / variant
        if label_space not in ("default", "native") or multi not in ("drop", "first"):
            raise InputError(f"bad GoEmotions options: label_space={label_space!r}, multi={multi!r}")
        own = read_labels(require_dir(folder, "GoEmotions variant"))
        labels = own if label_space == "native" else DEFAULT_LABELS
        # own label name -> class name in the chosen space (the identity for Ekman or native)
        to_space = {n: n if label_space == "native" or n in DEFAULT_LABELS else TO_EKMAN[n] for n in own}
        if not set(to_space.values()) <= set(labels):
            raise InputError(f"{folder}: labels {own} do not fit the {label_space} space")
        items = []
        for text, ids, comment in read_tsv(folder / f"{split}.tsv"):
            classes = list(dict.fromkeys(labels.index(to_space[own[i]]) for i in ids))
            if multi == "drop" and len(classes) > 1:
                continue
            meta = {"id": comment, "split": split, "label_ids": classes, "source_labels": [own[i] for i in ids]}
            items.append(Sample(text=text, label=classes[0], meta=meta))
        super().__init__(items, labels=labels, split=split)

    def multi_hot(self) -> np.ndarray:
        """``[N, C]`` 0/1 matrix of every comment's classes (for multi-label training)."""
        out = np.zeros((len(self.items), len(self.labels)), dtype=np.float32)
        for row, item in enumerate(self.items):
            out[row, item.meta["label_ids"]] = 1.0
        return out
