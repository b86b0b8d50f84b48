"""Benchmarks: one recipe per dataset (``recipes.py``) and one generic run (``runner.py``).

The run's parts: what an invocation asks for (``config.py``), its data splits (``splits.py``), the
model it trains (``models.py``), predictions and metrics (``evaluate.py``) and its reports
(``report.py``).

Example:
    >>> from mmempathy.bench import BenchConfig, list_recipes, run_benchmark
    >>> "mosi" in list_recipes()
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mmempathy.bench.recipes import RECIPES, Published, Recipe, get_recipe, list_recipes

# the run and its reports load PyTorch and torchmetrics: they load on first use, so that the
# recipes (the command line's --help lists them) stay light
_LAZY = {
    "BenchConfig": "mmempathy.bench.config",
    "render_table": "mmempathy.bench.report",
    "run_benchmark": "mmempathy.bench.runner",
}

if TYPE_CHECKING:
    from mmempathy.bench.config import BenchConfig
    from mmempathy.bench.report import render_table
    from mmempathy.bench.runner import run_benchmark


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mmempathy.bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


__all__ = [
    "RECIPES",
    "BenchConfig",
    "Published",
    "Recipe",
    "get_recipe",
    "list_recipes",
    "render_table",
    "run_benchmark",
]
