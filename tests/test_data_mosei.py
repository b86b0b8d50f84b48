"""CMU-MOSEI: the real labels CSV (standard folds) and the segment media layout on a synthetic copy."""

from __future__ import annotations

import pytest
from data_fixtures import make_mosei, shared

from mmempathy.data import MOSEI


@pytest.mark.shared_data
def test_real_folds_and_targets():
    root = shared("cmu-mosei")
    sizes = {s: len(MOSEI(root, s)) for s in ("train", "dev", "test")}
    assert sizes == {"train": 16327, "dev": 1871, "test": 4662}
    emotion = MOSEI(root, "test", target="emotion")
    counts = emotion.label_counts()
    assert counts["neutral"] == 0 and counts["joy"] == 2931 and sum(counts.values()) == 4662
    seven = MOSEI(root, "test", target="sentiment7")
    assert seven.labels == ("-3", "-2", "-1", "0", "1", "2", "3") and set(seven.targets()) <= set(range(7))


def test_segment_media_layout(tmp_path):
    root = make_mosei(tmp_path / "CMU-MOSEI")
    train = MOSEI(root, "train", target="sentiment3")
    assert [s.meta["id"] for s in train.items] == ["--qXJuDtHPw_0", "-3g5yACwYnA_0"]
    assert train.targets().tolist() == [2, 0]
    first, second = train[0], train[1]
    assert first.sample_rate == 16_000 and first.audio.shape == (4000,) and first.text is None
    assert second.meta["video"].endswith("Combined/-3g5yACwYnA_0.mp4") and second.text == "I did not like it at all"
    assert len(MOSEI(root, "train", require_media=True)) == 2 and len(MOSEI(root, "test", require_media=True)) == 0
    emotion = MOSEI(root, "dev", target="emotion")
    assert [emotion.labels[i] for i in emotion.targets()] == ["fear"]  # label6 = 5 is fear
