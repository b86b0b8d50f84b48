"""MELD: the real CSVs (counts, labels, repaired text) and the clip layout on a synthetic copy."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import make_meld, shared

from mmempathy.data import MELD, get_dataset
from mmempathy.data.meld import fix_text


def test_fix_text_repairs_both_kinds_of_damage():
    assert fix_text("You must\x92ve had\x85") == "You must’ve had…"
    assert fix_text("Paulâ€™s CafÃ©") == "Paul’s Café"
    assert fix_text("Nestlé Toll House? Olé!") == "Nestlé Toll House? Olé!"  # genuine accents stay
    assert fix_text("\x93Hi\x94 \x97 bye ") == "“Hi” — bye"


@pytest.mark.shared_data
def test_real_split_sizes_and_label_distribution():
    root = shared("meld")
    sizes = {s: len(MELD(root, s)) for s in ("train", "dev", "test")}
    assert sizes == {"train": 9989, "dev": 1109, "test": 2610}
    test = MELD(root, "test")
    assert test.label_counts() == {
        "anger": 345,
        "disgust": 68,
        "fear": 50,
        "joy": 402,
        "neutral": 1256,
        "sadness": 208,
        "surprise": 281,
    }
    sentiment = get_dataset("meld", root, "dev", target="sentiment")
    assert sentiment.labels == ("negative", "neutral", "positive")
    assert sentiment.label_counts() == {"negative": 406, "neutral": 470, "positive": 233}


@pytest.mark.shared_data
def test_real_text_is_clean_and_text_only():
    ds = MELD(shared("meld"), "train")
    texts = [s.text for s in ds.items]
    assert not any(ch for t in texts for ch in t if "\x80" <= ch <= "\x9f")
    assert not any("â€" in t for t in texts)
    first = ds[0]
    assert first.text.startswith("also I was the point person on my company’s")
    assert first.meta["id"] == "dia0_utt0" and first.meta["speaker"] == "Chandler"
    assert first.meta["video"] is None and first.audio is None and ds.labels[first.label] == "neutral"


def test_clip_layout_with_a_missing_clip(tmp_path):
    root = make_meld(tmp_path / "MELD")
    ds = MELD(root, "train")
    assert [s.text for s in ds.items] == [
        "You must’ve had your hands full.",
        "Oh my God… he’s lost it!",
        '"Paul’s Café"',
    ]
    videos = [s.meta["video"] for s in ds.items]
    assert videos[0].endswith("train_splits/dia0_utt0.mp4") and videos[2] is None
    assert len(MELD(root, "train", missing_clips="drop")) == 2
    assert MELD(root, "dev").clip_folder is None  # no dev clips: text-only
    assert ds[0].audio is None  # decoding is deferred


def test_clip_decoding_through_media(tmp_path):
    pytest.importorskip("mmempathy.media.decode")
    ds = MELD(make_meld(tmp_path / "MELD"), "train", decode_clips=True)
    item = ds[0]
    assert item.sample_rate == 16_000 and item.audio.dtype == np.float32
    assert 0.45 < len(item.audio) / 16_000 < 0.7  # a 0.5 s clip (AAC adds up to one frame of padding)
    assert item.text == "You must’ve had your hands full."
