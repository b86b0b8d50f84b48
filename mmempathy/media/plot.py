"""Drawing an emotion :class:`~mmempathy.media.timeline.Timeline` (matplotlib, imported when drawing).

Stacked fused probabilities over time, a band of the dominant emotion, a row per modality and a strip
of the modalities' incongruity; long timelines as moving averages (see :meth:`Timeline.plot`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mmempathy.io import atomic_write, check_output_path

if TYPE_CHECKING:
    from mmempathy.media.timeline import Segment, Timeline

# What :meth:`Timeline.plot` writes (matplotlib's formats that need neither LaTeX nor an optional codec).
PLOT_FORMATS = (".png", ".svg", ".svgz", ".pdf", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")

# More segments than this are drawn as step areas rather than one bar each.
CROWDED = 240

# Colours people expect for the default labels; other labels take the tab10 cycle.
EMOTION_COLORS = {
    "anger": "#d62728",
    "disgust": "#8c9a2b",
    "fear": "#7b4fa0",
    "joy": "#f2b701",
    "neutral": "#a0a0a0",
    "sadness": "#1f77b4",
    "surprise": "#ff7f0e",
}


def plot_timeline(timeline: Timeline, path: str | Path | None = None, *, title: str | None = None, figsize=(11, 4.5)):
    """Draw ``timeline``: see :meth:`Timeline.plot`, which calls this."""
    # A bare Figure draws through Agg and leaves pyplot's global state (and backend) alone.
    from matplotlib.figure import Figure

    if path is not None:
        check_output_path(path, PLOT_FORMATS)  # before drawing, which takes a while for long timelines
    fig = Figure(figsize=figsize)
    mods = timeline.modality_names()
    ratios = [5, 1, 0.35 * max(1, len(mods)), 1]
    ax, band, heard, clash = fig.subplots(4, 1, sharex=True, gridspec_kw={"height_ratios": ratios, "hspace": 0.08})
    colors = _colors(timeline.labels)
    starts, ends = drawn_spans(timeline.segments)
    widths = ends - starts
    probs = np.array([[s.probs.get(label, 0.0) for label in timeline.labels] for s in timeline.segments], dtype=float)
    probs = probs.reshape(len(timeline.segments), len(timeline.labels))  # an empty timeline too
    incongruity = np.array([s.incongruity for s in timeline.segments], dtype=float)
    dominant = [s.dominant for s in timeline.segments]
    ylabel = "probability (fused)"
    if len(timeline.segments) > CROWDED:
        k = max(3, len(timeline.segments) // 100)
        probs = _moving_average(probs, k)
        dominant = [timeline.labels[j] for j in probs.argmax(axis=1)]
        ylabel = f"probability (fused,\nmean of {k} segments)"
        _step_areas(ax, starts, widths, probs, [colors[label] for label in timeline.labels], timeline.labels)
        clash.fill_between(*_steps(starts, widths, incongruity), color="0.75", lw=0)
        clash.plot(starts + widths / 2, _moving_average(incongruity[:, None], k)[:, 0], color="0.15", lw=1.0)
    else:
        bottom = np.zeros(len(starts))
        for j, label in enumerate(timeline.labels):
            ax.bar(starts, probs[:, j], widths, bottom=bottom, align="edge", color=colors[label], label=label, lw=0)
            bottom = bottom + probs[:, j]  # a new array: bar() may keep a reference to the old one
        clash.bar(starts, incongruity, widths, align="edge", color="0.35", lw=0)
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"Emotion timeline{f' — {Path(timeline.source).name}' if timeline.source else ''}")
    handles, names = ax.get_legend_handles_labels()
    # Listed top to bottom in the order the layers are stacked.
    ax.legend(handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="emotion")
    ax.grid(axis="y", alpha=0.3)

    span = timeline.end - timeline.start or 1.0
    for label, run_start, run_end in _runs(dominant, starts, starts + widths):
        band.broken_barh([(run_start, run_end - run_start)], (-0.5, 1.0), color=colors[label], lw=0)
        if run_end - run_start >= 0.06 * span:
            band.text((run_start + run_end) / 2, 0, label, ha="center", va="center", fontsize=8)
    band.set_yticks([0], ["dominant"])
    band.set_ylim(-0.5, 0.5)
    _presence(heard, timeline.segments, mods, starts, widths, colors)
    clash.set_ylim(0, 1)
    clash.set_yticks([0, 1], ["0", "1"])
    clash.set_ylabel("incongruity", rotation=0, ha="right", va="center", fontsize=8)
    clash.set_xlim(timeline.start, timeline.end if timeline.end > timeline.start else timeline.start + 1)
    _time_axis(clash, span)
    fig.subplots_adjust(left=0.08, right=0.85, top=0.9, bottom=0.13)
    if path is not None:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120))
    return fig


def drawn_spans(segments: list[Segment]) -> tuple[np.ndarray, np.ndarray]:
    """Where :meth:`Timeline.plot` draws each segment: ``(starts, ends)`` in seconds.

    A window's reading stands for the middle of the window. Where windows overlap (``window`` W
    every ``hop`` H < W), each is drawn over the time nearer its centre than its neighbours'
    centres, which is the hop-long span in its middle (centre - H/2 to centre + H/2), so a change
    is drawn where it happened; drawing each window from its start would show it (W - H)/2 early.
    The first segment reaches back to its own start and the last on to its own end. Segments that
    do not overlap (windows with ``hop >= window``, subtitle cues, speech turns) keep their spans.
    The segments themselves (and the CSV and JSON times) are not changed.

    Example:
        >>> windows = [Segment(k * 1.5, k * 1.5 + 3, {"joy": 1.0}) for k in range(3)]
        >>> [v.tolist() for v in drawn_spans(windows)]
        [[0.0, 2.25, 3.75], [2.25, 3.75, 6.0]]
    """
    starts = np.array([s.start for s in segments], dtype=float)
    ends = np.array([s.end for s in segments], dtype=float)
    if len(segments) > 1:
        lo, hi = starts[1:].copy(), np.minimum(ends[:-1], ends[1:])  # where each pair overlaps
        centres = (starts + ends) / 2
        cut = np.clip((centres[:-1] + centres[1:]) / 2, lo, np.maximum(lo, hi))
        overlap = lo < ends[:-1]
        ends[:-1] = np.where(overlap, cut, ends[:-1])
        starts[1:] = np.where(overlap, cut, starts[1:])
        ends = np.maximum(ends, starts)  # a segment nested in its neighbours is drawn empty, not backwards
    return starts, ends


def _presence(ax, segments: list[Segment], mods: list[str], starts, widths, colors: dict[str, str]) -> None:
    """One row per modality: coloured by that modality's own top emotion where it was present, blank
    where it was missing, so absences and disagreements show at a glance."""
    for row, mod in enumerate(mods):
        names = [max(seg.modalities[mod], key=seg.modalities[mod].get) if mod in seg.modalities else None
                 for seg in segments]  # fmt: skip
        for label, run_start, run_end in _runs(names, starts, starts + widths):
            if label is not None:
                ax.broken_barh([(run_start, run_end - run_start)], (row - 0.4, 0.8), color=colors[label], lw=0)
    ax.set_yticks(range(len(mods)), mods, fontsize=8)
    ax.set_ylim(max(1, len(mods)) - 0.5, -0.5)  # the first modality on top
    ax.tick_params(axis="y", length=0)


def _steps(starts: np.ndarray, widths: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step curve over segments (each value held from its start for its width), broken by NaN at gaps."""
    ends = starts + widths
    xs, ys = [], []
    for i, (a, b) in enumerate(zip(starts, ends)):
        if i and a > ends[i - 1] + 1e-9:  # a gap between segments is left empty, not bridged
            xs.append(a)
            ys.append(np.nan)
        xs += [a, b]
        ys += [values[i], values[i]]
    return np.array(xs), np.array(ys)


def _moving_average(values: np.ndarray, k: int) -> np.ndarray:
    """Centred mean over ``k`` rows (fewer at the ends), column by column."""
    return pd.DataFrame(values).rolling(k, center=True, min_periods=1).mean().to_numpy()


def _step_areas(ax, starts, widths, probs, colors, labels) -> None:
    """Stacked step areas: one polygon per label however many segments (bars would be thousands)."""
    bottom = np.zeros(len(starts))
    for j, (label, color) in enumerate(zip(labels, colors)):
        top = bottom + probs[:, j]
        xs, lower = _steps(starts, widths, bottom)
        _, upper = _steps(starts, widths, top)
        ax.fill_between(xs, lower, upper, color=color, lw=0, label=label)
        bottom = top


def _runs(names: list[str], starts: np.ndarray, ends: np.ndarray) -> Iterator[tuple[str, float, float]]:
    """``(name, start, end)`` of each run of touching segments with the same name."""
    run: list | None = None
    for name, a, b in zip(names, starts, ends):
        if run is not None and name == run[0] and a <= run[2] + 1e-9:
            run[2] = b
            continue
        if run is not None:
            yield tuple(run)
        run = [name, float(a), float(b)]
    if run is not None:
        yield tuple(run)


def _time_axis(ax, span: float) -> None:
    """Seconds for short timelines; m:ss past ten minutes and h:mm:ss past two hours, on whole minutes."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    if span <= 600:
        ax.set_xlabel("time (s)")
        return
    hours = span > 7200
    steps = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800)
    ax.xaxis.set_major_locator(MultipleLocator(next((s for s in steps if span / s <= 10), steps[-1])))

    def fmt(x: float, _pos=None) -> str:
        x = round(x)
        return f"{x // 3600}:{x % 3600 // 60:02d}:{x % 60:02d}" if hours else f"{x // 60}:{x % 60:02d}"

    ax.xaxis.set_major_formatter(FuncFormatter(fmt))
    ax.set_xlabel("time (h:mm:ss)" if hours else "time (min:s)")


def _colors(labels: tuple[str, ...]) -> dict[str, str]:
    import matplotlib

    cycle = matplotlib.colormaps["tab10"].colors
    return {lab: EMOTION_COLORS.get(lab, matplotlib.colors.to_hex(cycle[i % 10])) for i, lab in enumerate(labels)}
