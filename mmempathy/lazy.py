"""Public names that load their module on first use (PEP 562), for the package ``__init__`` files.

Example:
    >>> __getattr__, __dir__ = lazy_exports("mmempathy", {"EmotionFuser": "mmempathy.model"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], *, without_torch: dict[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``, whose ``exports`` map each
    public name to the module that defines it; ``without_torch`` maps a name to the module that defines
    it instead where its own module cannot be imported because PyTorch is not installed."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            module = importlib.import_module(exports[name])
        except ModuleNotFoundError as err:
            if err.name != "torch" or name not in (without_torch or {}):
                raise
            module = importlib.import_module(without_torch[name])
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
