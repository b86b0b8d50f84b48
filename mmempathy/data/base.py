"""What every dataset adapter shares: the lazy ``EmotionDataset``, label mapping, media loading.

An adapter builds a list of *stub* ``Sample``s (text, label, pre-extracted features, and the paths of
its media in ``meta``) once, cheaply; ``EmotionDataset.__getitem__`` loads the media of one item:

* ``meta["audio_path"]``: read with soundfile, channels averaged, resampled to 16 kHz.
* ``meta["image_path"]``: read as an 8-bit grayscale image, ``faces`` = ``[1, H, W]``.
* ``meta["video"]``: an audio-visual clip; left undecoded (``audio``/``faces`` stay ``None``) unless
  the dataset was built with ``decode_clips=True``, in which case ``load_clip`` decodes it.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS
from mmempathy.sample import Sample

SAMPLE_RATE = 16_000
DATA_ENV = "MMEMPATHY_DATA"


def default_data_root() -> Path:
    """The folder holding one sub-folder per dataset: ``$MMEMPATHY_DATA``, else ``<repo>/../shared/data``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    return Path(__file__).resolve().parents[3] / "shared" / "data"


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """An explicit mapping from a dataset's own label names onto a target label space.

    Attributes:
        source: The dataset's own label names.
        target: The label names the model sees, in the model's order.
        mapping: Source name -> target name, or ``None`` where the source class is dropped.

    Example:
        >>> m = LabelMap.build(["hap", "exc", "fru"], {"hap": "joy", "exc": "joy", "fru": None})
        >>> m.index("exc"), m.index("fru"), m.merged()
        (3, None, {'joy': ['hap', 'exc']})
    """

    source: tuple[str, ...]
    target: tuple[str, ...]
    mapping: Mapping[str, str | None]

    @classmethod
    def build(
        cls,
        source: Sequence[str],
        mapping: Mapping[str, str | None],
        target: Sequence[str] = DEFAULT_LABELS,
    ) -> LabelMap:
        """Check that every source name is mapped and every mapped name exists in ``target``."""
        missing = [s for s in source if s not in mapping]
        unknown = sorted({t for t in mapping.values() if t is not None and t not in target})
        if missing or unknown:
            raise ValueError(f"label map: unmapped source labels {missing}, unknown targets {unknown}")
        return cls(tuple(source), tuple(target), dict(mapping))

    @classmethod
    def identity(cls, names: Sequence[str]) -> LabelMap:
        """Keep a dataset's own label set as it is."""
        return cls(tuple(names), tuple(names), {n: n for n in names})

    def index(self, source_name: str) -> int | None:
        """Target class index of one source label, or ``None`` if that class is dropped."""
        if source_name not in self.mapping:
            raise InputError(f"unknown label {source_name!r}; expected one of {list(self.source)}")
        name = self.mapping[source_name]
        return None if name is None else self.target.index(name)

    def dropped(self) -> list[str]:
        """Source classes whose items are left out."""
        return [s for s in self.source if self.mapping[s] is None]

    def merged(self) -> dict[str, list[str]]:
        """Target classes fed by more than one source class."""
        groups: dict[str, list[str]] = {}
        for s in self.source:
            if self.mapping[s] is not None:
                groups.setdefault(self.mapping[s], []).append(s)
        return {t: srcs for t, srcs in groups.items() if len(srcs) > 1}

    def uncovered(self) -> list[str]:
        """Target classes that no source class maps onto (they never occur in this dataset)."""
        used = set(self.mapping.values())
        return [t for t in self.target if t not in used]


class EmotionDataset(torch.utils.data.Dataset):
    """A torch ``Dataset`` of ``Sample``s whose media are loaded lazily, one item at a time.

    Args:
        items: Stub samples (text, label, features, media paths in ``meta``); never mutated.
        labels: Class names in the model's order (for regression: the name of the target).
        task: ``"classification"`` or ``"regression"``.
        split: The split these items come from.
        decode_clips: Decode ``meta["video"]`` clips with ``load_clip`` in ``__getitem__``.

    Example:
        >>> ds = EmotionDataset([Sample(text="yay", label=3)], labels=DEFAULT_LABELS, split="train")
        >>> len(ds), ds[0].text, ds.label_counts()["joy"]
        (1, 'yay', 1)
    """

    name: str = "custom"

    def __init__(
        self,
        items: Sequence[Sample],
        *,
        labels: Sequence[str],
        task: str = "classification",
        split: str,
        decode_clips: bool = False,
    ) -> None:
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
        self.items = list(items)
        self.labels = tuple(labels)
        self.task = task
        self.split = split
        self.decode_clips = decode_clips

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        stub = self.items[index]
        meta = stub.meta
        loaded: dict = {}
        if meta.get("audio_path") is not None:
            loaded["audio"], loaded["sample_rate"] = read_sound_file(meta["audio_path"])
        if meta.get("image_path") is not None:
            loaded["faces"] = load_gray_image(meta["image_path"])[None]
        if self.decode_clips and meta.get("video") is not None:
            audio, sr, faces = load_clip(meta["video"])
            loaded.update(audio=audio, sample_rate=sr, faces=faces)
        return dataclasses.replace(stub, meta=dict(meta), **loaded)

    @property
    def num_classes(self) -> int:
        return len(self.labels) if self.task == "classification" else 1

    def targets(self) -> np.ndarray:
        """Every item's label, without loading any media."""
        dtype = np.int64 if self.task == "classification" else np.float32
        return np.array([s.label for s in self.items], dtype=dtype)

    def label_counts(self) -> dict[str, int]:
        """Items per class name, in the model's order (classification only)."""
        counts = Counter(int(s.label) for s in self.items)
        return {name: counts.get(i, 0) for i, name in enumerate(self.labels)}

    def subset(self, indices: Sequence[int]) -> EmotionDataset:
        """A dataset of the same kind holding only ``indices`` (for smoke runs and folds)."""
        items = [self.items[i] for i in indices]
        out = EmotionDataset(
            items, labels=self.labels, task=self.task, split=self.split, decode_clips=self.decode_clips
        )
        out.name = self.name
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, n={len(self)}, labels={list(self.labels)})"


def read_sound_file(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Read a sound file (WAV, FLAC ...: libsndfile) as ``(wave, sample_rate)``, mono float32 at
    ``sample_rate`` (channel mean, polyphase resampling). Any media file's audio track, without the
    rate: :func:`mmempathy.media.decode.load_audio`.

    Example:
        >>> wave, sr = read_sound_file("03-01-05-01-01-01-01.wav")  # doctest: +SKIP
    """
    import soundfile as sf

    from mmempathy.processing import resample

    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise InputError(f"cannot read audio {path}: {err}") from err
    wave = wave.mean(axis=1)
    if sr != sample_rate:
        wave = resample(wave, sr, sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32), sample_rate


def load_gray_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``[H, W]`` uint8 grayscale."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError(f"cannot read image {path}")
    return image


def load_clip(
    path: str | os.PathLike, *, fps: float = 2.0, face_size: int = 112, max_frames: int = 16
) -> tuple[np.ndarray | None, int | None, np.ndarray | None]:
    """Decode an audio-visual clip into ``(audio, sample_rate, faces)`` for a ``Sample``.

    The hook between the adapters and ``mmempathy.media``, decoding as inference does
    (:func:`mmempathy.media.pipeline.clip_inputs`): audio is the whole track at 16 kHz mono;
    faces are crops of the clip's main face (the most persistent track) from frames sampled at
    ``fps``, evenly thinned to at most ``max_frames``, ``[F, S, S, 3]`` uint8 RGB. Either is ``None``
    when the clip has no audio track or no face was found. PyAV is imported only here, so text-only
    use of a clip dataset never needs it.

    Example:
        >>> audio, sr, faces = load_clip("train_splits/dia0_utt0.mp4")  # doctest: +SKIP
    """
    from mmempathy.media.pipeline import clip_inputs

    audio, faces = clip_inputs(path, face_size=face_size, fps=fps, max_faces=max_frames, sample_rate=SAMPLE_RATE)
    return audio, SAMPLE_RATE if audio is not None else None, faces


def group_kfold(groups: Sequence, k: int) -> list[tuple[list, list]]:
    """Split distinct ``groups`` (actors, sessions, videos) into ``k`` folds, in sorted order.

    Fold ``i`` tests on every ``k``-th group starting at ``i``; returns ``[(train_groups, test_groups)]``.
    Deterministic, so two runs (and two people) get the same folds.
    """
    distinct = sorted(set(groups))
    if not 2 <= k <= len(distinct):
        raise ValueError(f"k must be in [2, {len(distinct)}], got {k}")
    folds = []
    for i in range(k):
        test = distinct[i::k]
        folds.append(([g for g in distinct if g not in test], test))
    return folds


def check_split(split: str, allowed: Sequence[str]) -> str:
    if split not in allowed:
        raise InputError(f"unknown split {split!r}; expected one of {list(allowed)}")
    return split


def require_dir(root: str | os.PathLike, what: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{what}: no such directory {root}")
    return root
