"""An emotion timeline: one prediction per time segment of a video, with ways to read it.

Example:
    >>> seg = Segment(0.0, 3.0, probs={"joy": 0.8, "sadness": 0.2}, present=["text"], text="yay")
    >>> tl = Timeline([seg], labels=("joy", "sadness"))
    >>> tl.to_dataframe()[["start", "end", "dominant", "p_joy"]].values.tolist()
    [[0.0, 3.0, 'joy', 0.8]]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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


@dataclass
class Segment:
    """The prediction for ``[start, end)`` seconds.

    Attributes:
        start: Start time in seconds.
        end: End time in seconds.
        probs: Fused probability of each label (sums to one).
        modalities: Per-modality probabilities, only for the modalities present.
        weights: The weight fusion gave each modality.
        present: Names of the modalities the segment had.
        text: The subtitle, transcript or speech-to-text words of the segment, if any
            (``Timeline.meta["text_source"]`` says which).
        speech: Seconds of speech the voice activity detector found in the segment (``None``
            when it did not run); with too little, the audio was not read.
        incongruity: How much the present modalities disagreed, 0 (agree, or one modality) to 1
            (:func:`mmempathy.output.incongruity`): a high value says the fused label is a compromise.
    """

    start: float
    end: float
    probs: dict[str, float]
    modalities: dict[str, dict[str, float]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    present: list[str] = field(default_factory=list)
    text: str | None = None
    speech: float | None = None
    incongruity: float = 0.0

    @property
    def dominant(self) -> str:
        """The most probable label."""
        return max(self.probs, key=self.probs.__getitem__)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Timeline:
    """Predictions over time for one media file, sorted by start time.

    Attributes:
        segments: The segments, by start time.
        labels: The label names, in the model's order.
        source: The media file, if known.
        meta: Provenance: the settings used, the model, the duration.
    """

    segments: list[Segment]
    labels: tuple[str, ...]
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        self.segments = sorted(self.segments, key=lambda s: (s.start, s.end))

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def __getitem__(self, index: int) -> Segment:
        return self.segments[index]

    def modality_names(self) -> list[str]:
        """Every modality present in at least one segment, in first-seen order."""
        names: dict[str, None] = {}
        for seg in self.segments:
            names.update(dict.fromkeys(seg.weights))
            names.update(dict.fromkeys(seg.modalities))
        return list(names)

    # --- tables and files -------------------------------------------------------------------

    def to_dataframe(self) -> pd.DataFrame:
        """One row per segment: ``start, end, dominant, p_<label>..., <modality>_p_<label>...,
        w_<modality>..., incongruity, present, speech, text`` (a modality's columns are NaN where it was missing;
        ``speech`` is NaN where voice activity was not detected)."""
        mods = self.modality_names()
        rows = []
        for seg in self.segments:
            row: dict[str, Any] = {"start": seg.start, "end": seg.end, "dominant": seg.dominant}
            row.update({f"p_{label}": seg.probs.get(label, np.nan) for label in self.labels})
            for mod in mods:
                probs = seg.modalities.get(mod, {})
                row.update({f"{mod}_p_{label}": probs.get(label, np.nan) for label in self.labels})
            row.update({f"w_{mod}": seg.weights.get(mod, 0.0) for mod in mods})
            row["incongruity"] = seg.incongruity
            row["present"] = "+".join(seg.present)
            row["speech"] = seg.speech if seg.speech is not None else np.nan
            row["text"] = seg.text
            rows.append(row)
        columns = ["start", "end", "dominant", *(f"p_{label}" for label in self.labels)]
        columns += [f"{m}_p_{label}" for m in mods for label in self.labels]
        columns += [f"w_{m}" for m in mods] + ["incongruity", "present", "speech", "text"]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "source": self.source,
            "labels": list(self.labels),
            "meta": self.meta,
            "segments": [asdict(seg) for seg in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        """Inverse of :meth:`to_dict`."""
        segments = [Segment(**seg) for seg in data["segments"]]
        return cls(segments, labels=tuple(data["labels"]), source=data.get("source"), meta=data.get("meta", {}))

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """The timeline as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, default=_jsonable)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> Timeline:
        """Read a timeline from a JSON file, or from JSON text."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`to_dataframe` as CSV."""
        self.to_dataframe().to_csv(path, index=False, float_format="%.6g")

    def to_table(self, *, digits: int = 2, max_text: int = 40) -> str:
        """A fixed-width table for terminals: time span, dominant label, fused probs, modalities."""
        head = f"{'start':>7} {'end':>7}  {'dominant':<9} " + " ".join(f"{lab[:8]:>8}" for lab in self.labels)
        lines = [head + f"  {'present':<16} text", "-" * (len(head) + 30)]
        for seg in self.segments:
            probs = " ".join(f"{seg.probs.get(lab, 0.0):>8.{digits}f}" for lab in self.labels)
            text = (seg.text or "")[:max_text]
            present = "+".join(seg.present) or "-"
            lines.append(f"{seg.start:7.2f} {seg.end:7.2f}  {seg.dominant:<9} {probs}  {present:<16} {text}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()

    # --- processing ---------------------------------------------------------------------------

    def smooth(self, window: int = 3) -> Timeline:
        """A new timeline with probabilities averaged over ``window`` neighbouring segments.

        Fused probabilities are averaged over the centred window; each modality's over the
        segments of the window where it was present. Weights, presence and text are kept.
        """
        if window < 1:
            raise ValueError(f"smoothing window must be >= 1, got {window}")
        half_lo, half_hi = (window - 1) // 2, window // 2
        smoothed = []
        for i, seg in enumerate(self.segments):
            near = self.segments[max(0, i - half_lo) : i + half_hi + 1]
            mods = {
                mod: _mean([s.modalities[mod] for s in near if mod in s.modalities], self.labels)
                for mod in seg.modalities
            }
            smoothed.append(
                Segment(
                    seg.start,
                    seg.end,
                    probs=_mean([s.probs for s in near], self.labels),
                    modalities=mods,
                    weights=dict(seg.weights),
                    present=list(seg.present),
                    text=seg.text,
                    speech=seg.speech,
                    incongruity=seg.incongruity,
                )
            )
        meta = {**self.meta, "smoothed": window}
        return Timeline(smoothed, labels=self.labels, source=self.source, meta=meta)

    # --- plotting -------------------------------------------------------------------------------

    def plot(self, path: str | Path | None = None, *, title: str | None = None, figsize=(11, 4.5)):
        """Stacked fused probabilities over time, with a band of the dominant emotion and a strip of the
        modalities' incongruity (0 agree .. 1 disagree) below.

        Returns the matplotlib ``Figure`` (not registered with pyplot); written to ``path`` (PNG,
        SVG, ...) when given.
        """
        # A bare Figure draws through Agg and leaves pyplot's global state (and backend) alone.
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        ax, band, clash = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [5, 1, 1], "hspace": 0.08})
        colors = _colors(self.labels)
        starts = np.array([s.start for s in self.segments], dtype=float)
        # Overlapping windows would hide each other: each bar reaches the next segment's start.
        widths = np.array([s.duration for s in self.segments], dtype=float)
        if len(starts) > 1:
            widths[:-1] = np.minimum(widths[:-1], np.diff(starts))
        bottom = np.zeros(len(starts))
        for label in self.labels:
            values = np.array([s.probs.get(label, 0.0) for s in self.segments])
            ax.bar(starts, values, widths, bottom=bottom, align="edge", color=colors[label], label=label, lw=0)
            bottom = bottom + values  # a new array: bar() may keep a reference to the old one
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability (fused)")
        ax.set_title(title or f"Emotion timeline{f' — {Path(self.source).name}' if self.source else ''}")
        handles, names = ax.get_legend_handles_labels()
        # Listed top to bottom in the order the layers are stacked.
        ax.legend(
            handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="emotion"
        )
        ax.grid(axis="y", alpha=0.3)

        for seg, start, width in zip(self.segments, starts, widths):
            band.barh(0, width, left=start, color=colors[seg.dominant], height=1.0, lw=0)
            if width >= 0.06 * (self.end - self.start or 1.0):
                band.text(start + width / 2, 0, seg.dominant, ha="center", va="center", fontsize=8)
        band.set_yticks([0], ["dominant"])
        band.set_ylim(-0.5, 0.5)
        clash.bar(starts, [s.incongruity for s in self.segments], widths, align="edge", color="0.35", lw=0)
        clash.set_ylim(0, 1)
        clash.set_yticks([0, 1], ["0", "1"])
        clash.set_ylabel("incongruity", rotation=0, ha="right", va="center", fontsize=8)
        clash.set_xlabel("time (s)")
        clash.set_xlim(self.start, self.end if self.end > self.start else self.start + 1)
        fig.subplots_adjust(left=0.08, right=0.85, top=0.9, bottom=0.13)
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig

    @property
    def start(self) -> float:
        return min((s.start for s in self.segments), default=0.0)

    @property
    def end(self) -> float:
        return max((s.end for s in self.segments), default=0.0)


def _mean(dicts: list[dict[str, float]], labels: tuple[str, ...]) -> dict[str, float]:
    values = np.array([[d.get(label, 0.0) for label in labels] for d in dicts], dtype=float).mean(axis=0)
    values = values / values.sum() if values.sum() > 0 else values
    return {label: float(v) for label, v in zip(labels, values)}


def _colors(labels: tuple[str, ...]) -> dict[str, str]:
    import matplotlib

    cycle = matplotlib.colormaps["tab10"].colors
    return {lab: EMOTION_COLORS.get(lab, matplotlib.colors.to_hex(cycle[i % 10])) for i, lab in enumerate(labels)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
