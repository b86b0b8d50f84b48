"""``mmempathy train --config run.yaml``: a training run described by one file.

The file has four parts::

    model: tiny                      # a preset, a checkpoint directory, {preset: lite, <overrides>},
                                     # or a full ModelConfig dict (add pretrained_encoders: true to load them);
                                     # lite starts from its shipped weights ({preset: lite, weights: none}: not)
    data:                            # one of:
      name: mosi                     #   a registered dataset: mmempathy.data.get_dataset(...)
      data_dir: ../shared/data/mosi
      train_split: train
      val_split: dev
      options: {}
      # train_csv: clips.csv         #   clips with labels (path,label[,text]); val_csv: ...
      # train_features: train.npz    #   pre-extracted features (arrays text/audio/face + label); val_features: ...
    train: {epochs: 10, lr_fusion: 1e-3}   # TrainConfig fields
    output_dir: runs/mosi            # overrides train.output_dir

The resolved run (full model config, data section, every TrainConfig field) is written to
``<output_dir>/run.yaml`` beside the checkpoints. ``--set train.epochs=3`` overrides any entry.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

from mmempathy.config import _kind
from mmempathy.errors import ConfigError, InputError

SECTIONS = ("model", "data", "train", "output_dir")
DATA_TEXT = ("name", "data_dir", "train_split", "val_split", "train_csv", "val_csv", "train_features",
             "val_features", "task")  # fmt: skip
DATA_KEYS = (*DATA_TEXT, "options", "labels", "face_size", "fps", "max_faces")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser("train", help="train a model from a YAML/JSON run file", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--config", required=True, help="the run file (.yaml, .yml or .json)")
    p.add_argument("--output-dir", help="where checkpoints and logs go (overrides the file)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.epochs=3")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if <output_dir>/last exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resolve the run file, build model and data, train, and print where the best checkpoint is."""
    from mmempathy.train.config import load_mapping

    path = Path(args.config)
    if not path.is_file():
        raise InputError(f"run file not found: {path}")
    spec = load_mapping(path)
    for item in args.set:
        apply_override(spec, item)
    check_spec(spec)
    if args.output_dir:
        spec["output_dir"] = args.output_dir
    if args.no_resume:
        spec.setdefault("train", {})["resume"] = False
    result = train_from_spec(spec, base_dir=path.parent)
    print(f"best checkpoint: {result.best_dir}")
    return 0


def apply_override(spec: dict[str, Any], item: str) -> None:
    """``a.b=value`` (the value parsed as YAML, safely: tags are refused) into the nested dict ``spec``."""
    import yaml

    from mmempathy.train.config import yaml_error_text

    key, sep, value = item.partition("=")
    parts = key.split(".")
    if not sep or not all(p.strip() for p in parts):
        raise InputError(f"--set needs KEY=VALUE with a dotted KEY such as train.epochs, got {item!r}")
    node = spec
    for depth, part in enumerate(parts[:-1]):
        if node.get(part) is None:  # absent, or an empty section ("train:" in YAML)
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            where = ".".join(parts[: depth + 1])
            raise InputError(f"--set {key}: {where} is {_kind(node)}, not a section with keys")
    try:
        node[parts[-1]] = yaml.safe_load(value)
    except Exception as err:  # PyYAML raises YAMLError, and ValueError/AttributeError for some bad scalars
        raise InputError(f"--set {key}: the value is {yaml_error_text(err)}") from None


def check_spec(spec: Any) -> None:
    """The run's shape, checked before anything is built: known sections of the right kinds, ``data``'s
    known keys with names and paths as strings.

    Raises:
        InputError: An unknown section.
        ConfigError: A section or ``data`` entry of the wrong kind, or an unknown ``data`` key.
    """
    if not isinstance(spec, dict) or not all(isinstance(k, str) for k in spec):
        raise ConfigError(f"a run must be a mapping of sections ({', '.join(SECTIONS)}), not {_kind(spec)}")
    unknown = sorted(set(spec) - set(SECTIONS))
    if unknown:
        raise InputError(f"unknown run file section(s): {unknown}; expected model, data, train, output_dir")
    model = spec.get("model", "tiny")
    if not isinstance(model, (str, dict)) or (isinstance(model, dict) and not all(isinstance(k, str) for k in model)):
        raise ConfigError(f"model must be a preset name, a checkpoint directory or a mapping, not {_kind(model)}")
    for section in ("data", "train"):
        if spec.get(section) is not None and not isinstance(spec[section], dict):
            raise ConfigError(f"the {section} section must be a mapping (key: value), not {_kind(spec[section])}")
    if spec.get("output_dir") is not None and not isinstance(spec["output_dir"], str):
        raise ConfigError(f"output_dir must be a path, not {_kind(spec['output_dir'])}")
    data = spec.get("data") or {}
    unknown = sorted(str(k) for k in data if k not in DATA_KEYS)
    if unknown:
        raise ConfigError(f"unknown data key(s): {', '.join(unknown)}; expected some of {', '.join(DATA_KEYS)}")
    for key in DATA_TEXT:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(f"data.{key} must be a string, not {_kind(data[key])}")
    options = data.get("options")
    if options is not None and not (isinstance(options, dict) and all(isinstance(k, str) for k in options)):
        raise ConfigError(f"data.options must be a mapping of option names, not {_kind(options)}")
    labels = data.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        raise ConfigError(f"data.labels must be a list of class names, not {_kind(labels)}")


def train_from_spec(spec: dict[str, Any], *, base_dir: Path = Path(".")) -> Any:
    """Everything ``mmempathy train`` does, from the run dict; returns the :class:`TrainResult`."""
    from mmempathy.train import TrainConfig, Trainer

    check_spec(spec)
    train_cfg = dict(spec.get("train") or {})
    if spec.get("output_dir"):
        train_cfg["output_dir"] = spec["output_dir"]
    try:
        config = TrainConfig.from_dict(train_cfg)
    except ValueError as err:  # a typo in the run file is the user's error, not a bug
        raise InputError(f"train section: {err}") from err
    data = spec.get("data") or {}
    train_data, val_data, info = load_data(data, base_dir)
    fuser = build_model(spec.get("model", "tiny"), info, base_dir)
    trainer = Trainer(fuser, config, train_data, val_data)
    if trainer.rank == 0:
        write_resolved(spec, fuser, config)
    return trainer.fit()


def build_model(model: Any, info: dict[str, Any], base_dir: Path) -> Any:
    """A model from a name (preset, checkpoint directory or hub repository), a name with overrides
    (``{preset: lite, fusion: {...}}``) or a full ModelConfig dict.

    A name starts from what :func:`mmempathy.hub.resolve_model` gives it: ``lite`` from its shipped
    trained weights, unless the entry says ``weights: none`` (then the architecture with its encoders'
    pretrained weights). Tensors that no longer fit start fresh (the heads, when the data's labels are
    not the checkpoint's), the fitted calibration is dropped (it belongs to the old weights), and a
    line on stderr says where the model started. A model built from a config takes the dataset's
    labels and task when the config does not name its own.
    """
    from mmempathy import EmotionFuser, hub

    model = copy.deepcopy({"preset": model} if isinstance(model, str) else model)
    pretrained = model.pop("pretrained_encoders", None)
    weights = model.pop("weights", "trained")
    if weights not in ("trained", "none"):
        raise InputError(f"model.weights must be 'trained' or 'none', not {weights!r}")
    start = None
    if "preset" in model:
        name = str(model.pop("preset"))
        local = base_dir / name
        start = hub.resolve_model(local if local.is_dir() else name, weights=weights == "trained")
        config = deep_merge({k: v for k, v in start.config.items() if k != "calibration"}, model)
        pretrained = start.pretrained_encoders if pretrained is None else pretrained
    else:
        config = model
    relabelled = info.get("labels") is not None and "labels" not in model and config.get("labels") is not None
    relabelled = relabelled and list(config["labels"]) != list(info["labels"])
    for key in ("labels", "task"):
        if info.get(key) is not None and (key not in config or (key == "labels" and relabelled)):
            config[key] = list(info[key]) if key == "labels" else info[key]
    if start is None or start.weights_dir is None:
        if start is not None:
            print(f"model: {start.origin}", file=sys.stderr)
        return EmotionFuser(config, pretrained_encoders=bool(pretrained))
    parts = ("encoders.", "fusion.") if relabelled else None
    fuser, loaded = EmotionFuser.initialised_from(config, start.weights_dir, parts=parts)
    fresh = "; heads fresh for the data's labels" if relabelled else ""
    print(f"model: starts from {start.origin}: {loaded} tensors loaded{fresh}", file=sys.stderr)
    return fuser


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top, dicts merged key by key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_data(data: dict[str, Any], base_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """Train and validation datasets from the ``data`` section, plus their ``labels``/``task`` if known."""
    from mmempathy.train.data import ClipDataset, FeatureDataset

    def resolve(p: str) -> Path:
        return Path(p) if Path(p).is_absolute() else base_dir / p

    if "name" in data:
        from mmempathy.data import get_dataset

        options = data.get("options") or {}
        root = data.get("data_dir")
        train = get_dataset(data["name"], root, data.get("train_split", "train"), **options)
        val = get_dataset(data["name"], root, data["val_split"], **options) if data.get("val_split") else None
        return train, val, {"labels": getattr(train, "labels", None), "task": getattr(train, "task", None)}
    if "train_csv" in data:
        labels = data.get("labels")
        if not labels:
            raise InputError("data.train_csv needs data.labels: the class names in the model's order")
        kw = {k: data[k] for k in ("task", "face_size", "fps", "max_faces") if k in data}
        train = ClipDataset.from_csv(resolve(data["train_csv"]), labels=labels, **kw)
        val = ClipDataset.from_csv(resolve(data["val_csv"]), labels=labels, **kw) if data.get("val_csv") else None
        return train, val, {"labels": labels, "task": kw.get("task")}
    if "train_features" in data:
        train = FeatureDataset.from_npz(resolve(data["train_features"]))
        val = FeatureDataset.from_npz(resolve(data["val_features"])) if data.get("val_features") else None
        return train, val, {"labels": data.get("labels"), "task": data.get("task")}
    raise InputError("the data section needs name (a registered dataset), train_csv or train_features")


def write_resolved(spec: dict[str, Any], fuser: Any, config: Any) -> Path:
    """``<output_dir>/run.yaml``: the run as resolved (full model config and every train field)."""
    import yaml

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = {
        "model": fuser.config.to_dict(),
        "data": spec.get("data") or {},
        "train": config.to_dict(),
        "output_dir": config.output_dir,
    }
    path = out / "run.yaml"
    path.write_text(yaml.safe_dump(to_plain(resolved), sort_keys=False))
    return path


def to_plain(value: Any) -> Any:
    """Tuples to lists, recursively (YAML's safe dumper knows no tuples)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value
