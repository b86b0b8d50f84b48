"""What every encoder shares: loading transformers checkpoints, freezing and checkpointing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmempathy.config import EncoderConfig
from mmempathy.errors import CheckpointError


def load_hf_model(config: EncoderConfig, source: str, *, pretrained: bool) -> nn.Module:
    """A transformers ``AutoModel``: weights from ``source`` or random from ``config.arch``.

    With ``pretrained=False`` nothing is downloaded when ``config.arch`` names a ``model_type``
    (it does for presets and for every saved checkpoint, whose ``arch`` is filled in on build).
    """
    from transformers import AutoConfig, AutoModel

    try:
        if pretrained:  # the checkpoint's own config decides the architecture; model_type only helps from_config
            overrides = {k: v for k, v in config.arch.items() if k != "model_type"}
            # safetensors only, for hub names too: transformers would otherwise fall back to
            # pytorch_model.bin, and torch.load of a pickle is never what a user asked for.
            with no_loading_bar():
                return AutoModel.from_pretrained(source, use_safetensors=True, **overrides)
        arch = dict(config.arch)
        if "model_type" in arch:
            hf_config = AutoConfig.for_model(arch.pop("model_type"), **arch)
        else:
            hf_config = AutoConfig.from_pretrained(source, **arch)
        return AutoModel.from_config(hf_config)
    except OSError as err:
        where = "local directory" if Path(source).exists() else "hub name (no network, or not cached?)"
        raise CheckpointError(
            f"could not load encoder {source!r} as a {where}: {err}. Pass a local directory that holds "
            "the checkpoint, or run once with network access so that it is cached."
        ) from err


@contextmanager
def no_loading_bar() -> Iterator[None]:
    """transformers' "Loading weights" bar off while the block runs; the hub's download bars stay on.

    Reading an encoder's weights from disk takes a tenth of a second (MiniLM's 103 tensors): a bar for
    it printed on every run, ``--quiet`` or not, and told nothing. A download still shows its bar.
    """
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging

    bars_on, hub_bars_on = logging.is_progress_bar_enabled(), not hub_utils.are_progress_bars_disabled()
    logging.disable_progress_bar()  # this turns the hub's bars off too
    if hub_bars_on:
        hub_utils.enable_progress_bars()
    try:
        yield
    finally:
        if bars_on:
            logging.enable_progress_bar()  # and this turns them on
            if not hub_bars_on:
                hub_utils.disable_progress_bars()


def record_arch(config: EncoderConfig, hf_model: nn.Module) -> None:
    """Store the full architecture in the config so that a saved model rebuilds offline."""
    arch = hf_model.config.to_dict()
    for key in ("_name_or_path", "transformers_version", "architectures", "torch_dtype", "dtype"):
        arch.pop(key, None)
    config.arch = arch


def enable_checkpointing(hf_model: nn.Module) -> None:
    """Turn on activation (gradient) checkpointing under the name this transformers release uses."""
    enable = getattr(hf_model, "activation_checkpointing_enable", None) or hf_model.gradient_checkpointing_enable
    enable()


def apply_freezing(encoder: nn.Module, layers: nn.ModuleList, config: EncoderConfig) -> None:
    """Freeze the encoder if asked, leaving its top ``unfreeze_top`` layers trainable.

    Frozen batch norms freeze their running statistics too (open_clip's ``freeze_bn_stats``): they
    normalise with the statistics they were trained with, in train mode as in eval mode.
    """
    if not config.freeze:
        return
    encoder.requires_grad_(False)
    top = list(layers)[-config.unfreeze_top :] if config.unfreeze_top > 0 else []
    for layer in top:
        layer.requires_grad_(True)
    trainable = {id(module) for layer in top for module in layer.modules()}
    for module in encoder.modules():
        if isinstance(module, _BatchNorm) and id(module) not in trainable:
            module.register_forward_pre_hook(_keep_eval)


def _keep_eval(module: nn.Module, args: tuple) -> None:
    """Switch a frozen batch norm to eval mode before it runs: its running statistics stay as loaded.

    A hook rather than a ``train()`` override, because ``model.train()`` reaches the batch norms of every
    encoder (any class, timm's included) through their parents, and this must hold whichever way.
    """
    module.train(False)
