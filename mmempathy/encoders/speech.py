"""Speech encoders on raw 16 kHz waveforms.

* ``kind="hf"``: wav2vec2 / HuBERT / WavLM through transformers; padding masks are turned into
  masks over the model's output frames.
* ``kind="lite"``: a small network defined here: log-mel front end, strided convolutions
  (40 ms per token) and a few transformer layers. Fast on a CPU; no pretrained weights needed.

Letters: ``b`` batch, ``n`` samples, ``f`` mel bands, ``t`` frames, ``d`` features.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from mmempathy.config import SpeechEncoderConfig
from mmempathy.encoders.base import apply_freezing, enable_checkpointing, load_hf_model, record_arch


def masked_standardize(x: torch.Tensor, mask: torch.Tensor, eps: float) -> torch.Tensor:
    """Zero mean, unit variance along the last axis over the valid positions (``mask`` broadcasts to
    ``x``); padded positions come out as zeros."""
    m = mask.to(x.dtype)
    count = m.sum(-1, keepdim=True).clamp(min=1)
    mean = (x * m).sum(-1, keepdim=True) / count
    std = ((((x - mean) * m) ** 2).sum(-1, keepdim=True) / count).sqrt()
    return (x - mean) / (std + eps) * m


def normalize_waveform(waveform: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-item normalisation over the valid samples (what wav2vec2 was trained on)."""
    return masked_standardize(waveform, mask, eps=1e-4)


class HFSpeechEncoder(nn.Module):
    """Frame states of a wav2vec2-family model."""

    def __init__(self, config: SpeechEncoderConfig, *, pretrained: bool) -> None:
        super().__init__()
        self.model = load_hf_model(config, config.name, pretrained=pretrained)
        record_arch(config, self.model)
        self.output_dim: int = self.model.config.hidden_size
        # Checkpoints with group-norm feature extractors were trained on zero-padded input without an
        # attention mask; giving them one changes their outputs (transformers' own advice).
        self.pass_mask = getattr(self.model.config, "feat_extract_norm", "layer") == "layer"
        if config.gradient_checkpointing:
            enable_checkpointing(self.model)
        apply_freezing(self, self.layers, config)

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers, bottom to top."""
        return self.model.encoder.layers

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        waveform = normalize_waveform(waveform, mask)
        attention_mask = mask.long() if self.pass_mask else None
        states = self.model(waveform, attention_mask=attention_mask).last_hidden_state
        lengths = self.model._get_feat_extract_output_lengths(mask.sum(-1))
        frames = torch.arange(states.shape[1], device=states.device)
        return states, frames[None, :] < lengths[:, None]


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """``[n_mels, n_fft // 2 + 1]`` triangular filters evenly spaced on the HTK mel scale, area-normalised."""

    def to_mel(hz: torch.Tensor) -> torch.Tensor:
        return 2595.0 * torch.log10(1.0 + hz / 700.0)

    edges_mel = torch.linspace(0.0, float(to_mel(torch.tensor(sample_rate / 2.0))), n_mels + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    bins = torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0) * (2.0 / (upper - lower))


class LogMel(nn.Module):
    """Log-mel spectrogram, 25 ms windows every 10 ms, normalised per item and band over valid frames."""

    def __init__(self, sample_rate: int, n_mels: int) -> None:
        super().__init__()
        self.n_fft, self.hop = sample_rate // 40, sample_rate // 100
        self.register_buffer("fbank", mel_filterbank(sample_rate, self.n_fft, n_mels), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # zero padding at the edges, not reflection: an item padded inside a batch then gets the same frames
        # as the item alone (reflecting the batch's padding would differ from reflecting the item's own end)
        spec = torch.stft(
            waveform.float(), self.n_fft, self.hop, window=self.window, pad_mode="constant", return_complex=True
        )
        logmel = torch.log(self.fbank @ spec.abs().pow(2) + 1e-6)  # b f t
        lengths = mask.sum(-1) // self.hop + 1
        frame_mask = torch.arange(logmel.shape[-1], device=logmel.device)[None, :] < lengths[:, None]
        return masked_standardize(logmel, frame_mask[:, None, :], eps=1e-5), frame_mask


class LiteSpeechEncoder(nn.Module):
    """Log-mel -> two stride-2 convolutions -> transformer layers; one token per 40 ms.

    Example:
        >>> from mmempathy.config import SpeechEncoderConfig
        >>> enc = LiteSpeechEncoder(SpeechEncoderConfig(kind="lite", dim=64), pretrained=False)
        >>> tokens, mask = enc(torch.randn(2, 16000), torch.ones(2, 16000, dtype=torch.bool))
        >>> tokens.shape
        torch.Size([2, 26, 64])
    """

    def __init__(self, config: SpeechEncoderConfig, *, pretrained: bool = False) -> None:
        super().__init__()
        dim = config.dim
        self.output_dim = dim
        self.logmel = LogMel(config.sample_rate, config.n_mels)
        self.frontend = nn.Sequential(
            nn.Conv1d(config.n_mels, dim, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv1d(dim, dim, 3, stride=2, padding=1),
            nn.GELU(),
        )
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim,
                max(dim // 64, 1),
                dim * 4,
                dropout=0.1,
                batch_first=True,
                norm_first=True,
                activation="gelu",
            )
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(dim)
        apply_freezing(self, self.layers, config)

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers, bottom to top."""
        return self.blocks

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, frame_mask = self.logmel(waveform, mask)
        x = rearrange(self.frontend(feats), "b d t -> b t d")
        lengths = frame_mask.sum(-1)
        for _ in range(2):  # each stride-2 convolution (kernel 3, padding 1) halves the length, rounding up
            lengths = (lengths - 1) // 2 + 1
        token_mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        for block in self.blocks:
            x = block(x, src_key_padding_mask=~token_mask)
        return self.norm(x), token_mask
