"""RAVDESS: the real 16 kHz FLACs and 48 kHz WAV originals, label mapping, actor splits and folds."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from data_fixtures import shared, write_video, write_wav

from mmempathy.data import RAVDESS, read_sound_file
from mmempathy.data.ravdess import actor_folds, parse_name
from mmempathy.errors import InputError


@pytest.mark.shared_data
def test_real_fixed_split_is_actor_independent():
    root = shared("ravdess")
    splits = {s: RAVDESS(root, s) for s in ("train", "dev", "test")}
    assert sum(len(ds) for ds in splits.values()) == 1440  # originals in original_48k are not counted twice
    actors = {s: {i.meta["speaker"] for i in ds.items} for s, ds in splits.items()}
    assert actors["test"] == {19, 20, 21, 22, 23, 24} and actors["dev"] == {17, 18}
    assert actors["train"] == set(range(1, 17))
    test = splits["test"]
    assert len(test) == 360 and test.label_counts()["neutral"] == 72  # 24 neutral + 48 calm merged
    assert all(test.label_counts()[c] == 48 for c in ("anger", "joy", "surprise"))


@pytest.mark.shared_data
def test_native_labels_and_dropping_calm():
    root = shared("ravdess")
    native = RAVDESS(root, "test", label_space="native")
    assert len(native.labels) == 8 and native.label_counts()["calm"] == 48
    dropped = RAVDESS(root, "test", calm="drop")
    assert len(dropped) == 360 - 48 and dropped.label_counts()["neutral"] == 24


@pytest.mark.shared_data
def test_real_audio_matches_its_48k_original():
    root = shared("ravdess")
    item = RAVDESS(root, "train").subset([0])[0]
    assert item.meta["id"] == "03-01-01-01-01-01-01" and item.sample_rate == 16_000
    original = root / "original_48k" / "Actor_01" / "03-01-02-01-01-02-01.wav"  # a stereo original
    assert sf.info(str(original)).channels == 2
    wave, sr = read_sound_file(original)
    flac, _ = read_sound_file(root / "Actor_01" / "03-01-02-01-01-02-01.flac")
    assert sr == 16_000 and wave.ndim == 1 and abs(len(wave) - len(flac)) <= 1
    assert np.corrcoef(wave[: len(flac)], flac[: len(wave)])[0, 1] > 0.99
    assert len(RAVDESS(root / "original_48k", "train")) == 10


def test_actor_folds_cover_everyone_once_gender_balanced():
    folds = actor_folds(4)
    tests = [t for _, t in folds]
    assert sorted(a for t in tests for a in t) == list(range(1, 25))
    assert all(sum(a % 2 for a in t) == len(t) // 2 for t in tests)  # as many male (odd) as female
    assert all(not set(train) & set(test) for train, test in folds)


def test_video_layout_and_song_channel(tmp_path):
    folder = tmp_path / "Video_Speech_Actor_23" / "Actor_23"
    write_video(folder / "01-01-03-01-01-01-23.mp4")  # audio-video, happy
    write_video(folder / "02-01-03-01-01-01-23.mp4")  # video-only: skipped
    write_wav(tmp_path / "Audio_Song_Actors_01-24" / "Actor_24" / "03-02-04-02-02-01-24.wav")
    video = RAVDESS(tmp_path, "test", media="video")
    assert [i.meta["id"] for i in video.items] == ["01-01-03-01-01-01-23"]
    assert video.items[0].meta["video"].endswith(".mp4") and video.labels[video.items[0].label] == "joy"
    song = RAVDESS(tmp_path, "test", channel="song")
    assert len(song) == 1 and song[0].meta["intensity"] == "strong" and song[0].audio.shape == (4000,)
    assert len(RAVDESS(tmp_path, "test", fold=0, num_folds=12)) == 0  # fold 0 of 12 tests actors 1-2
    with pytest.raises(InputError):
        parse_name("03-01-09-01-01-01-01")
