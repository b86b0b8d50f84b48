"""FER2013: the real image folders (sizes, prefixes, pixels) and the challenge CSV layout."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import make_fer_csv, shared

from mmempathy.data import FER2013
from mmempathy.data.fer2013 import list_images, load_arrays


@pytest.mark.shared_data
def test_real_split_sizes_and_distribution():
    root = shared("fer2013")
    sizes = {s: len(list_images(root, s)) for s in ("train", "test", "public_test", "private_test")}
    assert sizes == {"train": 28709, "test": 7178, "public_test": 3589, "private_test": 3589}
    test = FER2013(root, "test")
    assert test.label_counts() == {
        "anger": 958,
        "disgust": 111,
        "fear": 1024,
        "joy": 1774,
        "neutral": 1233,
        "sadness": 1247,
        "surprise": 831,
    }
    item = test[0]
    assert item.faces.shape == (1, 48, 48) and item.faces.dtype == np.uint8 and item.faces.std() > 5
    assert item.meta["id"].startswith(("PublicTest_", "PrivateTest_")) and test.labels[item.label] == "anger"


def test_csv_layout_and_its_class_order(tmp_path):
    root = make_fer_csv(tmp_path / "fer")
    train = FER2013(root, "train")
    # CSV ids 0..6 are Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral
    assert [train.labels[i] for i in train.targets()] == [
        "anger",
        "disgust",
        "fear",
        "joy",
        "sadness",
        "surprise",
        "neutral",
    ]
    assert train[0].faces.shape == (1, 48, 48)
    images, labels = load_arrays(root, "test")
    assert images.shape == (2, 48, 48) and images.dtype == np.uint8 and labels.tolist() == [5, 4]
    images, labels = load_arrays(root, "private_test")
    assert labels.tolist() == [4]
