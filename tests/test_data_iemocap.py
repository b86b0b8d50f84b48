"""IEMOCAP on a synthetic copy of the session layout: parsing, 4-class and 7-class maps, LOSO."""

from __future__ import annotations

import pytest
from data_fixtures import make_iemocap

from mmempathy.data import IEMOCAP
from mmempathy.data.iemocap import read_evaluations
from mmempathy.errors import InputError


def test_evaluation_lines_are_parsed(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP_full_release", sessions=(1,))
    rows = read_evaluations(root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt")
    assert [r["code"] for r in rows] == ["neu", "exc", "fru", "ang", "sur"]
    assert rows[0]["utt"] == "Ses01F_impro01_F000" and rows[0]["start"] == 6.2901 and rows[0]["vad"] == [2.5] * 3


def test_four_class_setup_and_leave_one_session_out(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP_full_release", sessions=(1, 2))
    test = IEMOCAP(root, "test", test_session=2)
    assert test.labels == ("anger", "joy", "neutral", "sadness")
    # neu, exc (-> joy), ang kept; fru and sur dropped
    assert [test.labels[i] for i in test.targets()] == ["neutral", "joy", "anger"]
    assert {s.meta["session"] for s in test.items} == {2}
    train = IEMOCAP(root, "train", test_session=2)
    assert {s.meta["session"] for s in train.items} == {1}
    item = train[2]
    assert item.text == "Line M001 of session 1." and item.meta["speaker"] == "Ses01M"
    assert item.sample_rate == 16_000 and item.audio.shape == (4000,)


def test_seven_class_map_and_dev_session(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP_full_release", sessions=(1, 2))
    seven = IEMOCAP(root, "dev", label_space="default", test_session=5, dev_session=1)
    assert [seven.labels[i] for i in seven.targets()] == ["neutral", "joy", "anger", "surprise"]
    with pytest.raises(InputError):
        IEMOCAP(root, "dev")
