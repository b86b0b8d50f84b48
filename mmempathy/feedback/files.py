"""Where a model's feedback store and adapters live, and an adapter folder's two files: its path,
its ``adapter.json`` checked, deleting it by name."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mmempathy.errors import CheckpointError, InputError

ADAPTERS_DIR = "adapters"
ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter.json", "adapter.safetensors"


def default_directory(fuser: Any) -> Path:
    """Where a model's feedback store and adapters live: ``$MMEMPATHY_FEEDBACK_DIR``, else
    ``<checkpoint>/adapters`` for a model loaded from a directory, else (a packaged preset such as
    ``lite``, or a model built in code) a folder under ``~/.cache/mmempathy/feedback``."""
    if os.environ.get("MMEMPATHY_FEEDBACK_DIR"):
        return Path(os.environ["MMEMPATHY_FEEDBACK_DIR"])
    checkpoint = getattr(fuser, "checkpoint_dir", None)
    package = Path(__file__).resolve().parents[1]  # the installed mmempathy/, where presets live
    if checkpoint is not None and package not in Path(checkpoint).resolve().parents:
        return Path(checkpoint) / ADAPTERS_DIR
    if checkpoint is not None:  # a packaged preset: never write inside the installed package
        return Path.home() / ".cache" / "mmempathy" / "feedback" / Path(checkpoint).name
    digest = hashlib.sha256(json.dumps(fuser.config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()
    return Path.home() / ".cache" / "mmempathy" / "feedback" / digest[:16]


def adapter_path(fuser: Any, name: str, directory: str | Path | None = None) -> Path:
    """Where adapter ``name`` lives: ``directory``, else ``<default directory>/<name>``."""
    if not isinstance(name, str) or not name or any(c in name for c in "/\\") or name.startswith("."):
        raise InputError(f"adapter name must be a plain folder name, not {name!r}")
    if not name.isprintable():  # a NUL cannot be in a path; other control characters hide in listings
        raise InputError(f"adapter name cannot hold control characters: {name!r}")
    if directory is not None and "\0" in str(directory):
        raise InputError(f"an adapter directory cannot hold a NUL character: {str(directory)!r}")
    return Path(directory) if directory is not None else default_directory(fuser) / name


def read_adapter_meta(directory: str | Path) -> dict[str, Any]:
    """An adapter's ``adapter.json``, checked: ``format``, ``settings`` (a mapping), ``labels`` (names)
    and ``info`` (a mapping). Raises :class:`CheckpointError` naming the file otherwise."""
    config = Path(directory) / ADAPTER_CONFIG
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bytes that are not UTF-8
        raise CheckpointError(f"cannot read adapter file {config}: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != "mmempathy-adapter":
        raise CheckpointError(f"{config} is not an mmempathy adapter")
    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise CheckpointError(f"{config} is damaged: 'labels' must be a list of label names")
    if not isinstance(meta.get("settings"), dict) or not isinstance(meta.setdefault("info", {}), dict):
        raise CheckpointError(f"{config} is damaged: 'settings' and 'info' must be mappings")
    return meta


def check_adapter_directory(directory: str | Path) -> None:
    """Refuse to save an adapter into a folder that holds anything but an adapter's files (saving replaces
    the folder whole), or into a path that is a file."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"cannot save an adapter to {directory}: it is a file, not a folder")
    if directory.is_dir():
        others = sorted(p.name for p in directory.iterdir() if p.name not in (ADAPTER_CONFIG, ADAPTER_WEIGHTS))
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise InputError(
                f"cannot save an adapter to {directory}: it holds other files ({shown}); an adapter is saved "
                "in a folder of its own, so give a new or empty --directory"
            )


def remove_adapter_files(directory: Path, *, folder: bool) -> list[Path]:
    """Unlink the files an adapter consists of (by name, nothing else), then, with ``folder``, the folder
    itself if that left it empty; returns what was removed."""
    removed = []
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        path = directory / name
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    if folder and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        removed.append(directory)
    return removed


def delete_adapter(fuser: Any, name: str, directory: str | Path | None = None) -> list[Path]:
    """Remove adapter ``name``'s files (switching it off first if it is on); returns what was removed.

    Only what the project wrote goes: ``adapter.json`` and ``adapter.safetensors``, by name, after
    ``adapter.json`` was read and names the adapter ``name`` (or, without a name inside, the folder is
    called ``name``). Under the default directory the emptied ``adapters/<name>`` folder goes too; a
    ``directory`` given keeps the folder and anything else in it.

    Raises:
        CheckpointError: No adapter there, its ``adapter.json`` is unreadable, or it is another adapter;
            nothing was deleted.
    """
    path = adapter_path(fuser, name, directory)
    if not (path / ADAPTER_CONFIG).is_file():
        raise CheckpointError(f"no adapter {name!r} at {path}")
    try:
        meta = read_adapter_meta(path)
    except CheckpointError as err:
        raise CheckpointError(f"{err}; nothing was deleted") from err
    found = meta["info"].get("name") or Path(path).resolve().name
    if found != name:
        raise CheckpointError(f"{path} holds adapter {found!r}, not {name!r}; nothing was deleted")
    if getattr(fuser, "adapter", None) is not None and fuser.adapter.info.get("name") == name:
        fuser.use_adapter(None)
    try:
        return remove_adapter_files(Path(path), folder=directory is None)
    except OSError as err:
        raise CheckpointError(f"cannot delete adapter {name!r} at {path}: {err}") from err
