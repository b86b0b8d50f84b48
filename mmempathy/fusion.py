"""Cross-modal attention fusion with a learned modality gate, and late fusion of calibrated heads.

Each present modality's tokens are projected into a shared space and tagged with a modality
embedding. Sequences (words, speech frames) also get sinusoidal positions; a modality whose tokens
are a *set* (the face crops of a segment) is pooled to one token first, so the order and the number
of repeats of its frames do not matter. In every block, the tokens of each modality attend to the
tokens of all *other* modalities (cross-attention), then pass a feed-forward layer. Every context
starts with a learned null token, so a modality that has no partner (only one modality present, or
the others masked out) attends to it and the softmax never sees an empty key set: any subset of
modalities works without special cases.

After the blocks, each modality is pooled (masked mean) and a learned gate scores it from its
pooled vector and from how confident its own head is (top probability, normalised entropy, margin:
:func:`confidence_features`); the softmax of the scores over the *present* modalities gives the
modality weights. These gate weights are what ``EmotionResult.weights`` reports: how much each
modality counted in the fused prediction (absent modalities get exactly zero).

Three modes (``FusionConfig.mode``):

* ``"late"`` (default): the fused logits are the gate-weighted sum of each present modality's
  calibrated log-probabilities (a weighted product of experts, :func:`late_fusion`) plus a
  cross-attention correction whose scale starts at zero. With one modality the fused answer *is*
  that modality's; the correction only moves it where training showed the mixture to be wrong.
* ``"attention"``: the gate mixes the pooled vectors and the fused head reads the mixture.
* ``"concat"``: the baseline benchmarks compare against: no cross-attention and no gate; the pooled
  modality vectors (zeros where absent) are concatenated and mixed by an MLP. Its weights are
  uniform over the present modalities, since it has nothing that measures them.

Letters: ``b`` batch, ``t`` tokens, ``s`` context tokens, ``m`` modalities, ``h`` heads, ``d`` features,
``c`` classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from mmempathy.config import FUSION_MODES, FusionConfig
from mmempathy.modality import Modality


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """``[t, d]`` sine/cosine position codes (no length limit, nothing to learn)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    codes = torch.zeros(length, dim, device=device)
    codes[:, 0::2] = torch.sin(pos * freq)
    codes[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return codes


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid tokens: ``[b, t, d], [b, t] -> [b, d]`` (zeros where none is valid)."""
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


def pool_tokens(x: torch.Tensor, mask: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked mean over windows of ``stride`` tokens: ``[b, t, d], [b, t] -> [b, ceil(t / stride), d]``.

    A window keeps the mean of its valid tokens and is valid if any of them is; padding stays padding,
    so an item's pooled tokens do not depend on how long the others in its batch are."""
    if stride == 1:
        return x, mask
    pad = -x.shape[1] % stride
    x, mask = F.pad(x, (0, 0, 0, pad)), F.pad(mask, (0, pad), value=False)
    xw = rearrange(x, "b (t k) d -> b t k d", k=stride)
    mw = rearrange(mask, "b (t k) -> b t k", k=stride).to(x.dtype)[..., None]
    return (xw * mw).sum(2) / mw.sum(2).clamp(min=1), mw.squeeze(-1).any(-1)


def init_weights(module: nn.Module) -> None:
    """The initialisation of the fusion's and heads' layers, stated rather than left to PyTorch's
    defaults: linear weights Xavier-uniform (what ``torch.nn.Transformer`` uses; it keeps a layer's
    output variance near its input's at these small widths), biases zero, LayerNorm scale one and
    shift zero. The learned tokens (null keys/values, modality embeddings) start at N(0, 0.02²).
    :class:`CrossModalFusion` then zeroes its gate's scoring layers."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.LayerNorm) and layer.elementwise_affine:
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


class FeedForward(nn.Module):
    """Pre-norm MLP."""

    def __init__(self, dim: int, *, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, dim * mult),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(dim * mult, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttention(nn.Module):
    """Queries from ``x``, keys and values from ``context`` behind a learned null token."""

    def __init__(
        self,
        dim: int,
        *,
        context_dim: int | None = None,
        heads: int = 4,
        dim_head: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        context_dim = context_dim or dim
        inner = heads * dim_head
        self.heads, self.dropout = heads, dropout
        self.norm, self.context_norm = nn.LayerNorm(dim), nn.LayerNorm(context_dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(context_dim, inner * 2, bias=False)
        self.null_kv = nn.Parameter(torch.randn(2, heads, 1, dim_head) * 0.02)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        q = rearrange(self.to_q(self.norm(x)), "b t (h d) -> b h t d", h=self.heads)
        k, v = rearrange(self.to_kv(self.context_norm(context)), "b s (kv h d) -> kv b h s d", kv=2, h=self.heads)
        null_k, null_v = (repeat(n, "h 1 d -> b h 1 d", b=x.shape[0]).to(q.dtype) for n in self.null_kv)
        k, v = torch.cat((null_k, k), dim=2), torch.cat((null_v, v), dim=2)
        keep = F.pad(context_mask, (1, 0), value=True)  # the null token is always visible
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=rearrange(keep, "b s -> b 1 1 s"),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.to_out(rearrange(out, "b h t d -> b t (h d)"))


class CrossModalBlock(nn.Module):
    """One layer: per-modality cross-attention to the other modalities, then feed-forward."""

    def __init__(self, modalities: list[Modality], config: FusionConfig) -> None:
        super().__init__()
        dim = config.dim
        self.attn = nn.ModuleDict(
            {
                m.value: CrossAttention(dim, heads=config.heads, dim_head=config.dim_head, dropout=config.dropout)
                for m in modalities
            }
        )
        self.ff = nn.ModuleDict(
            {m.value: FeedForward(dim, mult=config.ff_mult, dropout=config.dropout) for m in modalities}
        )

    def forward(self, tokens: dict[Modality, torch.Tensor], masks: dict[Modality, torch.Tensor]) -> dict:
        out = {}
        for m, x in tokens.items():
            others = [o for o in tokens if o != m]
            if others:
                context = torch.cat([tokens[o] for o in others], dim=1)
                context_mask = torch.cat([masks[o] for o in others], dim=1)
            else:
                context, context_mask = x[:, :0], masks[m][:, :0]
            x = x + self.attn[m.value](x, context, context_mask)
            out[m] = x + self.ff[m.value](x)
        return out


CONFIDENCE_FEATURES = 3  # what confidence_features gives per modality


def confidence_features(log_probs: torch.Tensor) -> torch.Tensor:
    """How sure a head is: ``[b, c]`` log-probabilities -> ``[b, 3]`` (top probability, entropy
    normalised to [0, 1], margin between the two best classes)."""
    probs = log_probs.exp()
    top2 = probs.topk(min(2, probs.shape[-1]), dim=-1).values
    entropy = -(probs * log_probs).sum(-1) / math.log(probs.shape[-1])
    margin = top2[:, 0] - top2[:, -1]
    return torch.stack((top2[:, 0], entropy, margin), dim=-1)


def late_fusion(weights: torch.Tensor, log_probs: torch.Tensor, correction: torch.Tensor) -> torch.Tensor:
    """Gate-weighted sum of the modalities' log-probabilities plus a correction.

    Args:
        weights: ``[b, m]`` gate weights (zero for absent modalities, rows sum to one).
        log_probs: ``[b, m, c]`` each modality's calibrated log-probabilities (any finite values where
            the modality is absent: they get weight zero).
        correction: ``[b, c]`` the cross-attention path's logits, already scaled.

    Returns:
        The fused logits ``[b, c]``.
    """
    return torch.einsum("b m, b m c -> b c", weights, log_probs) + correction


class CrossModalFusion(nn.Module):
    """Projects encoder tokens, runs the cross-modal blocks, and gates the pooled modalities.

    Use in two steps, so that a caller can read each modality's own pooled vector (what the
    per-modality heads see) before the gate needs the heads' confidence: :meth:`embed`, then
    ``forward``.

    Example:
        >>> from mmempathy.config import FUSION_MODES, FusionConfig
        >>> fusion = CrossModalFusion({Modality.TEXT: 32, Modality.AUDIO: 16}, FusionConfig(dim=32, depth=1))
        >>> tokens, masks = fusion.embed({Modality.TEXT: (torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.bool))})
        >>> fused, weights, present = fusion(tokens, masks)
        >>> fused.shape, weights.shape
        (torch.Size([2, 32]), torch.Size([2, 2]))
    """

    def __init__(
        self, input_dims: dict[Modality, int], config: FusionConfig, *, sets: tuple[Modality, ...] = ()
    ) -> None:
        super().__init__()
        self.modalities = [m for m in Modality if m in input_dims]
        self.sets = set(sets)
        # a preset's pool may name modalities that a model built from it lacks (a face-only benchmark)
        self.pool = dict(config.pool)
        unknown = sorted(set(self.pool) - {m.value for m in Modality})
        if unknown or any(k < 1 for k in self.pool.values()):
            raise ValueError(f"fusion pool must map modality names to strides >= 1, got {self.pool}")
        dim = config.dim
        # encoders' outputs live on very different scales (a Whisper layer's residual stream reaches +-25):
        # each is normalised before it is projected into the shared space
        self.project = nn.ModuleDict(
            {m.value: nn.Sequential(nn.LayerNorm(d), nn.Linear(d, dim)) for m, d in input_dims.items()}
        )
        self.modality_embedding = nn.ParameterDict(
            {m.value: nn.Parameter(torch.randn(dim) * 0.02) for m in self.modalities}
        )
        if config.mode not in FUSION_MODES:
            raise ValueError(f"fusion mode must be one of {', '.join(FUSION_MODES)}, not {config.mode!r}")
        self.concat = config.mode == "concat"
        depth = 0 if self.concat else config.depth
        self.blocks = nn.ModuleList(CrossModalBlock(self.modalities, config) for _ in range(depth))
        self.mix = (
            nn.Sequential(
                nn.Linear(dim * len(self.modalities), dim), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(dim, dim)
            )
            if self.concat
            else None
        )
        self.gate = nn.ModuleDict(
            {m.value: nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 1)) for m in self.modalities}
        )
        # the gate also reads each head's confidence (zero-initialised: it starts from the features alone)
        self.gate_confidence = nn.ModuleDict({m.value: nn.Linear(CONFIDENCE_FEATURES, 1) for m in self.modalities})
        self.norm = nn.LayerNorm(dim)
        init_weights(self)
        # the gate starts by weighting every present modality alike (scores zero) and learns from there: a
        # Xavier-steep start let the late fusion lock onto one head within the first epoch (the face, whose
        # training crops its CNN had already learned), and it never let go
        for layer in (*(g[-1] for g in self.gate.values()), *self.gate_confidence.values()):
            nn.init.zeros_(layer.weight)

    def embed(self, encoded: dict[Modality, tuple[torch.Tensor, torch.Tensor]]) -> tuple[dict, dict]:
        """Project each given modality into the shared space: ``({m: [b, t, d]}, {m: [b, t]})``.

        A set modality comes out as one token (the masked mean of its projected frames)."""
        tokens, masks = {}, {}
        for m, (x, mask) in encoded.items():
            x = self.project[m.value](x) + self.modality_embedding[m.value]
            if m in self.sets:
                x, mask = masked_mean(x, mask)[:, None], mask.any(-1, keepdim=True)
            else:
                x, mask = pool_tokens(x, mask, self.pool.get(m.value, 1))
                x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device).to(x.dtype)
            tokens[m], masks[m] = x, mask
        return tokens, masks

    def no_weight_decay(self) -> set[str]:
        """Names of the learned tokens (attention null keys/values, modality embeddings): weight decay would
        pull them towards zero, which is not a simpler model but a different one (timm's convention)."""
        return {n for n, _ in self.named_parameters() if n.endswith("null_kv") or n.startswith("modality_embedding.")}

    def forward(
        self,
        tokens: dict[Modality, torch.Tensor],
        masks: dict[Modality, torch.Tensor],
        confidence: dict[Modality, torch.Tensor] | None = None,
        bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fuse the embedded modalities that are given (any non-empty subset).

        Args:
            tokens: From :meth:`embed`.
            masks: From :meth:`embed`.
            confidence: ``{m: [b, 3]}`` :func:`confidence_features` of each modality's own head.
            bias: ``[m]`` added to the gate's scores (a per-modality reliability fitted on dev data).

        Returns:
            The fused vector ``[b, d]``, modality weights ``[b, m]`` over all of the model's
            modalities (zero where absent) and presence ``[b, m]``.
        """
        for block in self.blocks:
            tokens = block(tokens, masks)
        some = next(iter(tokens.values()))
        pooled, present, scores = [], [], []
        for i, m in enumerate(self.modalities):
            if m in tokens:
                vec, here = masked_mean(tokens[m], masks[m]).float(), masks[m].any(-1)
                score = self.gate[m.value](vec).squeeze(-1)
                if confidence is not None and m in confidence:
                    score = score + self.gate_confidence[m.value](confidence[m].float()).squeeze(-1)
                if bias is not None:
                    score = score + bias[i]
                score = score.masked_fill(~here, float("-inf"))
            else:
                vec = some.new_zeros(some.shape[0], some.shape[-1], dtype=torch.float32)
                here = torch.zeros(some.shape[0], dtype=torch.bool, device=some.device)
                score = torch.full_like(here, float("-inf"), dtype=torch.float32)
            pooled.append(vec), present.append(here), scores.append(score)
        pooled, present, scores = torch.stack(pooled, 1), torch.stack(present, 1), torch.stack(scores, 1)
        if self.concat:
            weights = present.float() / present.sum(-1, keepdim=True).clamp(min=1)
            return self.norm(self.mix(rearrange(pooled, "b m d -> b (m d)"))), weights, present
        # an item with no modality at all is rejected before it gets here; guard the softmax anyway
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        fused = self.norm(torch.einsum("b m, b m d -> b d", weights, pooled))
        return fused, weights, present
