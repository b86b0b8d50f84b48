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

from typing import TYPE_CHECKING

from mmempathy.bench.recipes import RECIPES, Published, Recipe, get_recipe, list_recipes
from mmempathy.lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


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
