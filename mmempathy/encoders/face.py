"""Face encoders: one token per face crop (frame).

* ``kind="timm"``: any timm backbone (ViT, ResNet, ConvNeXt, ...); its pooled pre-logits features are the token.
* ``kind="lite"``: a small CNN defined here, made for 48x48 grayscale crops (FER2013's format).

Only frames whose mask is set are encoded: padded or face-less frames cost nothing.
Letters: ``b`` batch, ``f`` frames, ``c`` channels, ``h``/``w`` pixels, ``d`` features.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from einops import rearrange
from torch import nn

from mmempathy.config import FaceEncoderConfig
from mmempathy.encoders.base import apply_freezing
from mmempathy.errors import CheckpointError, ConfigError


class FrameEncoder(nn.Module):
    """Runs ``self.backbone`` on the valid frames of ``[b, f, c, h, w]`` and scatters the tokens back."""

    backbone: nn.Module
    output_dim: int

    def forward(self, pixels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = rearrange(pixels, "b f c h w -> (b f) c h w")
        flat_mask = rearrange(mask, "b f -> (b f)")
        pooled = self.backbone(frames[flat_mask])
        tokens = pooled.new_zeros(frames.shape[0], pooled.shape[-1])
        tokens[flat_mask] = pooled
        return rearrange(tokens, "(b f) d -> b f d", b=pixels.shape[0]), mask


def timm_layer_names(backbone: nn.Module) -> list[str]:
    """Names of a timm model's layers, bottom to top: ``blocks.i`` of a ViT, ``stages.i`` of a ConvNeXt,
    ``layers.i`` of a Swin, ``layer1..4`` of a ResNet.

    timm's coarse ``group_matcher`` (what its layer-wise learning-rate decay groups by) names them for every
    architecture; its first ``blocks`` pattern is the one that numbers the layers.
    """
    blocks = backbone.group_matcher(coarse=True).get("blocks")
    if not blocks:
        return []
    pattern = re.compile(blocks if isinstance(blocks, str) else blocks[0][0])
    found = [(m, name) for name, _ in backbone.named_modules() if (m := pattern.fullmatch(name))]
    return [name for m, name in sorted(found, key=lambda pair: int(pair[0].group(1)))]


class TimmFaceEncoder(FrameEncoder):
    """A timm backbone's pooled features per face crop.

    ``config.name`` is a timm model name; pretrained weights come from timm's hub, or from a local
    ``.safetensors`` file given as ``config.arch["weights_file"]``. ``image_size`` reaches the model only
    where its input size is fixed (ViTs, Swin: their position tables depend on it); CNNs take any size.

    Example:
        >>> from mmempathy.config import FaceEncoderConfig
        >>> cfg = FaceEncoderConfig(kind="timm", name="resnet18", image_size=32)
        >>> enc = TimmFaceEncoder(cfg, pretrained=False)
        >>> enc(torch.randn(2, 3, 3, 32, 32), torch.ones(2, 3, dtype=torch.bool))[0].shape
        torch.Size([2, 3, 512])
    """

    def __init__(self, config: FaceEncoderConfig, *, pretrained: bool) -> None:
        super().__init__()
        import timm

        arch = dict(config.arch)
        weights_file = arch.pop("weights_file", None)
        overlay = {"file": weights_file} if weights_file else None
        model_cfg = timm.get_pretrained_cfg(config.name)  # None for names timm does not list (hf-hub:...)
        size = {"img_size": config.image_size} if model_cfg is None or model_cfg.fixed_input_size else {}
        try:
            self.backbone = timm.create_model(
                config.name,
                pretrained=pretrained,
                num_classes=0,  # no classifier: the model returns forward_head(..., pre_logits=True)
                in_chans=config.channels,
                pretrained_cfg_overlay=overlay,
                **{**size, **arch},
            )
        except (OSError, RuntimeError) as err:
            where = weights_file if weights_file and Path(weights_file).exists() else "timm's hub"
            raise CheckpointError(f"could not load face encoder {config.name!r} from {where}: {err}") from err
        # the width of the pooled output; it differs from num_features where a head adds a layer (MobileNetV3)
        self.output_dim: int = getattr(self.backbone, "head_hidden_size", self.backbone.num_features)
        self.layer_names = timm_layer_names(self.backbone)
        if config.freeze and config.unfreeze_top > 0 and not self.layer_names:
            raise ConfigError(
                f"face encoder {config.name!r}: timm names no layers of it, so unfreeze_top cannot pick its top "
                f"{config.unfreeze_top}; freeze it whole (unfreeze_top 0) or not at all"
            )
        if config.gradient_checkpointing:
            self.backbone.set_grad_checkpointing(True)
        apply_freezing(self, self.layers, config)

    @property
    def layers(self) -> nn.ModuleList:
        """The backbone's blocks or stages, bottom to top (see :func:`timm_layer_names`)."""
        return nn.ModuleList(self.backbone.get_submodule(name) for name in self.layer_names)


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 convolutions with batch norm, then 2x2 max pooling."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class LiteFaceEncoder(FrameEncoder):
    """A VGG-style CNN: four blocks of width ``dim/8 .. dim``, then global average pooling.

    Example:
        >>> from mmempathy.config import FaceEncoderConfig
        >>> cfg = FaceEncoderConfig(kind="lite", image_size=48, channels=1, mean=(0.5,), std=(0.5,), dim=64)
        >>> enc = LiteFaceEncoder(cfg, pretrained=False)
        >>> enc(torch.randn(2, 3, 1, 48, 48), torch.ones(2, 3, dtype=torch.bool))[0].shape
        torch.Size([2, 3, 64])
    """

    def __init__(self, config: FaceEncoderConfig, *, pretrained: bool = False) -> None:
        super().__init__()
        widths = [config.channels] + [config.dim // 8, config.dim // 4, config.dim // 2, config.dim]
        blocks = [conv_block(a, b) for a, b in zip(widths[:-1], widths[1:])]
        # the blocks are registered once, inside the backbone: a second registration (a ModuleList of the
        # same blocks) would make every weight appear twice in the state dict, which safetensors refuses
        self.backbone = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2))
        self.output_dim = config.dim
        apply_freezing(self, self.layers, config)

    @property
    def layers(self) -> nn.ModuleList:
        """The convolutional blocks, bottom to top."""
        return nn.ModuleList(list(self.backbone)[:4])

    def train(self, mode: bool = True) -> LiteFaceEncoder:
        """Also lays the convolutions' weights out channels-last when reading (``mode=False``): oneDNN's
        CPU convolutions then keep activations channels-last too and take half the time (same outputs, to
        float rounding); training keeps the default layout, in which optimiser state and checkpoints are kept.
        """
        super().train(mode)
        self.backbone.to(memory_format=torch.contiguous_format if mode else torch.channels_last)
        return self
