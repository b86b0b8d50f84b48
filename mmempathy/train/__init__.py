"""Training: :class:`Trainer` and :class:`TrainConfig`, the feature cache, LoRA, data adapters.

Needs the ``train`` extra (``pip install mmempathy[train]``) for TensorBoard, YAML and LoRA.

Example:
    >>> from mmempathy.train import Trainer, TrainConfig  # doctest: +SKIP
    >>> Trainer(fuser, TrainConfig(epochs=5, output_dir="runs/x"), train_samples, val_samples).fit()  # doctest: +SKIP
"""

from mmempathy.train.cache import FeatureCache
from mmempathy.train.config import TrainConfig
from mmempathy.train.curves import plot_curves
from mmempathy.train.data import ClipDataset, FeatureDataset, LabelledCollate
from mmempathy.train.lora import apply_lora, merge_lora
from mmempathy.train.trainer import Trainer, TrainResult

__all__ = [
    "ClipDataset",
    "FeatureCache",
    "FeatureDataset",
    "LabelledCollate",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "apply_lora",
    "merge_lora",
    "plot_curves",
]
