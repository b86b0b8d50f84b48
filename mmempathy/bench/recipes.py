"""Benchmark recipes: one per dataset, as data.

A recipe says which dataset adapter to build and with which options, which modalities the model
reads (and how: the preset's encoder, or pre-extracted features of a given size), the training
defaults, the metric that selects on dev and is reported on test, and the published numbers on the
same split to put beside ours. The runner (:mod:`mmempathy.bench.runner`) has no dataset-specific
code: datasets differ only by their recipe.

Example:
    >>> get_recipe("meld").metric
    'f1_weighted'
    >>> sorted(RECIPES)[:3]
    ['cremad', 'fer2013', 'goemotions']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mmempathy.errors import InputError


@dataclass(frozen=True)
class Published:
    """One published result on the same test split."""

    method: str  # what was run (model, modalities)
    value: float  # in percent
    metric: str  # which metric (one of the runner's metric names)
    source: str  # paper, year, table


@dataclass(frozen=True)
class Recipe:
    """How to benchmark on one dataset."""

    name: str  # the name on the command line
    dataset: str  # name in the data registry (mmempathy.data.get_dataset)
    description: str  # one line for --list and the results table
    modalities: tuple[str, ...]  # modalities the model reads: "text", "audio", "face"
    features: dict[str, int] = field(default_factory=dict)  # modality -> size of its pre-extracted feature vectors
    standardize: tuple[str, ...] = ()  # feature modalities z-scored per dimension with the train split's statistics
    dataset_options: dict[str, Any] = field(default_factory=dict)  # keyword options of the adapter, every split
    dev_split: str | None = "dev"  # the adapter's selection split; None: hold out dev_fraction of train
    test_split: str = "test"  # the adapter's test split (reported once, never used for choices)
    dev_fraction: float = 0.1  # with dev_split=None: share of train held out (stratified, seed 0)
    metric: str = "f1_weighted"  # selects on dev and heads the test table
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig defaults of this recipe
    augment: bool = False  # wrap train in mmempathy.train.augment.Augmented (faces, speech)
    preload: bool = False  # load every item's media into memory once (small media, many epochs)
    published: tuple[Published, ...] = ()  # results of others on the same test split
    notes: str = ""  # protocol details written beside the results

    def with_modalities(self, modalities: tuple[str, ...]) -> Recipe:
        """The same recipe on a subset of its modalities (``--modalities``)."""
        unknown = sorted(set(modalities) - set(self.modalities))
        if unknown or not modalities:
            raise InputError(f"recipe {self.name!r} has modalities {list(self.modalities)}; got {list(modalities)}")
        ordered = tuple(m for m in self.modalities if m in modalities)
        features = {m: d for m, d in self.features.items() if m in ordered}
        standardize = tuple(m for m in self.standardize if m in ordered)
        return dataclasses.replace(self, modalities=ordered, features=features, standardize=standardize)


MELD_PUBLISHED = (
    Published("EmoCaps (text)", 63.5, "f1_weighted", "Li et al. 2022"),
    Published("TelME (text+audio+video)", 67.4, "f1_weighted", "Yun et al. 2024"),
    Published("InstructERC (text, LLM)", 69.2, "f1_weighted", "Lei et al. 2023"),
)

MOSI_PUBLISHED = (
    Published("bc-LSTM, context (text)", 78.1, "accuracy", "Poria et al. ACL 2017, Tables 3-4"),
    Published("bc-LSTM, context (audio)", 60.3, "accuracy", "Poria et al. ACL 2017, Tables 3-4"),
    Published("bc-LSTM, context (video)", 55.8, "accuracy", "Poria et al. ACL 2017, Tables 3-4"),
    Published("bc-LSTM, context (text+audio+video)", 80.3, "accuracy", "Poria et al. ACL 2017, Tables 3-4"),
    Published("no context (text)", 75.0, "accuracy", "Majumder et al. 2018, Table 2"),
    Published("no context, concatenation (T+A+V)", 77.0, "accuracy", "Majumder et al. 2018, Table 2"),
    Published("no context, hierarchical fusion (T+A+V)", 77.9, "accuracy", "Majumder et al. 2018, Table 2"),
)

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            name="meld",
            dataset="meld",
            description="MELD utterances, 7 emotions, official train/dev/test",
            modalities=("text",),
            dataset_options={"target": "emotion"},
            metric="f1_weighted",
            train={"epochs": 10, "batch_size": 32, "lr_fusion": 5e-4, "patience": 4},
            published=MELD_PUBLISHED,
            notes="Utterances alone (no dialogue context).",
        ),
        Recipe(
            name="mosi",
            dataset="mosi",
            description="CMU-MOSI utterances, binary sentiment, speaker-independent split",
            modalities=("text", "audio", "face"),
            features={"audio": 73, "face": 100},
            standardize=("audio", "face"),
            dataset_options={"features": ("audio", "face"), "dev_videos": 6},
            metric="accuracy",
            train={"epochs": 30, "batch_size": 32, "lr_fusion": 5e-4, "weight_decay": 0.05, "patience": 8},
            published=MOSI_PUBLISHED,
            notes="Text is the transcript through the text encoder; audio the 73-d openSMILE vector, face "
            "the 100-d 3D-CNN vector of the release. Dev: 6 of the 62 train videos (seed 0); test: 752 "
            "utterances of 31 unseen speakers.",
        ),
        Recipe(
            name="ravdess",
            dataset="ravdess",
            description="RAVDESS speech, 8 native classes, actor-independent (train 1-16, dev 17-18, test 19-24)",
            modalities=("audio",),
            dataset_options={"label_space": "native", "channel": "speech"},
            metric="accuracy",
            train={"epochs": 30, "batch_size": 16, "lr_encoder": 1e-3, "lr_fusion": 1e-3, "patience": 8},
            augment=True,
            preload=True,
            published=(
                Published("WavLM-large (EmoBox, 8 classes)", 72.2, "accuracy", "Ma et al. 2024, EmoBox"),
                Published("Whisper-large-v3 (EmoBox, 8 classes)", 75.9, "accuracy", "Ma et al. 2024, EmoBox"),
            ),
            notes="EmoBox reports averages over its own actor folds; ours is one fixed actor split.",
        ),
        Recipe(
            name="fer2013",
            dataset="fer2013",
            description="FER2013 faces, 7 classes, official train, test = PublicTest + PrivateTest",
            modalities=("face",),
            dev_split=None,
            dev_fraction=0.1,
            metric="accuracy",
            train={"epochs": 40, "batch_size": 128, "lr_encoder": 2e-3, "lr_fusion": 2e-3, "patience": 10},
            augment=True,
            preload=True,
            published=(
                Published("mini-Xception", 66.0, "accuracy", "Arriaga et al. 2017"),
                Published("VGG variant (best single network)", 73.3, "accuracy", "Khaireddin & Chen 2021"),
            ),
            notes="Dev is 10% of the official train (stratified, seed 0), so neither test half is used for selection.",
        ),
        Recipe(
            name="cremad",
            dataset="cremad",
            description="CREMA-D speech, 6 intended emotions, audeering's actor-independent split",
            modalities=("audio",),
            dataset_options={"media": "audio"},
            metric="accuracy",
            train={"epochs": 20, "batch_size": 16, "lr_encoder": 1e-3, "lr_fusion": 1e-3, "patience": 6},
            augment=True,
        ),
        Recipe(
            name="iemocap",
            dataset="iemocap",
            description="IEMOCAP speech + transcripts, 4 classes (happy+excited), session 5 as test",
            modalities=("text", "audio"),
            dataset_options={"label_space": "four", "test_session": 5},
            dev_split=None,
            dev_fraction=0.1,
            metric="accuracy",
            train={"epochs": 15, "batch_size": 16, "lr_encoder": 5e-4, "lr_fusion": 5e-4, "patience": 5},
            augment=True,
            notes="Dev is 10% of sessions 1-4 (stratified, seed 0); one fold of leave-one-session-out.",
        ),
        Recipe(
            name="mosei",
            dataset="mosei",
            description="CMU-MOSEI segments, binary sentiment (negative vs non-negative), standard folds",
            modalities=("text", "audio"),
            dataset_options={"target": "sentiment2", "require_media": True},
            metric="accuracy",
            train={"epochs": 10, "batch_size": 16, "lr_encoder": 5e-4, "lr_fusion": 5e-4, "patience": 4},
        ),
        Recipe(
            name="goemotions",
            dataset="goemotions",
            description="GoEmotions Reddit comments, Ekman groups + neutral (single-label items), official splits",
            modalities=("text",),
            dataset_options={"variant": "ekman", "multi": "drop"},
            metric="f1_weighted",
            train={"epochs": 8, "batch_size": 64, "lr_fusion": 5e-4, "patience": 3},
            notes="Items with more than one label are left out.",
        ),
    )
}


def list_recipes() -> list[str]:
    """Names of the recipes, sorted."""
    return sorted(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; raises :class:`InputError` naming the known ones otherwise."""
    if name not in RECIPES:
        raise InputError(f"unknown benchmark {name!r}; available: {', '.join(list_recipes())}")
    return RECIPES[name]
