"""CREMA-D: the real speaker split file and vote table, media layout on a synthetic copy."""

from __future__ import annotations

import pytest
from data_fixtures import make_cremad, shared

from mmempathy.data import CremaD
from mmempathy.data.cremad import parse_name, speaker_splits
from mmempathy.errors import InputError


@pytest.mark.shared_data
def test_real_speaker_split_labels_only():
    root = shared("crema-d")
    splits = speaker_splits(root)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [56, 18, 17]
    assert not set(splits["train"]) & set(splits["test"])
    sizes = {s: len(CremaD(root, s, require_media=False)) for s in ("train", "dev", "test")}
    assert sizes == {"train": 4573, "dev": 1476, "test": 1393}
    test = CremaD(root, "test", require_media=False)
    assert test.label_counts()["surprise"] == 0 and test.label_counts()["neutral"] == 203
    assert len(CremaD(root, "test")) == 0  # the media files are not in the shared data
    voice = CremaD(root, "test", require_media=False, label_source="voice")
    assert len(voice) == 1281  # ties left out


def test_media_layout(tmp_path):
    root = make_cremad(tmp_path / "CREMA-D")
    test = CremaD(root, "test")
    assert [s.meta["id"] for s in test.items] == ["1003_DFA_ANG_XX", "1003_IEO_HAP_LO", "1003_TIE_NEU_XX"]
    item = test[1]
    assert item.sample_rate == 16_000 and item.audio.shape == (4000,) and test.labels[item.label] == "joy"
    assert item.meta["intensity"] == "LO" and item.meta["speaker"] == 1003
    both = CremaD(root, "test", media="both", with_text=True)
    assert both.items[0].meta["video"].endswith("VideoFlash/1003_DFA_ANG_XX.flv")
    assert both.items[0].text == "Don't forget a jacket." and both.items[1].meta["video"] is None
    voice = CremaD(root, "train", label_source="voice")
    assert [voice.labels[i] for i in voice.targets()] == ["anger", "neutral"]  # the tied HAP clip is dropped
    with pytest.raises(InputError):
        parse_name("1001_DFA_XYZ_XX")
