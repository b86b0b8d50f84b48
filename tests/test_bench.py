"""Benchmark runner: every recipe's smoke run on a tiny slice (tiny random model), outputs, seeds, CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from data_fixtures import make_cremad, make_iemocap, make_meld, shared, write_wav

from mmempathy.bench import BenchConfig, get_recipe, list_recipes, run_benchmark
from mmempathy.bench.splits import stratified_holdout
from mmempathy.errors import InputError

METRICS = ("accuracy", "ua", "f1_weighted", "f1_macro")


def smoke(recipe: str, data_dir, tmp_path, **kw) -> dict:
    cfg = BenchConfig(
        recipe, data_dir=str(data_dir), model="tiny", epochs=1, n_boot=20, out=str(tmp_path / "out"), progress=False
    )
    cfg = BenchConfig(**{**cfg.__dict__, **kw})
    return run_benchmark(cfg)


def check_outputs(summary: dict, seeds: int = 1) -> dict:
    """The files exist and hold what they should; returns results.json."""
    folder = summary["folder"]
    data = json.loads(open(f"{folder}/results.json").read())
    assert set(METRICS) <= set(data["aggregate"]) and data["metric"] in data["aggregate"]
    assert all(0.0 <= data["aggregate"][m]["mean"] <= 1.0 for m in METRICS)
    assert all(s["n"] == seeds for s in data["aggregate"].values()) and len(data["runs"]) == seeds
    n_classes = len(data["labels"])
    for run in data["runs"]:
        confusion = np.asarray(run["confusion"])
        assert confusion.shape == (n_classes, n_classes) and confusion.sum() == data["sizes"]["test"]
        ci = run["ci"][data["metric"]]
        assert ci["low"] <= ci["value"] <= ci["high"]
        if data["task"] == "classification":  # each head beside the fused one, before and after calibration on dev
            assert set(run["heads"]) == {"uncalibrated", "calibrated", "dev"} and "fused" in run["heads"]["calibrated"]
            assert run["heads"]["dev"]["fused"]["n"] == data["sizes"]["dev"]
            assert 0.0 <= run["test"]["ece"] <= 1.0 and run["calibration"]["temperature"]["fused"] > 0
    table = open(f"{folder}/results.md").read()
    assert "(ours," in table and all(p["method"] in table for p in data["published"])
    with open(f"{folder}/confusion.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    config = json.loads(open(f"{folder}/config.json").read())
    assert config["train"]["metric"] == data["metric"] and config["model"]["labels"] == data["labels"]
    return data


def make_ravdess(root):
    """Two speech clips for each of six actors that span the train, dev and test actors."""
    for actor in (1, 2, 17, 18, 19, 20):
        for emotion in (3, 5):
            write_wav(root / f"Actor_{actor:02d}" / f"03-01-{emotion:02d}-01-01-01-{actor:02d}.flac", seconds=0.3)
    return root


def make_fer_folders(root):
    """The image-folder layout: two train crops per class, test crops with the official name prefixes."""
    import cv2

    rng = np.random.default_rng(0)
    classes = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    names = [("train", c, f"Training_{i}{j}.jpg") for i, c in enumerate(classes) for j in range(2)]
    names += [("test", "happy", "PublicTest_1.jpg"), ("test", "sad", "PrivateTest_2.jpg")]
    for split, cls, name in names:
        (root / split / cls).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / split / cls / name), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    return root


def make_goemotions(root):
    labels = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
    (root / "ekman").mkdir(parents=True)
    (root / "ekman" / "labels.txt").write_text("\n".join(labels) + "\n")
    rows = ["I am so happy today\t3\ta1", "this is awful\t0\ta2", "what?!\t6\ta3", "ok\t4\ta4", "two\t3,5\ta5"]
    for split in ("train", "dev", "test"):
        (root / "ekman" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


def make_mosei(root):
    rows = [",file,index,start,end,label2a,label2b,label6,label7,split"]
    for i, (video, label, split) in enumerate([("vidA", 1, 0), ("vidB", 0, 0), ("vidC", 1, 1), ("vidD", 0, 2)]):
        rows.append(f"{i},{video},0,1.0,2.0,{label},{2 * label - 1},0,{label},{split}")
        write_wav(root / "Segmented_Audio" / ("train", "dev", "test")[split] / f"{video}_0.wav")
        transcript = root / "Transcript" / "Segmented" / "Combined" / f"{video}.txt"
        transcript.parent.mkdir(parents=True, exist_ok=True)
        transcript.write_text(f"{video}___0___1.0___2.0___{'I loved it' if label else 'I hated it'}\n")
    (root / "CMU_MOSEI_Labels.csv").write_text("\n".join(rows) + "\n")
    return root


SYNTHETIC = {
    "meld": lambda root: make_meld(root, clips=False),
    "cremad": make_cremad,
    "iemocap": lambda root: make_iemocap(root, sessions=(1, 2, 5)),
    "fer2013": make_fer_folders,
    "ravdess": make_ravdess,
    "goemotions": make_goemotions,
    "mosei": make_mosei,
}


# the lite face and speech encoders are small enough for smoke runs, and are what these recipes train
LITE = {"fer2013", "ravdess"}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_recipe_smoke_run_on_synthetic_layout(name, tmp_path):
    summary = smoke(name, SYNTHETIC[name](tmp_path / name), tmp_path, model="lite" if name in LITE else "tiny")
    data = check_outputs(summary)
    recipe = get_recipe(name)
    assert data["modalities"] == "+".join(recipe.modalities)
    assert data["sizes"]["test"] > 0 and data["sizes"]["dev"] > 0


@pytest.mark.shared_data
def test_mosi_real_slice_two_seeds_and_subsets(tmp_path):
    root = shared("cmu-mosi")
    full = check_outputs(smoke("mosi", root, tmp_path, limit=24, seeds=2), seeds=2)
    assert full["aggregate"]["accuracy"]["std"] >= 0 and full["sizes"] == {"train": 24, "dev": 24, "test": 24}
    runs = [r["test"]["accuracy"] for r in full["runs"]]
    assert full["aggregate"]["accuracy"]["mean"] == pytest.approx(np.mean(runs))
    sub = smoke("mosi", root, tmp_path, limit=24, modalities=("audio", "text"), fusion="concat")
    check_outputs(sub)
    config = json.loads(open(f"{sub['folder']}/config.json").read())
    assert config["model"]["face"] is None and config["model"]["fusion"]["mode"] == "concat"
    assert config["model"]["text"]["kind"] == "features" and config["model"]["audio"]["input_dim"] == 73
    assert sub["folder"].endswith("tiny-text+audio-concat-limit24")
    stats = config["feature_stats"]
    assert set(stats) == {"audio"} and len(stats["audio"]["mean"]) == 73 and min(stats["audio"]["std"]) > 0
    with pytest.raises(InputError, match="another configuration"):  # same folder, other training options
        smoke("mosi", root, tmp_path, limit=24, modalities=("audio", "text"), fusion="concat", train={"lr_fusion": 1})


def test_standardize_features_uses_train_statistics_only():
    from mmempathy.bench.splits import standardize_features
    from mmempathy.data import EmotionDataset
    from mmempathy.sample import Sample

    def ds(values):
        items = [Sample(features={"audio": np.array([v, 10 * v], np.float32)}, label=0) for v in values]
        return EmotionDataset(items, labels=("a", "b"), split="x")

    splits = {"train": ds([1.0, 3.0]), "dev": ds([2.0]), "test": ds([5.0])}
    stats = standardize_features(splits, ("audio",))
    assert stats["audio"]["mean"] == [2.0, 20.0]
    train = np.stack([s.features["audio"] for s in splits["train"].items])
    assert np.allclose(train.mean(0), 0) and np.allclose(train.std(0), 1)
    assert np.allclose(splits["test"].items[0].features["audio"], [3.0, 3.0])


def test_stratified_holdout_is_seeded_disjoint_and_per_class():
    targets = np.array([0] * 50 + [1] * 30 + [2] * 1)
    held = stratified_holdout(targets, 0.1)
    assert held == stratified_holdout(targets, 0.1)
    assert np.bincount(targets[held], minlength=3).tolist() == [5, 3, 0]


def test_recipes_are_complete_and_bad_choices_are_input_errors():
    assert list_recipes() == ["cremad", "fer2013", "goemotions", "iemocap", "meld", "mosei", "mosi", "ravdess"]
    for name in list_recipes():
        recipe = get_recipe(name)
        assert recipe.metric in METRICS and recipe.modalities
        assert set(recipe.features) <= set(recipe.modalities)
    with pytest.raises(InputError, match="unknown benchmark"):
        get_recipe("nope")
    with pytest.raises(InputError, match="modalities"):
        get_recipe("meld").with_modalities(("audio",))
    with pytest.raises(InputError, match="seeds"):
        BenchConfig("meld", seeds=0)


def test_cli_fills_the_config_and_reports_user_errors(tmp_path, capsys):
    from mmempathy.cli import bench

    parser = argparse.ArgumentParser(prog="mmempathy")
    bench.register(parser.add_subparsers())
    root = make_meld(tmp_path / "meld", clips=False)
    args = parser.parse_args(
        ["bench", "meld", "--data-dir", str(root), "--model", "tiny", "--epochs", "1", "--n-boot", "10"]
        + ["--out", str(tmp_path / "o"), "--quiet", "--set", "lr_fusion=0.002"]
    )
    assert args.func(args) == 0
    assert "| result | metric |" in capsys.readouterr().out
    config = json.loads((tmp_path / "o" / "meld" / "tiny-text-late" / "config.json").read_text())
    assert config["train"]["lr_fusion"] == 0.002 and config["train"]["epochs"] == 1
    bad = parser.parse_args(["bench", "meld", "--data-dir", str(root), "--set", "no_such_field=1"])
    with pytest.raises(InputError, match="no_such_field"):
        bad.func(bad)


def test_model_from_a_checkpoint_directory_starts_from_its_encoders(tmp_path):
    import torch
    from safetensors.torch import load_file

    root = make_meld(tmp_path / "meld", clips=False)
    first = smoke("meld", root, tmp_path, text_layers=1)  # the tiny text encoder, trained end to end
    checkpoint = f"{first['folder']}/seed0/best"
    second = smoke(
        "meld",
        root,
        tmp_path / "again",
        model=checkpoint,
        text_layers=1,
        train={"lr_encoder": 0.0, "weight_decay": 0.0},
    )
    assert second["variant"] == "best-text-late-text-ft1"
    # the top layer was trained in the first run (so it differs from any fresh initialisation); with the
    # encoder's learning rate at zero it must come out of the second run exactly as the checkpoint had it
    before = load_file(f"{checkpoint}/model.safetensors")
    after = load_file(f"{second['folder']}/seed0/best/model.safetensors")
    top = [k for k in before if k.startswith("encoders.text.") and ".layer.1." in k]
    assert top and all(torch.equal(before[k], after[k]) for k in top)


def test_video_faces_augments_the_training_crops_and_needs_a_face_recipe(tmp_path, monkeypatch):
    from mmempathy.train import augment

    calls = []

    def counting(face, rng):
        calls.append(face.shape)
        return face

    monkeypatch.setattr(augment, "video_face", counting)
    root = make_fer_folders(tmp_path / "fer")
    summary = smoke("fer2013", root, tmp_path, model="lite", video_faces=True)
    assert summary["folder"].endswith("lite-face-late-video-faces")
    assert calls, "no training crop went through video_face"
    calls.clear()
    smoke("fer2013", root, tmp_path, model="lite")  # without the flag, crops stay FER-style
    assert not calls
    with pytest.raises(InputError, match="video-faces"):
        smoke("meld", make_meld(tmp_path / "meld", clips=False), tmp_path, video_faces=True)
