"""Label-matched combinations of unimodal datasets: a stand-in for multimodal clips where none exist.

Each item draws, for one class, a text from one dataset, a speech clip from another and a face
from a third, all labelled with that class, and joins them into one :class:`Sample`. Classes are
drawn uniformly, so rare classes of one source are not drowned out. This teaches a fusion module
how to weigh modalities that each carry the label; it cannot teach how real people's words, voice
and face co-vary, which such combinations do not show.

Example:
    >>> from mmempathy.data import get_dataset  # doctest: +SKIP
    >>> combos = LabelMatched({"text": meld, "audio": ravdess, "face": fer}, size=4000, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from torch.utils.data import Dataset

from mmempathy.errors import InputError
from mmempathy.sample import Sample

FIELDS = {"text": ("text",), "audio": ("audio", "sample_rate"), "face": ("faces",)}


class LabelMatched(Dataset):
    """``size`` samples, each joining one same-class item of every source dataset.

    Args:
        sources: Modality name (``"text"``, ``"audio"``, ``"face"``) -> a dataset with ``targets()``
            and ``labels`` (the adapters of :mod:`mmempathy.data`), all in the same label space.
        size: Number of combined samples.
        seed: Seed of the draws (fixed: item ``i`` is always the same combination).
    """

    def __init__(self, sources: Mapping[str, Sequence[Sample]], size: int, seed: int = 0) -> None:
        unknown = sorted(set(sources) - set(FIELDS))
        if unknown or not sources:
            raise InputError(f"sources must be a subset of {sorted(FIELDS)}, got {sorted(sources)}")
        label_sets = {tuple(ds.labels) for ds in sources.values()}
        if len(label_sets) != 1:
            raise InputError(f"the source datasets use different label sets: {sorted(label_sets)}")
        self.sources, self.labels = dict(sources), list(label_sets.pop())
        by_class = {
            m: [np.flatnonzero(ds.targets() == c) for c in range(len(self.labels))] for m, ds in sources.items()
        }
        classes = [c for c in range(len(self.labels)) if all(len(by_class[m][c]) for m in sources)]
        rng = np.random.default_rng(seed)
        self.targets_ = rng.choice(classes, size=size)
        self.picks = {m: np.array([rng.choice(by_class[m][c]) for c in self.targets_]) for m in sources}

    def __len__(self) -> int:
        return len(self.targets_)

    def targets(self) -> np.ndarray:
        """The class of every combined sample."""
        return self.targets_

    def __getitem__(self, index: int) -> Sample:
        parts = {}
        for m, ds in self.sources.items():
            item = ds[int(self.picks[m][index])]
            parts.update({f: getattr(item, f) for f in FIELDS[m]})
        return Sample(**parts, label=int(self.targets_[index]), meta={"combined": True})
