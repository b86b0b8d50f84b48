"""``TrainConfig``: every knob of a training run, one field per line, loadable from YAML or JSON.

Example:
    >>> cfg = TrainConfig(epochs=3, lr_fusion=5e-4)
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmempathy.config import coerce
from mmempathy.errors import ConfigError

METRICS = {  # name -> True when larger is better
    "accuracy": True,
    "f1_weighted": True,
    "f1_macro": True,
    "loss": False,
    "mae": False,
    "corr": True,
}


@dataclass
class TrainConfig:
    """How to train an :class:`~mmempathy.model.EmotionFuser`; see ``docs`` of :class:`Trainer`."""

    output_dir: str = "runs/mmempathy"  # checkpoints (best/, last/), metrics.csv, tensorboard/, curves.png
    epochs: int = 10  # passes over the training data
    max_steps: int = 0  # stop after this many optimizer steps (0: no limit)
    batch_size: int = 16  # samples per micro-batch and per process
    grad_accum: int = 1  # micro-batches per optimizer step
    lr_encoder: float = 2e-5  # peak learning rate of the encoders' trainable parameters (LoRA included)
    lr_fusion: float = 1e-3  # peak learning rate of the fusion and the heads
    weight_decay: float = 0.01  # AdamW decay, not applied to biases and norm weights
    warmup_ratio: float = 0.05  # fraction of all optimizer steps spent warming up linearly
    schedule: str = "cosine"  # after warm-up: "cosine" (to min_lr_ratio) or "constant"
    min_lr_ratio: float = 0.0  # the cosine ends at this fraction of each peak rate
    max_grad_norm: float = 1.0  # clip the global gradient norm (0: no clipping)
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 elsewhere), "bf16" or "fp32"
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1" ...
    gradient_checkpointing: bool | None = None  # force encoder checkpointing on/off (None: the model config's)
    modality_dropout: float | None = None  # override config.fusion.modality_dropout (None: keep the model's)
    aux_weight: float | None = None  # weight of the per-modality losses (None: the model config's aux_loss_weight)
    label_smoothing: float = 0.0  # cross-entropy label smoothing (classification)
    class_weight: str | list[float] | None = None  # None, "balanced" (inverse frequency) or one weight per class
    lora: dict[str, Any] | None = None  # LoRA on the encoders, e.g. {"rank": 8}; see mmempathy.train.lora
    feature_cache: str = "auto"  # "auto" (when every encoder is frozen), "on" or "off"
    cache_dir: str = ""  # where cached encoder outputs live ("": <output_dir>/feature_cache)
    metric: str = "auto"  # selection metric: accuracy, f1_weighted, f1_macro, loss, mae, corr ("auto": task's)
    patience: int = 0  # stop after this many evaluations without improvement (0: never stop early)
    eval_every: int = 1  # evaluate every N epochs
    save_every_steps: int = 0  # also write last/ every N optimizer steps, for resuming mid-epoch (0: per epoch)
    resume: bool = True  # continue from <output_dir>/last when it holds a trainer state
    seed: int = 0  # seeds initialisation-free randomness: shuffling, dropout, modality dropout
    num_workers: int = 0  # DataLoader worker processes
    log_every: int = 10  # optimizer steps between TensorBoard loss points
    progress: bool = True  # tqdm progress bars
    tensorboard: bool = True  # write TensorBoard event files
    plot: bool = False  # draw the training curves to <output_dir>/curves.png at the end
    skip_unlabelled: bool = False  # drop unlabelled samples from batches instead of raising
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the resolved config

    def __post_init__(self) -> None:
        checks = {
            "epochs must be >= 1": self.epochs >= 1,
            "batch_size must be >= 1": self.batch_size >= 1,
            "grad_accum must be >= 1": self.grad_accum >= 1,
            "schedule must be 'cosine' or 'constant'": self.schedule in ("cosine", "constant"),
            "precision must be 'auto', 'bf16' or 'fp32'": self.precision in ("auto", "bf16", "fp32"),
            "feature_cache must be 'auto', 'on' or 'off'": self.feature_cache in ("auto", "on", "off"),
            f"metric must be 'auto' or one of {sorted(METRICS)}": self.metric == "auto" or self.metric in METRICS,
            "warmup_ratio must be in [0, 1)": 0 <= self.warmup_ratio < 1,
            "modality_dropout must be in [0, 1)": self.modality_dropout is None or 0 <= self.modality_dropout < 1,
        }
        failed = [msg for msg, ok in checks.items() if not ok]
        if failed:
            raise ValueError("; ".join(failed))

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | TrainConfig) -> TrainConfig:
        """Build from a plain dict; unknown keys are an error."""
        return coerce(cls, data)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a ``.yaml``/``.yml`` or ``.json`` file holding the fields (or a ``train:`` section)."""
        data = load_mapping(path)
        return cls.from_dict(data.get("train", data))


def yaml_error_text(err: Exception) -> str:
    """What PyYAML's error says went wrong, on one line (without its excerpt of the text)."""
    problem = getattr(err, "problem", None) or str(err)
    if type(err).__module__.split(".")[0] != "yaml":  # not a YAMLError: a scalar its constructor choked on
        problem = f"a value could not be read ({type(err).__name__}: {problem})"
    return "not valid YAML: " + " ".join(str(problem).split())


def load_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON file as a dict (YAML needs the ``train`` extra: ``pip install mmempathy[train]``).

    YAML is read with ``safe_load``: a tag such as ``!!python/object`` is refused, never executed.

    Raises:
        ConfigError: The file is not UTF-8 text, not valid YAML/JSON, or holds something other than a
            mapping with string keys at its top; the one-line message names the file (and line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:  # a directory, no permission
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except Exception as err:  # PyYAML's constructors also raise ValueError (2026-13-45), AttributeError...
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
            raise ConfigError(f"{where}: {yaml_error_text(err)}") from None
        data = {} if data is None else data
    else:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:
            where = f"{path}:{err.lineno}:{err.colno}" if isinstance(err, json.JSONDecodeError) else str(path)
            raise ConfigError(f"{where}: not valid JSON: {getattr(err, 'msg', err)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping (section: value), not a {type(data).__name__}")
    if not all(isinstance(k, str) for k in data):
        raise ConfigError(f"{path}: every top-level key must be a name, got {sorted(map(repr, data))}")
    return data
