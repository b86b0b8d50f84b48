"""Cross-modal fusion: masks are honoured, any subset works, weights are a distribution over present ones."""

from __future__ import annotations

import torch

from mmempathy.config import FusionConfig
from mmempathy.fusion import CrossAttention, CrossModalFusion
from mmempathy.modality import Modality

DIMS = {Modality.TEXT: 12, Modality.AUDIO: 8, Modality.FACE: 10}


def encoded(batch=2, lengths=(5, 7, 3)):
    torch.manual_seed(0)
    return {m: (torch.randn(batch, t, DIMS[m]), torch.ones(batch, t, dtype=torch.bool)) for m, t in zip(DIMS, lengths)}


def fusion():
    torch.manual_seed(0)
    return CrossModalFusion(DIMS, FusionConfig(dim=16, depth=2, heads=2, dim_head=8, dropout=0.0)).eval()


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
        fused, unimodal, weights, present = f({m: full[m] for m in keep})
        assert fused.shape == (2, 16) and torch.isfinite(fused).all()
        assert set(unimodal) == set(keep)
        idx = [i for i, m in enumerate(DIMS) if m not in keep]
        assert (weights[:, idx] == 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(2))


def test_item_without_a_modality_gets_zero_weight():
    f, enc = fusion(), encoded()
    enc[Modality.FACE][1][1] = False  # second item has no face
    _, _, weights, present = f(enc)
    assert present[1].tolist() == [True, True, False] and weights[1, 2] == 0 and weights[0, 2] > 0


def test_a_lone_modality_attends_to_the_null_token():
    attn = CrossAttention(8, heads=2, dim_head=4)
    x = torch.randn(2, 3, 8)
    out = attn(x, x[:, :0], torch.zeros(2, 0, dtype=torch.bool))
    assert out.shape == x.shape and torch.isfinite(out).all()
    fully_masked = attn(x, torch.randn(2, 4, 8), torch.zeros(2, 4, dtype=torch.bool))
    torch.testing.assert_close(out, fully_masked)


def test_fusion_mixes_modalities():
    """The fused vector of one modality changes when another modality's content changes."""
    f, enc = fusion(), encoded()
    a = f(enc)[0]
    enc[Modality.TEXT] = (torch.randn_like(enc[Modality.TEXT][0]), enc[Modality.TEXT][1])
    b = f(enc)[0]
    assert not torch.allclose(a, b)


def test_concat_baseline():
    torch.manual_seed(0)
    f = CrossModalFusion(DIMS, FusionConfig(mode="concat", dim=16, dropout=0.0)).eval()
    enc = encoded()
    enc[Modality.FACE][1][1] = False
    fused, _, weights, present = f(enc)
    assert fused.shape == (2, 16) and len(f.blocks) == 0
    torch.testing.assert_close(weights[1], torch.tensor([0.5, 0.5, 0.0]))
