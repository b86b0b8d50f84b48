"""Training inputs: the labelled collate function and two adapters (labelled clips, pre-extracted features).

Any sequence or ``torch.utils.data.Dataset`` of :class:`~mmempathy.sample.Sample` trains; these
adapters only turn common on-disk layouts into one.

* :class:`ClipDataset`: a CSV (``path,label[,text]``) or a folder (``<root>/<label>/<clip>``) of
  audio-visual clips, decoded on access through :mod:`mmempathy.media` (imported lazily).
* :class:`FeatureDataset`: arrays of pre-extracted features per modality (an ``.npz`` file or a
  dict), for encoders of kind ``"features"``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmempathy.errors import InputError
from mmempathy.processing import Processor
from mmempathy.sample import Sample

Batch = dict[Any, dict[str, torch.Tensor]]
CLIP_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4a", ".wav", ".mp3", ".flac")


class LabelledCollate:
    """``samples -> (batch, labels)``: the processor's padded, masked batch plus a labels tensor.

    Args:
        processor: The model's processor (``fuser.processor``).
        task: ``"classification"`` (long labels) or ``"regression"`` (float labels).
        skip_unlabelled: Drop samples whose ``label`` is ``None`` rather than raising.

    Example:
        >>> from mmempathy import EmotionFuser
        >>> fuser = EmotionFuser.from_pretrained("tiny")
        >>> batch, labels = LabelledCollate(fuser.processor)([Sample(text="hi", label=3)])
        >>> labels.tolist()
        [3]
    """

    def __init__(self, processor: Processor, task: str = "classification", *, skip_unlabelled: bool = False):
        self.processor = processor
        self.task = task
        self.skip_unlabelled = skip_unlabelled

    def __call__(self, samples: Sequence[Sample]) -> tuple[Batch, torch.Tensor]:
        samples = check_labels(samples, skip=self.skip_unlabelled)
        return self.processor.collate(samples), labels_tensor(samples, self.task)


def check_labels(samples: Sequence[Sample], *, skip: bool) -> list[Sample]:
    """The labelled samples; raises :class:`InputError` on an unlabelled one unless ``skip``."""
    labelled = [s for s in samples if s.label is not None]
    if len(labelled) < len(samples) and not skip:
        where = next(s.meta for s in samples if s.label is None)
        raise InputError(
            f"a training sample has no label (meta={where}); label it, or set skip_unlabelled=True to drop such samples"
        )
    if not labelled:
        raise InputError("a training batch holds no labelled sample")
    return labelled


def labels_tensor(samples: Sequence[Sample], task: str) -> torch.Tensor:
    """Class indices ``[b]`` (long) or regression targets ``[b]`` / ``[b, k]`` (float32)."""
    if task == "regression":
        return torch.tensor(np.asarray([s.label for s in samples], dtype=np.float32))
    return torch.tensor([int(s.label) for s in samples], dtype=torch.long)


def label_index(value: str, labels: Sequence[str], task: str) -> int | float:
    """A CSV cell as a class index (a label name or an integer) or a float target."""
    value = value.strip()
    if task == "regression":
        return float(value)
    if value in labels:
        return labels.index(value)
    if value.lstrip("-").isdigit() and 0 <= int(value) < len(labels):
        return int(value)
    raise InputError(f"unknown label {value!r}; expected one of {list(labels)} or an index below {len(labels)}")


class ClipDataset(torch.utils.data.Dataset):
    """Labelled audio-visual clips, decoded when an item is read.

    Each item becomes one :class:`Sample`: the whole audio track (16 kHz mono), crops of the main
    face at ``fps`` frames per second (at most ``max_faces``, evenly spaced), the CSV's text, and
    ``meta={"path": ...}``. Decoding goes through :mod:`mmempathy.media` (PyAV, OpenCV).

    Args:
        items: ``(path, label, text)`` triples.
        labels: Class names in the model's order.
        task: ``"classification"`` or ``"regression"``.
        face_size: Side of the face crops; use the model's ``processor.face_size``.
        fps: Frames sampled per second for face detection.
        max_faces: Face crops kept per clip.

    Example:
        >>> ds = ClipDataset.from_csv("clips.csv", labels=("neg", "pos"))  # doctest: +SKIP
    """

    def __init__(
        self,
        items: Sequence[tuple[str, int | float | None, str | None]],
        *,
        labels: Sequence[str],
        task: str = "classification",
        face_size: int = 112,
        fps: float = 2.0,
        max_faces: int = 8,
    ) -> None:
        self.items = list(items)
        self.labels = tuple(labels)
        self.task = task
        self.face_size, self.fps, self.max_faces = face_size, fps, max_faces

    @classmethod
    def from_csv(cls, path: str | Path, *, labels: Sequence[str], root: str | Path | None = None, **kw: Any):
        """Read ``path,label[,text]`` rows (a header row naming ``path`` and ``label`` is required).

        Relative clip paths are taken from ``root``, by default the CSV's folder. An empty label
        cell makes an unlabelled item.
        """
        path = Path(path)
        root = Path(root) if root is not None else path.parent
        task = kw.get("task", "classification")
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"path", "label"} <= set(rows[0]):
            raise InputError(f"{path} needs a header with at least the columns path,label")
        items = []
        for row in rows:
            label = label_index(row["label"], labels, task) if row["label"].strip() else None
            text = (row.get("text") or "").strip() or None
            items.append((str(root / row["path"]), label, text))
        return cls(items, labels=labels, **kw)

    @classmethod
    def from_folder(cls, root: str | Path, *, labels: Sequence[str] | None = None, **kw: Any) -> ClipDataset:
        """Clips under ``<root>/<label name>/``; ``labels`` defaults to the sorted sub-folder names."""
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"no such clip folder: {root}")
        labels = tuple(labels or sorted(p.name for p in root.iterdir() if p.is_dir()))
        items = [
            (str(clip), i, None)
            for i, name in enumerate(labels)
            for clip in sorted((root / name).glob("*"))
            if clip.suffix.lower() in CLIP_SUFFIXES
        ]
        if not items:
            raise InputError(f"no clips ({', '.join(CLIP_SUFFIXES)}) under {root}/<label>/")
        return cls(items, labels=labels, **kw)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        path, label, text = self.items[index]
        from mmempathy.media.pipeline import clip_inputs

        audio, faces = clip_inputs(path, face_size=self.face_size, fps=self.fps, max_faces=self.max_faces)
        return Sample(
            text=text,
            audio=audio,
            sample_rate=16000 if audio is not None else None,
            faces=faces,
            label=label,
            meta={"path": path},
        )


class FeatureDataset(torch.utils.data.Dataset):
    """Pre-extracted features per modality, for encoders of kind ``"features"``.

    Args:
        features: ``{"text"|"audio"|"face": array}``, each ``[N, D]`` or ``[N, T, D]`` (or a list of
            ``N`` arrays ``[T_i, D]`` of varying length).
        labels: ``[N]`` class indices or targets (``None``: unlabelled).
        texts: Optional ``N`` transcripts (for a hybrid model with a text encoder).

    Example:
        >>> ds = FeatureDataset({"audio": np.zeros((4, 73), np.float32)}, labels=[0, 1, 0, 1])
        >>> ds[1].features["audio"].shape, ds[1].label
        ((73,), 1)
    """

    def __init__(
        self,
        features: dict[str, Any],
        labels: Sequence[int | float] | np.ndarray | None = None,
        texts: Sequence[str | None] | None = None,
    ) -> None:
        sizes = {name: len(v) for name, v in features.items()}
        if labels is not None:
            sizes["labels"] = len(labels)
        if len(set(sizes.values())) != 1:
            raise InputError(f"feature arrays and labels have different lengths: {sizes}")
        self.features, self.labels, self.texts = features, labels, texts
        self.n = next(iter(sizes.values()))

    @classmethod
    def from_npz(cls, path: str | Path) -> FeatureDataset:
        """An ``.npz`` with arrays named after modalities (``text``, ``audio``, ``face``) and ``label``."""
        with np.load(str(path), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        labels = arrays.pop("label", None)
        unknown = sorted(set(arrays) - {"text", "audio", "face"})
        if unknown:
            raise InputError(f"{path}: unknown arrays {unknown}; expected text, audio, face and label")
        return cls(arrays, labels)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Sample:
        label = None if self.labels is None else self.labels[index]
        if label is not None:
            label = label.item() if isinstance(label, np.generic) else label
        return Sample(
            text=None if self.texts is None else self.texts[index],
            features={name: np.asarray(v[index], dtype=np.float32) for name, v in self.features.items()},
            label=label,
            meta={"index": index},
        )
