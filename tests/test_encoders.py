"""Each encoder honours the contract: (tokens [B, T, D], mask [B, T]) and output_dim."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmempathy.config import EncoderConfig, FaceEncoderConfig, SpeechEncoderConfig, TextEncoderConfig
from mmempathy.encoders import build_encoder
from mmempathy.encoders.speech import mel_filterbank
from mmempathy.hub import load_preset
from mmempathy.modality import Modality


def tiny_config(modality: Modality, **changes):
    cfg = load_preset("tiny")["config"][modality.value]
    kind = {Modality.TEXT: TextEncoderConfig, Modality.AUDIO: SpeechEncoderConfig, Modality.FACE: FaceEncoderConfig}
    return kind[modality](**{**cfg, **changes})


def test_text_encoder_shapes():
    enc = build_encoder(Modality.TEXT, tiny_config(Modality.TEXT), pretrained=False)
    ids = torch.randint(0, 1000, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 5:] = 0
    tokens, out_mask = enc(ids, mask)
    assert tokens.shape == (2, 9, enc.output_dim) == (2, 9, 32)
    assert out_mask.dtype == torch.bool and out_mask.sum().item() == 14


def test_hf_speech_mask_follows_lengths():
    enc = build_encoder(Modality.AUDIO, tiny_config(Modality.AUDIO), pretrained=False).eval()
    wave = torch.randn(2, 16000)
    mask = torch.ones(2, 16000, dtype=torch.bool)
    mask[1, 8000:] = False
    tokens, out_mask = enc(wave, mask)
    assert tokens.shape[-1] == 32
    full, half = out_mask.sum(-1).tolist()
    assert full == tokens.shape[1] and abs(half - full / 2) <= 1


def test_lite_speech_token_rate_and_mask():
    enc = build_encoder(Modality.AUDIO, SpeechEncoderConfig(kind="lite", dim=32, depth=1), pretrained=False)
    mask = torch.ones(2, 32000, dtype=torch.bool)
    mask[1, 16000:] = False
    tokens, out_mask = enc(torch.randn(2, 32000), mask)
    assert tokens.shape == (2, 51, 32)  # 40 ms per token
    assert out_mask.sum(-1).tolist() == [51, 26]


def test_lite_speech_features_of_a_padded_item_equal_its_own():
    from mmempathy.encoders.speech import LogMel

    logmel = LogMel(16000, 40)
    wave = torch.randn(2, 16000)
    mask = torch.ones(2, 16000, dtype=torch.bool)
    mask[1, 9000:] = False
    wave[1, 9000:] = 0.0
    batch, batch_mask = logmel(wave, mask)
    alone, alone_mask = logmel(wave[1:, :9000], mask[1:, :9000])
    n = int(alone_mask.sum())
    assert int(batch_mask[1].sum()) == n
    torch.testing.assert_close(batch[1, :, :n], alone[0, :, :n], atol=1e-4, rtol=1e-4)


def test_mel_filterbank_is_triangular_and_covers_the_band():
    fb = mel_filterbank(16000, 400, 40)
    assert fb.shape == (40, 201) and (fb >= 0).all()
    assert (fb.argmax(-1).diff() > 0).all()  # centres rise with the band index
    assert (fb.sum(0)[2:-2] > 0).all()  # every inner frequency bin is covered


@pytest.mark.parametrize("kind", ["timm", "lite"])
def test_face_encoder_skips_invalid_frames(kind):
    if kind == "timm":
        cfg = tiny_config(Modality.FACE)
    else:
        cfg = FaceEncoderConfig(kind="lite", dim=32, image_size=48, channels=1, mean=(0.5,), std=(0.5,))
    enc = build_encoder(Modality.FACE, cfg, pretrained=False).eval()
    pixels = torch.randn(2, 3, cfg.channels, cfg.image_size, cfg.image_size)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    tokens, out_mask = enc(pixels, mask)
    assert tokens.shape == (2, 3, enc.output_dim)
    assert torch.equal(out_mask, mask)
    assert (tokens[~mask] == 0).all() and (tokens[mask].abs().sum(-1) > 0).all()


def test_features_encoder():
    enc = build_encoder(Modality.AUDIO, EncoderConfig(kind="features", input_dim=73, dim=16), pretrained=False)
    tokens, mask = enc(torch.randn(3, 1, 73), torch.ones(3, 1, dtype=torch.bool))
    assert tokens.shape == (3, 1, 16) and enc.output_dim == 16


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        build_encoder(Modality.TEXT, TextEncoderConfig(kind="lite"), pretrained=False)


@pytest.mark.parametrize("modality", list(Modality))
def test_freeze_with_top_layers_unfrozen(modality):
    enc = build_encoder(modality, tiny_config(modality, freeze=True, unfreeze_top=1), pretrained=False)
    trainable = {id(p) for p in enc.parameters() if p.requires_grad}
    assert trainable and trainable == {id(p) for p in enc.layers[-1].parameters()}
    frozen_all = build_encoder(modality, tiny_config(modality, freeze=True), pretrained=False)
    assert not any(p.requires_grad for p in frozen_all.parameters())


def test_gradient_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    plain = build_encoder(Modality.TEXT, tiny_config(Modality.TEXT), pretrained=False).train()
    ckpt = build_encoder(Modality.TEXT, tiny_config(Modality.TEXT, gradient_checkpointing=True), pretrained=False)
    ckpt.load_state_dict(plain.state_dict())
    ckpt.train()
    ids, mask = torch.randint(0, 1000, (2, 6)), torch.ones(2, 6, dtype=torch.long)
    for enc in (plain, ckpt):
        torch.manual_seed(1)
        enc(ids, mask)[0].sum().backward()
    assert any(getattr(m, "gradient_checkpointing", False) for m in ckpt.modules())
    g1 = plain.model.embeddings.word_embeddings.weight.grad
    g2 = ckpt.model.embeddings.word_embeddings.weight.grad
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "convnext_atto", "vit_tiny_patch16_224"])
def test_any_timm_backbone_is_a_face_encoder(name):
    """CNNs (any input size) and ViTs (their size fixed by the config) build, run and unfreeze their top layer."""
    cfg = FaceEncoderConfig(kind="timm", name=name, image_size=32, freeze=True, unfreeze_top=1)
    enc = build_encoder(Modality.FACE, cfg, pretrained=False).eval()
    tokens, _ = enc(torch.randn(1, 2, 3, 32, 32), torch.ones(1, 2, dtype=torch.bool))
    assert tokens.shape == (1, 2, enc.output_dim) and len(enc.layers) >= 4
    trainable = {id(p) for p in enc.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in enc.layers[-1].parameters()}


def test_frozen_batch_norm_keeps_its_statistics_in_train_mode():
    cfg = FaceEncoderConfig(kind="timm", name="resnet18", image_size=32, freeze=True, unfreeze_top=1)
    enc = build_encoder(Modality.FACE, cfg, pretrained=False).train()
    frozen, top = enc.backbone.bn1, enc.layers[-1][0].bn1
    before = frozen.running_mean.clone(), top.running_mean.clone()
    enc(torch.randn(2, 2, 3, 32, 32) * 3 + 1, torch.ones(2, 2, dtype=torch.bool))
    assert torch.equal(frozen.running_mean, before[0])  # frozen part: statistics as loaded
    assert not torch.equal(top.running_mean, before[1])  # the unfrozen top layer still learns its own
