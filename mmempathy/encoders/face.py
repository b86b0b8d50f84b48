"""Face encoders: one token per face crop (frame).

* ``kind="timm"``: a ViT (or any timm backbone) through timm; its pooled output is the token.
* ``kind="lite"``: a small CNN defined here, made for 48x48 grayscale crops (FER2013's format).

Only frames whose mask is set are encoded: padded or face-less frames cost nothing.
Letters: ``b`` batch, ``f`` frames, ``c`` channels, ``h``/``w`` pixels, ``d`` features.
"""

from __future__ import annotations

from pathlib import Path

import torch
from einops import rearrange
from torch import nn

from mmempathy.config import FaceEncoderConfig
from mmempathy.encoders.base import apply_freezing
from mmempathy.errors import CheckpointError


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


class TimmFaceEncoder(FrameEncoder):
    """A timm backbone's pooled features per face crop.

    ``config.name`` is a timm model name; pretrained weights come from timm's hub, or from a local
    ``.safetensors`` file given as ``config.arch["weights_file"]``.
    """

    def __init__(self, config: FaceEncoderConfig, *, pretrained: bool) -> None:
        super().__init__()
        import timm

        arch = dict(config.arch)
        weights_file = arch.pop("weights_file", None)
        overlay = {"file": weights_file} if weights_file else None
        try:
            self.backbone = timm.create_model(
                config.name,
                pretrained=pretrained,
                num_classes=0,
                img_size=config.image_size,
                in_chans=config.channels,
                pretrained_cfg_overlay=overlay,
                **arch,
            )
        except (OSError, RuntimeError) as err:
            where = weights_file if weights_file and Path(weights_file).exists() else "timm's hub"
            raise CheckpointError(f"could not load face encoder {config.name!r} from {where}: {err}") from err
        self.output_dim: int = self.backbone.num_features
        if config.gradient_checkpointing:
            self.backbone.set_grad_checkpointing(True)
        apply_freezing(self, self.layers, config)

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer blocks, bottom to top."""
        return nn.ModuleList(self.backbone.blocks)


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
