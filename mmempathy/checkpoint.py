"""Saving and loading an :class:`~mmempathy.model.EmotionFuser` as a checkpoint directory.

A checkpoint is ``config.json`` + ``model.safetensors`` (+ ``tokenizer/``): each file written whole or not at
all, only safetensors ever loaded, and the weights an encoder loads from its own source (``external=True``)
left out. :class:`CheckpointMixin` gives the model these methods; the module and its forward stay in
:mod:`mmempathy.model`.

Example:
    >>> fuser = EmotionFuser.from_pretrained("tiny")  # doctest: +SKIP
    >>> fuser.save_pretrained("outputs/tiny-copy")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file

from mmempathy import hub
from mmempathy.config import ModelConfig
from mmempathy.errors import CheckpointError

if TYPE_CHECKING:
    from mmempathy.model import EmotionFuser


class CheckpointMixin:
    """``save_pretrained``, ``from_pretrained`` and the other checkpoint methods of :class:`EmotionFuser`
    (the class it is mixed into: ``cls(config, pretrained_encoders=..., tokenizer=...)`` builds one)."""

    def external_keys(self) -> set[str]:
        """State-dict keys of the weights that load from an encoder's source (``external=True``) and so
        stay out of checkpoints: all of that encoder but its top ``unfreeze_top`` layers. The config
        decides, not the current ``requires_grad`` flags, so a checkpoint written while everything is
        frozen (fusion-only training) still holds the fine-tuned layers."""
        keys = set()
        for m in self.modalities:
            cfg, encoder = self.config.encoder(m), self.encoders[m.value]
            if not cfg.external:
                continue
            top = list(encoder.layers)[len(encoder.layers) - cfg.unfreeze_top :] if cfg.unfreeze_top > 0 else []
            tuned = {id(p) for layer in top for p in layer.parameters()}
            # parameters an encoder adds on top of its source (e.g. Whisper's layer mix) train and are saved
            tuned |= {id(p) for p in getattr(encoder, "own_parameters", list)()}
            keys |= {f"encoders.{m.value}.{n}" for n, p in encoder.named_parameters() if id(p) not in tuned}
        return keys

    def save_pretrained(self, directory: str | Path, *, dtype: torch.dtype | None = None) -> Path:
        """Write ``config.json``, ``model.safetensors`` and ``tokenizer/`` to ``directory``.

        Args:
            directory: Created if needed.
            dtype: Store floating-point weights in this type (e.g. ``torch.float16`` to halve a
                shipped checkpoint); they are cast back to the model's type on load.
        """
        from mmempathy.io import atomic_write, atomic_write_files

        # Each file is written whole or not at all (temporary file + rename); config.json, which
        # makes a directory a checkpoint, comes last.
        directory = Path(directory)
        meta = {"format": "mmempathy", "config": self.config.to_dict()}
        skip = self.external_keys()
        state = {
            k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in self.state_dict().items()
            if k not in skip
        }
        atomic_write(directory / hub.WEIGHTS_NAME, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
        if self.processor.tokenizer is not None:
            atomic_write_files(
                directory / hub.TOKENIZER_DIR, lambda tmp: self.processor.tokenizer.save_pretrained(str(tmp))
            )
        atomic_write(directory / hub.CONFIG_NAME, lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
        return directory

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, *, device: str | torch.device | None = None, adapter: str | Path | None = None
    ) -> EmotionFuser:
        """Load a checkpoint directory, a preset (:func:`mmempathy.list_models`) or a hub repository.

        A local directory is tried first, then a preset name, then the hub (``HF_HUB_OFFLINE`` is
        honoured; :func:`mmempathy.hub.resolve_model`). Weights load from safetensors only. ``device``
        defaults to CUDA when available.
        ``adapter`` switches on a saved adapter (a name under ``<checkpoint>/adapters/`` or a directory).
        """
        resolved = hub.resolve_model(name_or_path)
        if resolved.weights_dir is not None:
            model = cls._from_directory(resolved.weights_dir)
        else:
            model = cls(resolved.config, pretrained_encoders=resolved.pretrained_encoders)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = model.to(device).eval()
        if adapter is not None:
            model.use_adapter(adapter)
        return model

    @classmethod
    def _from_directory(cls, path: Path) -> EmotionFuser:
        hub.check_checkpoint_dir(path)
        config = hub.read_config(path)
        hub.check_safetensors(path / hub.WEIGHTS_NAME)  # before building: a bad file fails fast
        tokenizer = None
        if config.text is not None and config.text.kind == "hf":
            tok_dir = path / hub.TOKENIZER_DIR
            if not tok_dir.is_dir():
                raise CheckpointError(f"checkpoint directory {str(path)!r} lacks {hub.TOKENIZER_DIR}/")
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        try:
            model = cls(config, pretrained_encoders=False, tokenizer=tokenizer)
        except CheckpointError:
            raise
        except Exception as err:  # `arch` is free-form: transformers and timm raise anything on bad values
            raise CheckpointError(f"{path / hub.CONFIG_NAME} describes a model that cannot be built: {err}") from err
        model.load_weights(path / hub.WEIGHTS_NAME)
        model.checkpoint_dir = path
        return model

    @classmethod
    def initialised_from(
        cls,
        config: ModelConfig | dict[str, Any],
        checkpoint: Path | None,
        *,
        pretrained_encoders: bool = False,
        parts: tuple[str, ...] | None = None,
    ) -> tuple[EmotionFuser, int]:
        """A model built from ``config`` that starts from a checkpoint's weights where they fit.

        The checkpoint's tensors under ``parts`` (state-dict prefixes; None: all) whose name and shape
        match are loaded; the rest (heads for other labels, modalities it lacks) keep their fresh init.
        The tokenizer comes from the checkpoint. Returns the model and how many tensors were loaded.
        """
        tokenizer = None
        config = ModelConfig.from_dict(config)
        if checkpoint is not None and config.text is not None and config.text.kind == "hf":
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(checkpoint / hub.TOKENIZER_DIR))
        model = cls(config, pretrained_encoders=pretrained_encoders, tokenizer=tokenizer)
        if checkpoint is None:
            return model, 0
        own = model.state_dict()
        state = {
            k: v
            for k, v in hub.load_safetensors(checkpoint / hub.WEIGHTS_NAME).items()
            if k in own and own[k].shape == v.shape and (parts is None or k.startswith(parts))
        }
        model.load_state_dict(state, strict=False)
        return model, len(state)

    def load_weights(self, file: str | Path) -> None:
        """Load a ``model.safetensors`` file, with errors that name mismatched or missing tensors."""
        state = hub.load_safetensors(Path(file))
        own = self.state_dict()
        wrong = [
            f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
            for k, v in state.items()
            if k in own and own[k].shape != v.shape
        ]
        missing = sorted(set(own) - set(state) - self.external_keys())
        unexpected = sorted(set(state) - set(own))
        if wrong or missing or unexpected:
            parts = [
                f"shape mismatch ({len(wrong)}): {'; '.join(wrong[:5])}" if wrong else "",
                f"missing ({len(missing)}): {', '.join(missing[:5])}" if missing else "",
                f"unexpected ({len(unexpected)}): {', '.join(unexpected[:5])}" if unexpected else "",
            ]
            raise CheckpointError(f"{file} does not match the model's config: " + " | ".join(p for p in parts if p))
        self.load_state_dict(state, strict=False)
