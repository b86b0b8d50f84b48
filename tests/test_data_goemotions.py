"""GoEmotions: split sizes, multi-label rule, and the Ekman grouping checked against the Ekman files."""

from __future__ import annotations

import pytest
from data_fixtures import shared

from mmempathy.data import GoEmotions
from mmempathy.data.goemotions import EKMAN_GROUPS, read_labels, read_tsv

pytestmark = pytest.mark.shared_data


def test_split_sizes_and_single_label_rule():
    root = shared("goemotions")
    sizes = {s: len(GoEmotions(root, s, multi="first")) for s in ("train", "dev", "test")}
    assert sizes == {"train": 43410, "dev": 5426, "test": 5427}
    dev = GoEmotions(root, "dev")
    assert len(dev) == 4946 and all(len(s.meta["label_ids"]) == 1 for s in dev.items)
    assert dev.labels == ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
    hot = GoEmotions(root, "dev", multi="first").multi_hot()
    assert hot.shape == (5426, 7) and (hot.sum(1) >= 1).all() and (hot.sum(1) > 1).sum() == 5426 - 4946


def test_original_grouping_reproduces_the_ekman_files():
    root = shared("goemotions")
    assert sorted(m for g in EKMAN_GROUPS.values() for m in g) == sorted(read_labels(root / "original"))
    ours = GoEmotions(root, "dev", variant="original", multi="first")
    ekman_labels = read_labels(root / "ekman")
    theirs = {c: {ekman_labels[i] for i in ids} for _, ids, c in read_tsv(root / "ekman" / "dev.tsv")}
    mine = {s.meta["id"]: {ours.labels[i] for i in s.meta["label_ids"]} for s in ours.items}
    assert mine == theirs


def test_native_28_labels():
    native = GoEmotions(shared("goemotions"), "dev", variant="original", label_space="native")
    assert len(native.labels) == 28 and native.labels[-1] == "neutral" and len(native) == 4548
