"""FER2013: 48x48 grayscale face crops, seven expressions.

Two layouts:

* image folders: ``<root>/{train,test}/<class>/*.jpg`` with class folders angry, disgust, fear, happy,
  neutral, sad, surprise; test file names keep the official ``PublicTest_`` / ``PrivateTest_`` prefix.
* the challenge CSV: ``<root>/fer2013.csv`` with ``emotion,pixels,Usage`` (emotion 0 Angry, 1 Disgust,
  2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral; 2,304 space-separated pixel values; Usage
  Training / PublicTest / PrivateTest). Note the CSV's class order differs from the default one.

Splits: ``"train"`` (28,709), ``"test"`` (7,178 = PublicTest + PrivateTest), and the halves
``"public_test"`` (3,589, the usual validation set) and ``"private_test"`` (3,589, the usual final test).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmempathy.data.base import EmotionDataset, LabelMap, check_split, load_gray_image, require_dir
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.sample import Sample

SPLITS = ("train", "test", "public_test", "private_test")
FOLDER_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
CSV_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # index = CSV emotion id
LABEL_MAP = LabelMap.build(
    FOLDER_CLASSES,
    {
        "angry": "anger",
        "disgust": "disgust",
        "fear": "fear",
        "happy": "joy",
        "neutral": "neutral",
        "sad": "sadness",
        "surprise": "surprise",
    },
    DEFAULT_LABELS,
)
USAGE = {
    "train": ("Training",),
    "test": ("PublicTest", "PrivateTest"),
    "public_test": ("PublicTest",),
    "private_test": ("PrivateTest",),
}
SIDE = 48


def list_images(root: str | Path, split: str) -> list[tuple[Path, int]]:
    """``(path, default-space label)`` of every image of a split in the folder layout, sorted."""
    root = Path(root)
    folder = root / ("train" if split == "train" else "test")
    prefixes = tuple(f"{u}_" for u in USAGE[split]) if split != "test" else ("",)
    found = []
    for name in FOLDER_CLASSES:
        label = LABEL_MAP.index(name)
        for path in sorted((folder / name).glob("*.jpg")):
            if split == "train" or path.name.startswith(prefixes):
                found.append((path, label))
    return found


def read_csv_split(path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 48, 48]`` uint8 and default-space labels ``[N]`` of a split of ``fer2013.csv``."""
    frame = pd.read_csv(path)
    frame = frame[frame["Usage"].isin(USAGE[split])]
    pixels = np.stack([np.asarray(p.split(), dtype=np.uint8) for p in frame["pixels"]]) if len(frame) else None
    if pixels is None or pixels.shape[1] != SIDE * SIDE:
        raise InputError(f"{path}: no {SIDE}x{SIDE} images for split {split!r}")
    labels = np.array([LABEL_MAP.index(CSV_CLASSES[e]) for e in frame["emotion"]], dtype=np.int64)
    return pixels.reshape(-1, SIDE, SIDE), labels


def load_arrays(root: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """A whole split as one array, for fast training: images ``[N, 48, 48]`` uint8, labels ``[N]`` int64.

    Reads ``fer2013.csv`` if the folder has one, else decodes the JPEG folders.

    Example:
        >>> images, labels = load_arrays("/data/fer2013", "test")  # doctest: +SKIP
        >>> images.shape, labels.shape  # doctest: +SKIP
        ((7178, 48, 48), (7178,))
    """
    root = require_dir(root, "FER2013")
    check_split(split, SPLITS)
    if (root / "fer2013.csv").is_file():
        return read_csv_split(root / "fer2013.csv", split)
    listing = list_images(root, split)
    images = np.empty((len(listing), SIDE, SIDE), dtype=np.uint8)
    for i, (path, _) in enumerate(listing):
        images[i] = load_gray_image(path)
    return images, np.array([label for _, label in listing], dtype=np.int64)


class FER2013(EmotionDataset):
    """FER2013 face crops as ``Sample``s with ``faces`` = ``[1, 48, 48]`` uint8 grayscale.

    Args:
        root: Folder with ``train/`` and ``test/`` image folders, or with ``fer2013.csv``.
        split: ``"train"``, ``"test"``, ``"public_test"`` or ``"private_test"``.

    Example:
        >>> ds = FER2013("/data/fer2013", "test")  # doctest: +SKIP
        >>> ds[0].faces.shape, ds.labels[ds[0].label]  # doctest: +SKIP
        ((1, 48, 48), 'anger')
    """

    name = "fer2013"

    def __init__(self, root: str | Path, split: str = "train") -> None:
        root = require_dir(root, "FER2013")
        check_split(split, SPLITS)
        items = []
        if (root / "fer2013.csv").is_file():
            # the CSV holds the pixels themselves: keep them in memory, there is nothing to load lazily
            images, labels = read_csv_split(root / "fer2013.csv", split)
            for i, (image, label) in enumerate(zip(images, labels)):
                items.append(Sample(faces=image[None], label=int(label), meta={"id": f"{split}_{i}", "split": split}))
        else:
            for path, label in list_images(root, split):
                items.append(Sample(label=label, meta={"id": path.stem, "split": split, "image_path": str(path)}))
        super().__init__(items, labels=DEFAULT_LABELS, split=split)
