"""Named presets (data in ``presets/*.json``) and resolving a name to a checkpoint directory.

Order of resolution in :meth:`EmotionFuser.from_pretrained`: an existing local directory, then a
preset name, then a Hugging Face hub repository (which honours ``HF_HUB_OFFLINE``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from mmempathy.errors import CheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_DIR = "tokenizer"


def list_models() -> list[str]:
    """Names of the presets :meth:`EmotionFuser.from_pretrained` accepts.

    Example:
        >>> list_models()
        ['base', 'lite', 'tiny']
    """
    return sorted(
        p.name.removesuffix(".json") for p in resources.files("mmempathy.presets").iterdir() if p.name.endswith(".json")
    )


def load_preset(name: str) -> dict[str, Any]:
    """The preset's JSON: ``description``, ``config`` (a ModelConfig dict), optional ``weights``."""
    return json.loads(resources.files("mmempathy.presets").joinpath(f"{name}.json").read_text())


def packaged_weights(preset: dict[str, Any]) -> Path | None:
    """The directory of a preset's trained weights shipped inside the package, if it is there."""
    if not preset.get("weights"):
        return None
    path = Path(str(resources.files("mmempathy"))) / preset["weights"]
    return path if (path / WEIGHTS_NAME).is_file() else None


def download(repo_id: str) -> Path:
    """A hub repository's snapshot (from the local cache when ``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, f"{TOKENIZER_DIR}/*"]))
    except Exception as err:  # the hub client raises many types: connection, auth, not found, offline
        raise CheckpointError(
            f"{repo_id!r} is neither a local directory, nor a preset ({', '.join(list_models())}), nor a "
            f"reachable hub repository: {type(err).__name__}: {err}"
        ) from err


def check_checkpoint_dir(path: Path) -> None:
    """Raise :class:`CheckpointError` naming what a checkpoint directory lacks."""
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (path / n).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint directory {str(path)!r} lacks {', '.join(missing)}")
