"""What one ``mmempathy bench`` invocation asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmempathy.config import FUSION_MODES
from mmempathy.errors import InputError


@dataclass
class BenchConfig:
    """One benchmark invocation (what the ``mmempathy bench`` command line fills in)."""

    recipe: str  # recipe name (mmempathy.bench.recipes.list_recipes())
    data_dir: str | None = None  # the dataset's folder (None: the registry's default under $MMEMPATHY_DATA)
    model: str = "lite"  # a name for mmempathy.hub.resolve_model: its encoders start the run, fusion starts fresh
    architecture_only: bool = False  # a preset's architecture and pretrained encoders, not its trained weights
    seeds: int = 1  # runs with seeds 0..seeds-1; test metrics are aggregated over them
    modalities: tuple[str, ...] | None = None  # a subset of the recipe's modalities (None: all)
    fusion: str = "late"  # "late" (gated calibrated heads), "attention" (gated features) or "concat" (baseline)
    calibrate: bool = True  # fit temperatures (and late fusion's gate biases) on dev before testing
    text_layers: int = 0  # 0: frozen text encoder on cached token states; N: fine-tune its top N layers
    video_faces: bool = False  # with an augmenting recipe: train faces on crops made to look cut from video
    epochs: int | None = None  # override the recipe's epochs
    batch_size: int | None = None  # override the recipe's batch size
    device: str = "auto"  # torch device ("auto": CUDA when present)
    num_workers: int = 0  # DataLoader workers (training and test prediction)
    limit: int = 0  # use at most this many items of every split (a smoke run; 0: all)
    n_boot: int = 1000  # bootstrap resamples for the test intervals
    out: str = "results"  # results go to <out>/<recipe>/<variant>/
    cache_dir: str = ""  # text feature cache ("": <out>/feature_cache)
    train: dict[str, Any] = field(default_factory=dict)  # further TrainConfig fields, over the recipe's
    progress: bool = True  # progress bars and a line per seed

    def __post_init__(self) -> None:
        if self.modalities is not None:
            self.modalities = tuple(self.modalities)
        checks = {
            "seeds must be >= 1": self.seeds >= 1,
            f"fusion must be one of {', '.join(FUSION_MODES)}": self.fusion in FUSION_MODES,
            "text_layers must be >= 0": self.text_layers >= 0,
            "limit must be >= 0": self.limit >= 0,
            "epochs must be >= 1": self.epochs is None or self.epochs >= 1,
        }
        failed = [msg for msg, ok in checks.items() if not ok]
        if failed:
            raise InputError("; ".join(failed))
