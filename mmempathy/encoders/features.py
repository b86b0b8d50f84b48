"""Pre-extracted features as a modality (e.g. CMU-MOSI's openSMILE and 3D-CNN vectors)."""

from __future__ import annotations

import torch
from torch import nn

from mmempathy.config import EncoderConfig
from mmempathy.encoders.base import apply_freezing


class FeatureEncoder(nn.Module):
    """A two-layer MLP applied to each feature vector: ``[b, t, input_dim] -> [b, t, dim]``."""

    def __init__(self, config: EncoderConfig, *, pretrained: bool = False) -> None:
        super().__init__()
        if config.input_dim <= 0:
            raise ValueError("an encoder of kind 'features' needs input_dim > 0")
        self.norm = nn.LayerNorm(config.input_dim)
        self.mlp = nn.Sequential(
            nn.Linear(config.input_dim, config.dim),
            nn.GELU(),
            nn.Dropout(0.1),
            nn.Linear(config.dim, config.dim),
        )
        self.output_dim = config.dim
        apply_freezing(self, self.layers, config)

    @property
    def layers(self) -> nn.ModuleList:
        """No layers to unfreeze selectively."""
        return nn.ModuleList()

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mlp(self.norm(features)), mask
