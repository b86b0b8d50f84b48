"""Training inputs: clips from a CSV, feature arrays, and the ``mmempathy train`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from train_helpers import DIMS, feature_samples

from mmempathy.cli import main
from mmempathy.errors import InputError
from mmempathy.train import ClipDataset, FeatureDataset


def test_clip_csv_decodes_audio_faces_and_labels(tmp_path):
    from mmempathy.testing import draw_face, tone, write_clip

    frames = []
    for i in range(20):
        image = np.full((180, 320, 3), 90, np.uint8)
        frames.append(draw_face(image, (150 + i, 90), 40, smile=1.0))
    write_clip(tmp_path / "a.mp4", frames, fps=10, audio=tone(2.0))
    (tmp_path / "clips.csv").write_text("path,label,text\na.mp4,joy,what a day\na.mp4,1,\n")
    ds = ClipDataset.from_csv(tmp_path / "clips.csv", labels=("anger", "joy"), face_size=32, max_faces=3)
    first, second = ds[0], ds[1]
    assert (first.label, first.text, second.label, second.text) == (1, "what a day", 1, None)
    assert first.sample_rate == 16000 and abs(len(first.audio) / 16000 - 2.0) < 0.1
    assert first.faces.shape == (3, 32, 32, 3)  # 2 s sampled at 2 fps: four frames, thinned to three
    # the same inputs as inference: the video pipeline's one window over the whole clip
    from mmempathy.media.pipeline import VideoConfig, iter_samples

    (whole,) = iter_samples(
        tmp_path / "a.mp4", config=VideoConfig(window=2.0, hop=2.0, max_faces=3, vad=False, asr="off"), face_size=32
    )
    np.testing.assert_array_equal(first.faces, whole.faces)
    np.testing.assert_array_equal(first.audio, whole.audio)
    (tmp_path / "bad.csv").write_text("path,label\na.mp4,happy\n")
    with pytest.raises(InputError, match="unknown label"):
        ClipDataset.from_csv(tmp_path / "bad.csv", labels=("anger", "joy"))


def save_npz(path, samples):
    arrays = {m: np.stack([s.features[m] for s in samples]) for m in DIMS}
    np.savez(path, label=np.array([s.label for s in samples]), **arrays)


def test_feature_npz_round_trip(tmp_path):
    samples = feature_samples(5)
    save_npz(tmp_path / "f.npz", samples)
    ds = FeatureDataset.from_npz(tmp_path / "f.npz")
    assert len(ds) == 5 and ds[3].label == samples[3].label and isinstance(ds[3].label, int)
    np.testing.assert_array_equal(ds[3].features["audio"], samples[3].features["audio"])
    with pytest.raises(InputError, match="different lengths"):
        FeatureDataset({"audio": np.zeros((3, 6))}, labels=[0, 1])


def test_cli_trains_from_a_run_file_and_saves_the_resolved_config(tmp_path):
    save_npz(tmp_path / "train.npz", feature_samples(12))
    save_npz(tmp_path / "val.npz", feature_samples(6, seed=1))
    model = {m: {"kind": "features", "input_dim": d, "dim": 16} for m, d in DIMS.items()}
    model["fusion"] = {"dim": 16, "depth": 1, "heads": 2, "dim_head": 8}
    run = {
        "model": model,
        "data": {"train_features": "train.npz", "val_features": "val.npz", "labels": ["a", "b", "c"]},
        "train": {"epochs": 2, "batch_size": 4, "progress": False, "tensorboard": False},
        "output_dir": str(tmp_path / "out"),
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    assert main(["train", "--config", str(tmp_path / "run.yaml"), "--set", "train.epochs=3"]) == 0
    resolved = yaml.safe_load((tmp_path / "out" / "run.yaml").read_text())
    assert resolved["train"]["epochs"] == 3 and resolved["train"]["lr_fusion"] == 1e-3
    assert resolved["model"]["labels"] == ["a", "b", "c"] and resolved["model"]["audio"]["input_dim"] == 6
    assert (tmp_path / "out" / "best" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["epochs_run"] == 3
    run["train"]["epoch"] = 1
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(run))
    assert main(["train", "--config", str(tmp_path / "typo.yaml")]) == 2  # one readable line, no traceback


def test_training_from_lite_starts_from_its_shipped_weights(tmp_path, capsys):
    from mmempathy import EmotionFuser
    from mmempathy.cli.train import build_model

    shipped = EmotionFuser.from_pretrained("lite", device="cpu")
    same = build_model("lite", {"labels": list(shipped.config.labels)}, tmp_path)
    assert "starts from preset 'lite' (its trained weights" in capsys.readouterr().err
    for key, value in shipped.state_dict().items():
        if key in same.state_dict() and not key.startswith(("temperatures", "gate_bias")):
            torch.testing.assert_close(same.state_dict()[key], value, msg=key)
    assert same.config.calibration is None  # fitted for the shipped weights, not for what training makes

    other = build_model({"preset": "lite"}, {"labels": ["calm", "upset"]}, tmp_path)  # new labels: fresh heads
    assert other.config.labels == ("calm", "upset") and other.head[-1].out_features == 2
    assert "heads fresh for the data's labels" in capsys.readouterr().err
    face = "encoders.face.backbone.0.0.weight"
    torch.testing.assert_close(other.state_dict()[face], shipped.state_dict()[face])

    scratch = build_model({"preset": "lite", "weights": "none"}, {"labels": ["calm", "upset"]}, tmp_path)
    assert "architecture only" in capsys.readouterr().err
    assert not torch.equal(scratch.state_dict()[face], shipped.state_dict()[face])
    with pytest.raises(InputError, match="model.weights must be"):
        build_model({"preset": "lite", "weights": "yes"}, {}, tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("tag.yaml", "model: !!python/object/apply:os.system ['touch {tmp}/pwned']\n", "tag.yaml:1:8: not valid YAML"),
        ("syntax.yaml", "model: tiny\ndata: {name: mosi\n", "syntax.yaml:3:1: not valid YAML: expected ','"),
        ("date.yaml", "data: {data_dir: 2026-13-45}\n", "a value could not be read (ValueError: month"),
        ("list.yaml", "- model\n- data\n", "must hold a mapping (section: value), not a list"),
        ("keys.yaml", "1: tiny\n", "every top-level key must be a name"),
        ("bad.json", '{"model": "tiny",}', "bad.json:1:18: not valid JSON"),
        ("latin1.yaml", b"model: caf\xe9\n", "is not UTF-8 text"),
        ("data.yaml", "data: 5\n", "the data section must be a mapping (key: value), not int 5"),
        ("train.yaml", "train: fast\n", "the train section must be a mapping"),
        ("model.yaml", "model: [tiny]\n", "model must be a preset name, a checkpoint directory or a mapping"),
        ("typo.yaml", "data: {name: ravdess, val_spit: dev}\n", "unknown data key(s): val_spit"),
        ("path.yaml", "data: {train_csv: 5, labels: [a, b]}\n", "data.train_csv must be a string, not int 5"),
        ("opts.yaml", "data: {name: ravdess, options: {bogus: 1}}\n", "ravdess has no option(s) bogus; its options:"),
        ("fold.yaml", "data: {name: ravdess, options: {fold: abc}}\n", "ravdess option fold must be an integer"),
    ],
)
def test_bad_run_files_are_one_line_and_run_nothing(tmp_path, capsys, no_model, name, text, message):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.replace("{tmp}", str(tmp_path)).encode())
    assert main(["train", "--config", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("data.name.split=dev", "--set data.name.split: data.name is str 'ravdess', not a section with keys"),
        ("train.epochs=!!python/name:os.system", "--set train.epochs: the value is not valid YAML"),
        ("train.epochs=[1", "--set train.epochs: the value is not valid YAML"),
        ("=3", "--set needs KEY=VALUE with a dotted KEY"),
        ("train..epochs=3", "--set needs KEY=VALUE with a dotted KEY"),
        ("data=5", "the data section must be a mapping"),
    ],
)
def test_bad_overrides_are_one_line(tmp_path, capsys, no_model, item, message):
    (tmp_path / "run.yaml").write_text("model: tiny\ndata: {name: ravdess}\ntrain:\n")
    assert main(["train", "--config", str(tmp_path / "run.yaml"), "--set", item]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
