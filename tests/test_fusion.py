"""Cross-modal fusion: masks are honoured, any subset works, weights are a distribution over present ones."""

from __future__ import annotations

import pytest
import torch

from mmempathy.config import FusionConfig
from mmempathy.fusion import CrossAttention, CrossModalFusion, confidence_features, late_fusion
from mmempathy.hub import load_preset
from mmempathy.modality import Modality

DIMS = {Modality.TEXT: 12, Modality.AUDIO: 8, Modality.FACE: 10}


def encoded(batch=2, lengths=(5, 7, 3)):
    torch.manual_seed(0)
    return {m: (torch.randn(batch, t, DIMS[m]), torch.ones(batch, t, dtype=torch.bool)) for m, t in zip(DIMS, lengths)}


def fusion(mode="attention", sets=(), depth=2):
    torch.manual_seed(0)
    config = FusionConfig(mode=mode, dim=16, depth=depth, heads=2, dim_head=8, dropout=0.0)
    module = CrossModalFusion(DIMS, config, sets=sets).eval()
    for gate in module.gate.values():  # scores as a trained gate has them (it starts at zero: all alike)
        torch.nn.init.normal_(gate[-1].weight, std=0.5)
    return lambda enc, **kw: module(*module.embed(enc), **kw)


def test_masked_tokens_do_not_matter():
    f, enc = fusion(), encoded()
    enc[Modality.AUDIO][1][:, 4:] = False
    before = f(enc)[0]
    enc[Modality.AUDIO][0][:, 4:] = 1e3  # garbage behind the mask
    after = f(enc)[0]
    torch.testing.assert_close(before, after)


def test_any_subset_and_absent_weights():
    f = fusion()
    full = encoded()
    for keep in ([Modality.TEXT], [Modality.AUDIO, Modality.FACE], list(DIMS)):
        fused, weights, present = f({m: full[m] for m in keep})
        assert fused.shape == (2, 16) and torch.isfinite(fused).all()
        idx = [i for i, m in enumerate(DIMS) if m not in keep]
        assert (weights[:, idx] == 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(2))


def test_item_without_a_modality_gets_zero_weight():
    f, enc = fusion(), encoded()
    enc[Modality.FACE][1][1] = False  # second item has no face
    _, weights, present = f(enc)
    assert present[1].tolist() == [True, True, False] and weights[1, 2] == 0 and weights[0, 2] > 0


def test_a_lone_modality_attends_to_the_null_token():
    attn = CrossAttention(8, heads=2, dim_head=4)
    x = torch.randn(2, 3, 8)
    out = attn(x, x[:, :0], torch.zeros(2, 0, dtype=torch.bool))
    assert out.shape == x.shape and torch.isfinite(out).all()
    fully_masked = attn(x, torch.randn(2, 4, 8), torch.zeros(2, 4, dtype=torch.bool))
    torch.testing.assert_close(out, fully_masked)


def audio_over_face(f, enc) -> torch.Tensor:
    """The gate's audio weight over its face weight: it reads only audio's and face's own pooled vectors."""
    weights = f(enc)[1]
    return weights[:, 1] / weights[:, 2]


@pytest.mark.parametrize("depth", [0, 2])
def test_cross_attention_carries_one_modality_into_another(depth):
    """New text content changes what the audio and face tokens hold only through the cross-attention
    blocks: without blocks the audio/face weight ratio stays exactly as it was."""
    f, enc = fusion(depth=depth), encoded()
    before = audio_over_face(f, enc)
    enc[Modality.TEXT] = (torch.randn_like(enc[Modality.TEXT][0]), enc[Modality.TEXT][1])
    after = audio_over_face(f, enc)
    if depth == 0:
        torch.testing.assert_close(after, before)
    else:
        assert (after - before).abs().min() > 1e-4


def test_concat_baseline():
    torch.manual_seed(0)
    f = CrossModalFusion(DIMS, FusionConfig(mode="concat", dim=16, dropout=0.0)).eval()
    enc = encoded()
    enc[Modality.FACE][1][1] = False
    fused, weights, present = f(*f.embed(enc))
    assert fused.shape == (2, 16) and len(f.blocks) == 0
    torch.testing.assert_close(weights[1], torch.tensor([0.5, 0.5, 0.0]))


def test_set_modality_ignores_order_and_repeats():
    """Frames of a set modality (faces) are pooled: shuffling or repeating them changes nothing."""
    f, enc = fusion(sets=(Modality.FACE,)), encoded()
    x, mask = enc[Modality.FACE]
    base = f(enc)[0]
    enc[Modality.FACE] = (x.flip(1), mask)
    torch.testing.assert_close(f(enc)[0], base)
    one = {**enc, Modality.FACE: (x[:, :1], mask[:, :1])}
    eight = {**enc, Modality.FACE: (x[:, :1].repeat(1, 8, 1), mask[:, :1].repeat(1, 8))}
    torch.testing.assert_close(f(one)[0], f(eight)[0])


def test_gate_reads_confidence_and_bias():
    """A gate bias moves weight towards a modality; confidence features enter the score."""
    f, enc = fusion(mode="late"), encoded()
    _, w0, _ = f(enc)
    _, w1, _ = f(enc, bias=torch.tensor([3.0, 0.0, 0.0]))
    assert (w1[:, 0] > w0[:, 0]).all()
    torch.manual_seed(1)
    module = CrossModalFusion(DIMS, FusionConfig(dim=16, depth=1, heads=2, dim_head=8, dropout=0.0)).eval()
    for layer in module.gate_confidence.values():
        torch.nn.init.normal_(layer.weight)
    tokens, masks = module.embed(enc)
    sure = {m: torch.tensor([[1.0, 0.0, 1.0]]).repeat(2, 1) for m in DIMS}
    unsure = dict(sure, **{Modality.TEXT: torch.tensor([[0.3, 1.0, 0.0]]).repeat(2, 1)})
    assert not torch.allclose(module(tokens, masks, sure)[1], module(tokens, masks, unsure)[1])


def test_confidence_features_and_late_fusion():
    lp = torch.log(torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]).clamp(min=1e-12))
    feats = confidence_features(lp)
    torch.testing.assert_close(feats[0], torch.tensor([1.0, 0.0, 1.0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats[1], torch.tensor([1 / 3, 1.0, 0.0]), atol=1e-4, rtol=0)
    # one modality with all the weight: the fused logits are its log-probabilities
    w = torch.tensor([[1.0, 0.0]])
    lps = torch.randn(1, 2, 4).log_softmax(-1)
    torch.testing.assert_close(late_fusion(w, lps, torch.zeros(1, 4)), lps[:, 0])


def test_pooled_tokens_ignore_padding():
    """Pooling a modality's tokens (fusion ``pool``) keeps masks: padding added behind an item changes nothing."""
    torch.manual_seed(0)
    module = CrossModalFusion(DIMS, FusionConfig(dim=16, depth=1, heads=2, dim_head=8, dropout=0.0, pool={"audio": 3}))
    module.eval()
    enc = encoded(batch=1, lengths=(5, 7, 3))
    padded = dict(enc)
    x, mask = enc[Modality.AUDIO]
    padded[Modality.AUDIO] = (
        torch.cat([x, torch.randn(1, 5, 8) * 100], 1),
        torch.cat([mask, torch.zeros(1, 5, dtype=torch.bool)], 1),
    )
    tokens, masks = module.embed(enc)
    assert tokens[Modality.AUDIO].shape[1] == 3 and masks[Modality.AUDIO].tolist() == [[True, True, True]]
    torch.testing.assert_close(module(*module.embed(padded))[0], module(tokens, masks)[0])
    with pytest.raises(ValueError, match="pool"):
        CrossModalFusion(DIMS, FusionConfig(dim=16, pool={"smell": 2}))


def test_fusion_and_heads_start_from_the_stated_init():
    """Xavier-uniform linear weights (within their bound, not PyTorch's default), zero biases, unit norms,
    and the gate's scores (its features' and its confidence term) at zero: every modality weighed alike."""
    import math

    from mmempathy import EmotionFuser

    model = EmotionFuser(load_preset("tiny")["config"])
    for part in (model.fusion, model.head, *model.heads.values()):
        for name, layer in part.named_modules():
            if isinstance(layer, torch.nn.Linear):
                bound = math.sqrt(6 / (layer.in_features + layer.out_features))
                if not name.startswith(("gate_confidence", "gate.")):
                    assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.5 * bound, name
                if layer.bias is not None:
                    assert not layer.bias.any(), name
            elif isinstance(layer, torch.nn.LayerNorm):
                assert (layer.weight == 1).all() and not layer.bias.any(), name
    assert all(not layer.weight.any() for layer in model.fusion.gate_confidence.values())
    assert all(not gate[-1].weight.any() for gate in model.fusion.gate.values())
