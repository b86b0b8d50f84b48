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

from mmempathy.io import atomic_write
from mmempathy.media.plot import CROWDED, EMOTION_COLORS, PLOT_FORMATS, drawn_spans, plot_timeline  # noqa: F401  (drawing: media/plot.py)
from mmempathy.modality import PERSONAL


def shorten(text: str, width: int) -> str:
    """``text`` on one line in at most ``width`` characters, cut after a whole word with "…" (mid-word only where
    the last word would fill more than half of it).

    Example:
        >>> shorten("So, you stole my joke, and you stole my money.", 24)
        'So, you stole my joke…'
    """
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if text[width - 1] != " " and space >= width // 2:  # the cut falls inside a word: drop that word
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


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
        baseline: The modalities read against the person's own baseline, with the number of that
            person's segments it was estimated from and the fraction applied
            (``{"face": {"segments": 40, "strength": 1.0}}``; :mod:`mmempathy.baseline`); empty: read plainly.
        why: What moved the reading (``explain=True``; empty otherwise): the words, face frames and spans of
            speech (in seconds from the segment's start) with their contributions (:mod:`mmempathy.explain`).
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
    baseline: dict[str, dict[str, float]] = field(default_factory=dict)
    why: dict[str, Any] = field(default_factory=dict)

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
        w_<modality>..., incongruity, present, speech, text, adapted, baseline_<modality>...`` (a modality's columns
        are NaN where it was missing; ``speech`` is NaN where voice activity was not detected; ``adapted`` names the
        modalities read against the person's baseline, ``baseline_face``/``baseline_audio`` from how many segments).
        An explained timeline (``explain=True``) adds ``why_label, why_words, why_face, why_speech``: the label
        explained and the words, face frames and speech spans that pushed most towards it (:func:`why_summary`)."""
        mods = self.modality_names()
        rows = [segment_row(seg, self.labels, mods) for seg in self.segments]
        columns = segment_columns(self.labels, mods)
        if any(seg.why for seg in self.segments):
            rows = [{**row, **why_summary(seg.why)} for row, seg in zip(rows, self.segments)]
            columns += list(why_summary({}))
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
        """The timeline as JSON text; also written to ``path`` when given (whole or not at all).

        Raises:
            InputError: ``path`` cannot be written (see :func:`mmempathy.io.atomic_write`).
        """
        text = json.dumps(self.to_dict(), indent=indent, default=_jsonable)
        if path is not None:
            atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> Timeline:
        """Read a timeline from a JSON file, or from JSON text."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`to_dataframe` as CSV (whole or not at all).

        Raises:
            InputError: ``path`` cannot be written (see :func:`mmempathy.io.atomic_write`).
        """
        frame = self.to_dataframe()
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))

    def to_table(self, *, digits: int = 2, max_text: int = 40) -> str:
        """A fixed-width table for terminals: time span, dominant label, fused probs, modalities, and the text
        (at most ``max_text`` characters, cut between words with "…": :func:`shorten`)."""
        head = f"{'start':>7} {'end':>7}  {'dominant':<9} " + " ".join(f"{lab[:8]:>8}" for lab in self.labels)
        lines = [head + f"  {'present':<16} text", "-" * (len(head) + 30)]
        for seg in self.segments:
            probs = " ".join(f"{seg.probs.get(lab, 0.0):>8.{digits}f}" for lab in self.labels)
            text = shorten(seg.text or "", max_text)
            present = "+".join(seg.present) or "-"
            lines.append(f"{seg.start:7.2f} {seg.end:7.2f}  {seg.dominant:<9} {probs}  {present:<16} {text}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()

    # --- processing ---------------------------------------------------------------------------

    def smooth(self, window: int = 3) -> Timeline:
        """A new timeline with probabilities averaged over ``window`` neighbouring segments.

        Fused probabilities are averaged over the centred window; each modality's over the
        segments of the window where it was present. Weights, presence and text are kept, and so is an
        explanation (``why``: it explains the segment's own reading, whose label it names).
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
                    why=seg.why,
                )
            )
        meta = {**self.meta, "smoothed": window}
        return Timeline(smoothed, labels=self.labels, source=self.source, meta=meta)

    # --- plotting -------------------------------------------------------------------------------

    def plot(self, path: str | Path | None = None, *, title: str | None = None, figsize=(11, 4.5)):
        """Stacked fused probabilities over time, with a band of the dominant emotion, one row per modality
        (coloured by that modality's own top emotion where it was present, blank where it was missing)
        and a strip of the modalities' incongruity (0 agree .. 1 disagree) below. Overlapping windows are
        each drawn over the hop-long span in their middle, so changes show where they happened
        (:func:`drawn_spans`); other segments over their own span.

        Up to :data:`CROWDED` segments each is a bar; beyond that (an hour at 3-s windows is 1,200)
        bars would be thinner than a pixel and segment-to-segment noise would hide the trend, so
        the probabilities (and the dominant band read from them) are a centred moving average over
        about 1% of the segments, drawn as stacked step areas (the y label says how many); the
        incongruity strip shows the raw values in grey under their moving average; the time axis
        reads in minutes or hours. The dominant band is drawn as runs of one label, named where a
        run is wide enough to hold its name.

        Returns the matplotlib ``Figure`` (not registered with pyplot); written to ``path`` (one of
        :data:`PLOT_FORMATS`) when given, whole or not at all.

        Raises:
            InputError: ``path`` has a format matplotlib cannot write here, or cannot be written.
        """
        return plot_timeline(self, path, title=title, figsize=figsize)

    @property
    def start(self) -> float:
        return min((s.start for s in self.segments), default=0.0)

    @property
    def end(self) -> float:
        return max((s.end for s in self.segments), default=0.0)


def segment_columns(labels: tuple[str, ...], mods: list[str]) -> list[str]:
    """The columns of :meth:`Timeline.to_dataframe` for ``labels`` and modalities ``mods``."""
    columns = ["start", "end", "dominant", *(f"p_{label}" for label in labels)]
    columns += [f"{m}_p_{label}" for m in mods for label in labels]
    columns += [f"w_{m}" for m in mods] + ["incongruity", "present", "speech", "text", "adapted"]
    return columns + [f"baseline_{m}" for m in mods if m in PERSONAL]


def why_summary(why: dict[str, Any], top: int = 3) -> dict[str, str]:
    """A ``why`` (:mod:`mmempathy.explain`) in short text for tables: the label it explains and the ``top`` words,
    face frames and speech spans that pushed most towards it (``{"why_words": "hate +0.399; here! +0.130", ...}``).
    """

    def best(rows: list[dict[str, Any]], name: Any) -> str:
        rows = sorted((r for r in rows if r["score"] > 0), key=lambda r: -r["score"])[:top]
        return "; ".join(f"{name(r)} {r['score']:+.3f}" for r in rows)

    return {
        "why_label": why.get("label", ""),
        "why_words": best(why.get("words", []), lambda r: r["word"]),
        "why_face": best(why.get("face", []), lambda r: f"frame {r['frame']}"),
        "why_speech": best(why.get("speech", []), lambda r: f"{r['start']:g}-{r['end']:g} s"),
    }


def segment_row(seg: Segment, labels: tuple[str, ...], mods: list[str]) -> dict[str, Any]:
    """One row of :meth:`Timeline.to_dataframe` (NaN for a missing modality's probabilities)."""
    row: dict[str, Any] = {"start": seg.start, "end": seg.end, "dominant": seg.dominant}
    row.update({f"p_{label}": seg.probs.get(label, np.nan) for label in labels})
    for mod in mods:
        probs = seg.modalities.get(mod, {})
        row.update({f"{mod}_p_{label}": probs.get(label, np.nan) for label in labels})
    row.update({f"w_{mod}": seg.weights.get(mod, 0.0) for mod in mods})
    row["incongruity"] = seg.incongruity
    row["present"] = "+".join(seg.present)
    row["speech"] = seg.speech if seg.speech is not None else np.nan
    row["text"] = seg.text
    row["adapted"] = "+".join(seg.baseline)
    row.update({f"baseline_{m}": int(seg.baseline.get(m, {}).get("segments", 0)) for m in mods if m in PERSONAL})
    return row


def _mean(dicts: list[dict[str, float]], labels: tuple[str, ...]) -> dict[str, float]:
    values = np.array([[d.get(label, 0.0) for label in labels] for d in dicts], dtype=float).mean(axis=0)
    values = values / values.sum() if values.sum() > 0 else values
    return {label: float(v) for label, v in zip(labels, values)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
