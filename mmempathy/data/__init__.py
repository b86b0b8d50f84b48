"""Dataset adapters: one file per dataset, each yielding ``Sample``s with labels, and a registry.

Example:
    >>> from mmempathy.data import get_dataset, list_datasets
    >>> "meld" in list_datasets()
    True
    >>> ds = get_dataset("meld", split="dev")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from mmempathy.data.base import (
    DATA_ENV,
    EmotionDataset,
    LabelMap,
    default_data_root,
    group_kfold,
    load_clip,
    read_sound_file,
)
from mmempathy.data.cremad import CremaD
from mmempathy.data.fer2013 import FER2013
from mmempathy.data.goemotions import GoEmotions
from mmempathy.data.iemocap import IEMOCAP
from mmempathy.data.meld import MELD
from mmempathy.data.mosei import MOSEI
from mmempathy.data.mosi import MOSI
from mmempathy.data.ravdess import RAVDESS
from mmempathy.errors import InputError

# name -> (adapter class, its folder under the data root)
_REGISTRY: dict[str, tuple[type[EmotionDataset], str]] = {
    "meld": (MELD, "meld"),
    "mosi": (MOSI, "cmu-mosi"),
    "mosei": (MOSEI, "cmu-mosei"),
    "cremad": (CremaD, "crema-d"),
    "ravdess": (RAVDESS, "ravdess"),
    "iemocap": (IEMOCAP, "iemocap"),
    "fer2013": (FER2013, "fer2013"),
    "goemotions": (GoEmotions, "goemotions"),
}


def list_datasets() -> list[str]:
    """Names accepted by ``get_dataset``, sorted."""
    return sorted(_REGISTRY)


def get_dataset(name: str, data_dir: str | Path | None = None, split: str = "train", **kwargs) -> EmotionDataset:
    """Build a dataset adapter by name.

    Args:
        name: One of ``list_datasets()``.
        data_dir: The dataset's own folder; default ``default_data_root() / <its folder>``
            (``$MMEMPATHY_DATA`` or ``<repo>/../shared/data``).
        split: Split name understood by that adapter.
        **kwargs: Adapter options (``target``, ``label_space``, ...).

    Raises:
        KeyError: ``name`` is not a registered dataset.
        InputError: An option the adapter does not take (a typo would otherwise be a TypeError).
        ConfigError: An option's value is not of the type the adapter declares.
    """
    import inspect
    import typing

    from mmempathy.config import check_value

    if name not in _REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; available: {', '.join(list_datasets())}")
    cls, folder = _REGISTRY[name]
    options = list(inspect.signature(cls).parameters)[2:]  # after root and split
    unknown = sorted(str(k) for k in kwargs if k not in options)
    if unknown:
        raise InputError(f"{name} has no option(s) {', '.join(unknown)}; its options: {', '.join(options)}")
    hints = typing.get_type_hints(cls.__init__)
    kwargs = {k: check_value(hints[k], v, f"{name} option {k}") if k in hints else v for k, v in kwargs.items()}
    root = Path(data_dir) if data_dir is not None else default_data_root() / folder
    return cls(root, split, **kwargs)


__all__ = [
    "DATA_ENV",
    "EmotionDataset",
    "LabelMap",
    "CremaD",
    "FER2013",
    "GoEmotions",
    "IEMOCAP",
    "MELD",
    "MOSEI",
    "MOSI",
    "RAVDESS",
    "default_data_root",
    "get_dataset",
    "group_kfold",
    "list_datasets",
    "load_clip",
    "read_sound_file",
]
