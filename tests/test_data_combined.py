"""Label-matched combinations join same-class items of unimodal sources."""

from __future__ import annotations

import numpy as np
import pytest

from mmempathy import InputError, Sample
from mmempathy.data.combined import LabelMatched


class Toy(list):
    labels = ["a", "b", "c"]

    def targets(self):
        return np.array([s.label for s in self])


def test_every_part_has_the_combined_label():
    texts = Toy(Sample(text=f"t{c}-{i}", label=c) for c in range(3) for i in range(4))
    faces = Toy(Sample(faces=np.full((1, 8, 8), c, np.uint8), label=c) for c in range(3) for i in range(2))
    combos = LabelMatched({"text": texts, "face": faces}, size=60, seed=1)
    assert len(combos) == 60 and set(combos.targets()) == {0, 1, 2}
    for i in range(60):
        s = combos[i]
        assert s.text.startswith(f"t{s.label}-") and s.faces[0, 0, 0] == s.label and s.audio is None
    assert LabelMatched({"text": texts, "face": faces}, size=60, seed=1)[7].text == combos[7].text


def test_classes_missing_from_a_source_are_never_drawn():
    texts = Toy(Sample(text="x", label=c) for c in range(3))
    faces = Toy(Sample(faces=np.zeros((8, 8), np.uint8), label=c) for c in (0, 2))
    assert set(LabelMatched({"text": texts, "face": faces}, size=50).targets()) == {0, 2}


def test_bad_sources():
    with pytest.raises(InputError, match="subset of"):
        LabelMatched({"video": Toy()}, size=3)
