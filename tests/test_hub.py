"""Presets, the offline MiniLM, and configs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mmempathy import ModelConfig, list_models
from mmempathy.hub import load_preset


def test_presets_are_listed_and_valid():
    assert list_models() == ["base", "lite", "tiny"]
    for name in list_models():
        config = ModelConfig.from_dict(load_preset(name)["config"])
        assert config.labels == ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
        assert len(config.modalities) == 3


def test_config_round_trip_and_unknown_keys():
    config = ModelConfig.from_dict(load_preset("lite")["config"])
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown FusionConfig field"):
        ModelConfig.from_dict({"fusion": {"dimm": 3}})
    with pytest.raises(ValueError, match="at least one encoder"):
        ModelConfig(text=None, audio=None, face=None)


def test_minilm_loads_offline_and_is_pretrained():
    """The packaged MiniLM loads with HF_HUB_OFFLINE=1, quietly, and gives meaningful sentence embeddings."""
    code = r"""
import torch
from mmempathy.config import TextEncoderConfig
from mmempathy.encoders.text import TextEncoder, resolve_text_source
from transformers import AutoTokenizer
enc = TextEncoder(TextEncoderConfig(name="all-MiniLM-L6-v2"), pretrained=True).eval()
tok = AutoTokenizer.from_pretrained(resolve_text_source("all-MiniLM-L6-v2"))
batch = tok(["I am so happy today", "I feel joyful and glad", "The train leaves at noon"], padding=True,
            return_tensors="pt")
with torch.no_grad():
    states, mask = enc(batch["input_ids"], batch["attention_mask"])
emb = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
emb = torch.nn.functional.normalize(emb, dim=-1)
print(enc.output_dim, float(emb[0] @ emb[1]), float(emb[0] @ emb[2]))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Loading weights" not in out.stderr  # reading local weights shows no bar (downloads still do)
    dim, similar, unrelated = out.stdout.split()[-3:]
    assert int(dim) == 384
    assert float(similar) > float(unrelated) + 0.2


def test_import_is_light_and_media_types_load_on_use():
    code = "import sys, mmempathy; assert 'av' not in sys.modules; print(mmempathy.Timeline.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "Timeline"


# --- one resolver for every caller (from_pretrained, train, bench) -------------------------------------------


def test_resolver_gives_lite_its_shipped_weights_unless_asked_for_the_architecture(tmp_path, monkeypatch):
    from mmempathy.errors import CheckpointError
    from mmempathy.hub import packaged_weights, resolve_model

    lite = resolve_model("lite")
    assert lite.weights_dir == packaged_weights(load_preset("lite")) and lite.weights_dir is not None
    assert "trained weights" in lite.origin and lite.config["labels"]  # the checkpoint's own config
    arch = resolve_model("lite", weights=False)
    assert arch.weights_dir is None and arch.config == load_preset("lite")["config"]
    assert arch.origin == "preset 'lite' (architecture only; pretrained encoders)"
    assert resolve_model("tiny").weights_dir is None and not resolve_model("tiny").pretrained_encoders
    local = resolve_model(lite.weights_dir)  # a directory is a checkpoint, whatever its name
    assert local.weights_dir == lite.weights_dir and local.origin.startswith("checkpoint directory")
    with pytest.raises(CheckpointError, match="lacks config.json"):
        resolve_model(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="neither a local directory, nor a preset"):
        resolve_model("nobody/no-such-model")
