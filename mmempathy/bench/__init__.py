"""Benchmarks: one recipe per dataset (``recipes.py``) and one generic run (``runner.py``).

Example:
    >>> from mmempathy.bench import BenchConfig, list_recipes, run_benchmark
    >>> "mosi" in list_recipes()
    True
"""

from mmempathy.bench.recipes import RECIPES, Published, Recipe, get_recipe, list_recipes
from mmempathy.bench.runner import BenchConfig, render_table, run_benchmark

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
