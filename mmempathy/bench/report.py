"""What a benchmark run leaves behind: its folder name, the resumability check, results files and tables."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmempathy.bench.config import BenchConfig
from mmempathy.bench.recipes import Recipe
from mmempathy.errors import InputError
from mmempathy.metrics import plot_confusion_matrix


def variant_name(recipe: Recipe, cfg: BenchConfig) -> str:
    """The results folder of one configuration, e.g. ``lite-text+audio+face-attention``."""
    model = Path(cfg.model).name if Path(cfg.model).is_dir() else cfg.model
    parts = [model + ("-arch" if cfg.architecture_only else ""), "+".join(recipe.modalities), cfg.fusion]
    if cfg.text_layers and "text" in recipe.modalities and "text" not in recipe.features:
        parts.append(f"text-ft{cfg.text_layers}")
    if cfg.video_faces:
        parts.append("video-faces")
    if cfg.limit:
        parts.append(f"limit{cfg.limit}")
    return "-".join(parts)


def check_resumable(path: Path, resolved: dict[str, Any]) -> None:
    """Refuse to reuse a results folder trained with another setup (the Trainer resumes from what it finds)."""
    if not path.is_file():
        return
    volatile = {"seed", "output_dir", "progress", "num_workers", "device"}
    key = lambda cfg: (cfg["recipe"], cfg["model"], {k: v for k, v in cfg["train"].items() if k not in volatile})  # noqa: E731
    if key(json.loads(path.read_text())) != key(json.loads(json.dumps(resolved, default=str))):
        raise InputError(
            f"{path.parent} holds runs of another configuration (recipe, model or training options differ), "
            "and training would resume from them: choose another --out or remove that folder"
        )


def hardware() -> dict[str, Any]:
    """What the run ran on."""
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def render_table(summary: dict[str, Any]) -> str:
    """Markdown: our test result beside the published ones, then every metric of ours."""
    metric, agg, runs = summary["metric"], summary["aggregate"], summary["runs"]
    n = len(runs)
    first = runs[0]["ci"].get(metric)
    ours = f"**{pct(agg[metric]['mean'])}" + (f" ± {pct(agg[metric]['std'])}**" if n > 1 else "**")
    if first:
        ours += f" (95% CI {pct(first['low'])}–{pct(first['high'])}, seed {runs[0]['seed']})"
    title = f"mmempathy {summary['model']}, {summary['modalities']}, {summary['fusion']} fusion"
    lines = [
        f"### {summary['recipe']}: {summary['description']}",
        "",
        f"Start: {summary['init']}. Text: {summary['text']}.",
        "",
        f"Test n = {summary['sizes']['test']}; {n} seed(s); "
        f"selected on dev ({summary['sizes']['dev']} items) by {metric}.",
        "",
        "| result | metric | value (%) | source |",
        "|---|---|---|---|",
        f"| {title} (ours, {n} seed{'s' if n > 1 else ''}, mean ± std) | {metric} | {ours} | this run |",
    ]
    for p in summary["published"]:
        lines.append(f"| {p['method']} | {p['metric']} | {p['value']:.1f} | {p['source']} |")
    lines += ["", "| metric (ours, test) | mean ± std (%) | 95% CI, seed 0 (%) |", "|---|---|---|"]
    for name, stats in agg.items():
        interval = runs[0]["ci"].get(name)
        ci = f"{pct(interval['low'])}–{pct(interval['high'])}" if interval else "–"
        lines.append(f"| {name} | {pct(stats['mean'])} ± {pct(stats['std'])} | {ci} |")
    if summary.get("notes"):
        lines += ["", summary["notes"]]
    return "\n".join(lines) + "\n"


def write_outputs(summary: dict[str, Any], folder: Path) -> None:
    """``results.json``, ``results.md`` and ``confusion.png`` (summed over seeds) in ``folder``."""
    (folder / "results.json").write_text(json.dumps(summary, indent=2))
    (folder / "results.md").write_text(render_table(summary))
    confusion = np.sum([np.asarray(r["confusion"]) for r in summary["runs"]], axis=0)
    title = f"{summary['recipe']} test, {summary['variant']} ({len(summary['runs'])} seeds summed)"
    plot_confusion_matrix(confusion, summary["labels"], folder / "confusion.png", title=title)
