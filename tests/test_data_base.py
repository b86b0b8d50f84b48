"""Registry, label mapping, folds and audio loading shared by every adapter."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import write_wav

from mmempathy.data import EmotionDataset, LabelMap, get_dataset, group_kfold, list_datasets, read_sound_file
from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.sample import Sample


def test_registry_lists_every_adapter():
    assert list_datasets() == ["cremad", "fer2013", "goemotions", "iemocap", "meld", "mosei", "mosi", "ravdess"]
    with pytest.raises(KeyError, match="available"):
        get_dataset("nope")


def test_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        get_dataset("meld", tmp_path / "absent")


def test_label_map_reports_drops_merges_and_gaps():
    m = LabelMap.build(["hap", "exc", "fru", "neu"], {"hap": "joy", "exc": "joy", "fru": None, "neu": "neutral"})
    assert [m.index(c) for c in ("hap", "exc", "fru", "neu")] == [3, 3, None, 4]
    assert m.dropped() == ["fru"] and m.merged() == {"joy": ["hap", "exc"]}
    assert "surprise" in m.uncovered() and "joy" not in m.uncovered()
    with pytest.raises(ValueError, match="unmapped"):
        LabelMap.build(["a", "b"], {"a": "joy"})
    with pytest.raises(ValueError, match="unknown targets"):
        LabelMap.build(["a"], {"a": "happiness"})
    with pytest.raises(InputError):
        m.index("xxx")


def test_dataset_counts_and_subset_without_loading():
    items = [Sample(text=str(i), label=i % 3) for i in range(10)]
    ds = EmotionDataset(items, labels=DEFAULT_LABELS, split="train")
    assert ds.label_counts()["anger"] == 4 and ds.label_counts()["fear"] == 3
    sub = ds.subset([0, 3])
    assert len(sub) == 2 and sub.targets().tolist() == [0, 0]
    assert ds[1] is not items[1] and ds[1].text == "1"  # stubs are never handed out (or mutated)


def test_group_kfold_is_disjoint_and_complete():
    folds = group_kfold([5, 1, 2, 2, 3, 4, 1], k=2)
    assert folds == [([2, 4], [1, 3, 5]), ([1, 3, 5], [2, 4])]
    with pytest.raises(ValueError):
        group_kfold([1, 2], k=3)


def test_load_audio_stereo_48k_to_mono_16k(tmp_path):
    wave = write_wav(tmp_path / "x.wav", seconds=0.5, sample_rate=48_000, channels=2)
    audio, sr = read_sound_file(tmp_path / "x.wav")
    assert sr == 16_000 and audio.dtype == np.float32 and audio.shape == (8000,)
    # the 220 Hz tone survives resampling: compare with the 48 kHz tone decimated by 3
    np.testing.assert_allclose(audio[200:-200], wave[::3][200:-200], atol=2e-3)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(InputError, match="cannot read audio"):
        read_sound_file(tmp_path / "bad.wav")
