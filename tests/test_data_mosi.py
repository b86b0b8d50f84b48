"""CMU-MOSI features: split sizes, row alignment across modality files, dev carved by video."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from data_fixtures import shared

from mmempathy.data import MOSI
from mmempathy.data.mosi import read_mosi_split
from mmempathy.errors import InputError

pytestmark = pytest.mark.shared_data


def test_official_split_sizes_and_labels():
    root = shared("cmu-mosi")
    train, test = MOSI(root, "train", dev_videos=0), MOSI(root, "test")
    assert (len(train), len(test)) == (1447, 752)
    assert train.label_counts() == {"negative": 738, "positive": 709}
    assert test.label_counts() == {"negative": 285, "positive": 467}
    assert len({s.meta["video_id"] for s in train.items}) == 62 and len({s.meta["video_id"] for s in test.items}) == 31
    assert not {s.meta["video_id"] for s in train.items} & {s.meta["video_id"] for s in test.items}


def test_rows_align_with_transcripts():
    root = shared("cmu-mosi")
    rows, feats = read_mosi_split(root, "test")
    assert {k: v.shape for k, v in feats.items()} == {"audio": (752, 73), "face": (752, 100), "text": (752, 100)}
    transcripts = pd.read_csv(root / "transcripts.csv", header=None)
    assert rows.iloc[0]["id"] == "03bSnISJMiM_1" and rows.iloc[0]["text"] == "ANYHOW IT WAS REALLY GOOD"
    for name in ("audio", "video"):
        labels = pd.read_csv(root / name / f"{name}_test0.csv", header=None).iloc[:, -1].astype(int)
        assert (labels.to_numpy() == rows["label"].to_numpy()).all()
    assert set(rows["id"]) <= set(transcripts[0])
    item = MOSI(root, "test", features=("audio", "face", "text"))[0]
    assert item.text == "anyhow it was really good" and item.label == 1
    np.testing.assert_allclose(item.features["text"], feats["text"][0])


def test_dev_is_carved_from_train_by_video():
    root = shared("cmu-mosi")
    train, dev = MOSI(root, "train"), MOSI(root, "dev")
    assert len(train) + len(dev) == 1447
    dev_videos = {s.meta["video_id"] for s in dev.items}
    assert len(dev_videos) == 6 and not dev_videos & {s.meta["video_id"] for s in train.items}
    assert [s.meta["id"] for s in MOSI(root, "dev").items] == [s.meta["id"] for s in dev.items]  # seeded
    assert {s.meta["id"] for s in MOSI(root, "dev", seed=1).items} != {s.meta["id"] for s in dev.items}
    with pytest.raises(InputError):
        MOSI(root, "dev", dev_videos=0)


def test_misaligned_rows_are_refused(tmp_path):
    copy = tmp_path / "cmu-mosi"
    shutil.copytree(shared("cmu-mosi"), copy, ignore=shutil.ignore_patterns("*.arff", "*train*"))
    audio = pd.read_csv(copy / "audio" / "audio_test0.csv", header=None)
    audio.sample(frac=1.0, random_state=0).to_csv(copy / "audio" / "audio_test0.csv", header=False, index=False)
    with pytest.raises(InputError, match="disagree with transcripts"):
        MOSI(copy, "test")
