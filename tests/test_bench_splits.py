"""The benchmark splits on the real shared data: no item is in two splits, and the recipes that claim
speaker independence (RAVDESS and CREMA-D actors, CMU-MOSI videos) have no speaker in two splits."""

from __future__ import annotations

import itertools

import pytest
from data_fixtures import shared

from mmempathy.bench.config import BenchConfig
from mmempathy.bench.recipes import get_recipe
from mmempathy.bench.splits import load_splits
from mmempathy.data import CremaD

# recipe -> (its folder under the shared data, the meta key naming an item, the one naming a speaker)
RECIPES = {
    "ravdess": ("ravdess", "id", "speaker"),
    "mosi": ("cmu-mosi", "id", "video_id"),
    "goemotions": ("goemotions", "id", None),
}  # MELD's ids (dia0_utt0) restart in every split and Friends' six leads speak in all: nothing to check


def check_disjoint(name, splits, item_key, speaker_key):
    assert all(len(ds) > 0 for ds in splits.values())
    for (a, da), (b, db) in itertools.combinations(splits.items(), 2):
        for key in filter(None, (item_key, speaker_key)):
            both = {s.meta[key] for s in da.items} & {s.meta[key] for s in db.items}
            assert not both, f"{name}: {key} values in both {a} and {b}: {sorted(both)[:5]}"


@pytest.mark.shared_data
@pytest.mark.parametrize("name", list(RECIPES))
def test_benchmark_splits_share_no_item_and_no_speaker(name):
    folder, item_key, speaker_key = RECIPES[name]
    shared(folder)
    splits = load_splits(get_recipe(name), BenchConfig(recipe=name, progress=False))
    check_disjoint(name, splits, item_key, speaker_key)


@pytest.mark.shared_data
def test_cremad_actor_split_is_speaker_independent():
    """Only CREMA-D's labels are shared (no audio): the split itself is checked, media not required."""
    root = shared("crema-d")
    splits = {split: CremaD(root, split, require_media=False) for split in ("train", "dev", "test")}
    check_disjoint("cremad", splits, "id", "speaker")
