"""Named presets (data in ``presets/*.json``) and resolving a model name, once, for every caller.

:func:`resolve_model` is the one place a name means something (timm's ``create_model`` is the
model): an existing local directory, then a preset name, then a Hugging Face hub repository (which
honours ``HF_HUB_OFFLINE``). A preset whose trained weights ship inside the package (``lite``)
resolves to those weights, wherever the name is used: :meth:`EmotionFuser.from_pretrained` loads
them, ``mmempathy train`` starts from them (unless its config says ``weights: none``), and
``mmempathy bench`` takes their encoders and trains a fresh fusion.
"""

from __future__ import annotations

import json
import logging
import math
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mmempathy.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
# safetensors refuses headers over 100 MB; a header is a few kB per thousand tensors.
MAX_HEADER_BYTES = 100_000_000
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
# What the first bytes of the usual pickled checkpoints look like (said in errors, never loaded).
PICKLE_SIGNS = {b"PK\x03\x04": "a zip archive (torch.save)", b"\x80": "a pickle (torch.save / pickle.dump)"}


def list_models() -> list[str]:
    """Names of the presets :meth:`EmotionFuser.from_pretrained` accepts.

    Example:
        >>> list_models()
        ['base', 'lite', 'tiny']
    """
    return sorted(
        p.name.removesuffix(".json") for p in resources.files("mmempathy.presets").iterdir() if p.name.endswith(".json")
    )


def load_preset(name: str) -> dict[str, Any]:
    """The preset's JSON: ``description``, ``config`` (a ModelConfig dict), optional ``weights``."""
    return json.loads(resources.files("mmempathy.presets").joinpath(f"{name}.json").read_text())


def packaged_weights(preset: dict[str, Any]) -> Path | None:
    """The directory of a preset's trained weights shipped inside the package, if it is there."""
    if not preset.get("weights"):
        return None
    path = Path(str(resources.files("mmempathy"))) / preset["weights"]
    return path if (path / WEIGHTS_NAME).is_file() else None


@dataclass(frozen=True)
class ResolvedModel:
    """What a model name stands for.

    Example:
        >>> resolved = resolve_model("tiny")
        >>> resolved.weights_dir is None, resolved.origin
        (True, "preset 'tiny' (architecture only: no trained weights ship with it; random encoders)")
    """

    config: dict[str, Any]  # the ModelConfig as a dict (a checkpoint's own config.json when there is one)
    weights_dir: Path | None  # a checkpoint directory holding trained weights; None: build from the config
    pretrained_encoders: bool  # without trained weights: load each encoder's pretrained weights (else random)
    origin: str  # where it came from, in words, for logs and result files


def resolve_model(name_or_path: str | Path, *, weights: bool = True) -> ResolvedModel:
    """Resolve a local checkpoint directory, a preset name (:func:`list_models`) or a hub repository.

    ``weights=False`` asks for a preset's architecture alone (its encoders' pretrained weights, no
    trained fusion), even where trained weights ship with it.

    Raises:
        CheckpointError: A directory that is not a checkpoint, or a name that is none of the three.
    """
    path = Path(name_or_path)
    if path.is_dir():
        return _checkpoint(path, f"checkpoint directory {str(path)!r}")
    name = str(name_or_path)
    if name in list_models():
        preset = load_preset(name)
        shipped = packaged_weights(preset)
        if shipped is not None and weights:
            return _checkpoint(shipped, f"preset {name!r} (its trained weights, shipped in {preset['weights']})")
        pretrained = preset.get("pretrained_encoders", True)
        source = "pretrained encoders" if pretrained else "random encoders"
        note = "architecture only" + ("" if shipped is not None else ": no trained weights ship with it")
        return ResolvedModel(preset["config"], None, pretrained, f"preset {name!r} ({note}; {source})")
    return _checkpoint(download(name), f"hub repository {name!r}")


def _checkpoint(path: Path, origin: str) -> ResolvedModel:
    check_checkpoint_dir(path)
    read_config(path)  # a damaged config fails here, naming the file and the field
    return ResolvedModel(json.loads((path / CONFIG_NAME).read_text())["config"], path, False, origin)


def download(repo_id: str) -> Path:
    """A hub repository's snapshot (from the local cache when ``HF_HUB_OFFLINE=1``, or when the hub cannot be
    reached and the cache holds it: :func:`require_hub`)."""
    from huggingface_hub import snapshot_download

    try:
        require_hub([repo_id], f"{repo_id!r} is neither a local directory nor a preset ({', '.join(list_models())}):")
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, f"{TOKENIZER_DIR}/*"]))
    except CheckpointError:
        raise
    except Exception as err:  # the hub client raises many types: connection, auth, not found, offline
        raise CheckpointError(
            f"{repo_id!r} is neither a local directory, nor a preset ({', '.join(list_models())}), nor a "
            f"reachable hub repository: {type(err).__name__}: {err}"
        ) from err


def check_checkpoint_dir(path: Path) -> None:
    """Raise :class:`CheckpointError` naming what a checkpoint directory lacks."""
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (path / n).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint directory {str(path)!r} lacks {', '.join(missing)}")


def read_config(path: Path) -> Any:
    """The :class:`~mmempathy.config.ModelConfig` stored in a checkpoint directory's ``config.json``.

    Raises:
        CheckpointError: The file is not JSON, not an mmempathy config, or a field is unknown, of
            the wrong type or out of range (the message names the file and the field).
    """
    from mmempathy.config import ModelConfig

    file = path / CONFIG_NAME
    try:
        meta = json.loads(file.read_bytes())
    except (OSError, ValueError, RecursionError) as err:  # ValueError covers JSON and UTF-8 errors
        raise CheckpointError(f"{file} is not readable JSON: {err}") from err
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{file} is not an mmempathy config: expected an object with a 'config' object")
    try:
        return ModelConfig.from_dict(meta["config"])
    except ConfigError as err:
        raise CheckpointError(f"{file} is not a valid mmempathy config: {err}") from err


def check_safetensors(file: Path) -> None:
    """Check that ``file`` is a whole safetensors file, reading only its header (nothing is executed).

    safetensors itself would refuse these files too, but with messages such as "header too large"
    for a pickle; this names the file and the problem, and runs before anything reads the tensors.

    Raises:
        CheckpointError: The file is missing, empty, truncated, a pickle or zip archive, or its
            header is not valid (bad JSON, a negative or non-integer dimension, an unknown dtype,
            offsets that do not match the shapes or run past the end of the file).
    """
    try:
        size = file.stat().st_size
        with open(file, "rb") as handle:
            head = handle.read(8)
            length = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            raw = handle.read(length) if 0 < length <= min(MAX_HEADER_BYTES, size - 8) else b""
    except OSError as err:
        raise CheckpointError(f"cannot read {file}: {err}") from err
    if size < 8:
        state = "empty" if size == 0 else "truncated"
        raise CheckpointError(f"{file} is {state} ({size} bytes): not a safetensors file")
    if len(raw) != length or length == 0:
        sign = next((what for magic, what in PICKLE_SIGNS.items() if head.startswith(magic)), None)
        if sign is not None:
            raise CheckpointError(f"{file} is {sign}, not safetensors: it is refused (pickles can run code)")
        raise CheckpointError(
            f"{file} is truncated or not a safetensors file: its header claims {length} bytes, the file "
            f"has {size - 8} after the length field"
        )
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise CheckpointError(f"{file} has a corrupt safetensors header (not JSON: {err})") from err
    if not isinstance(header, dict):
        raise CheckpointError(f"{file} has a corrupt safetensors header (not a JSON object)")
    data_size = size - 8 - length
    covered = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        problem = _tensor_problem(entry, data_size)
        if problem:
            raise CheckpointError(f"{file}: tensor {name!r} in the header {problem}")
        covered += entry["data_offsets"][1] - entry["data_offsets"][0]
    if covered != data_size:
        raise CheckpointError(
            f"{file} is truncated or padded: its tensors take {covered} bytes, the file holds {data_size}"
        )


def _tensor_problem(entry: Any, data_size: int) -> str:
    """What is wrong with one header entry of a safetensors file ("" when nothing is)."""
    if not isinstance(entry, dict):
        return "is not an object"
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        return f"has an unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        return f"has a shape that is not a list of integers: {shape!r}"
    if any(d < 0 for d in shape):
        return f"has a negative dimension: shape {shape}"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        return f"has invalid data_offsets {offsets!r}"
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        return f"points past the end of the file (bytes {begin}..{end} of {data_size}; truncated?)"
    need = math.prod(shape) * DTYPE_BYTES[dtype]
    if end - begin != need:
        return f"takes {end - begin} bytes, but a {dtype} tensor of shape {shape} needs {need}"
    return ""


def load_safetensors(file: Path) -> dict[str, Any]:
    """The tensors of a checked safetensors file (see :func:`check_safetensors`)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    check_safetensors(file)
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, RuntimeError) as err:  # what the header check cannot see
        raise CheckpointError(f"{file} is not a valid safetensors file: {err}") from err


# Files with which transformers and timm would fall back to torch.load.
# how long the hub has to answer before it counts as unreachable (its client would retry for about a minute)
HUB_TIMEOUT = 5.0
SAVE_A_COPY = (
    "Use a local copy: where the hub can be reached, run EmotionFuser.from_pretrained(NAME).save_pretrained(DIR) "
    "once, then pass DIR (--model DIR, or EmotionFuser.from_pretrained(DIR)); an encoder's `name` in a model "
    "config may also be a local directory. HF_HUB_OFFLINE=1 reads the hub's cache alone."
)


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached, in words; ``None`` when it answers, or in offline mode
    (``HF_HUB_OFFLINE=1``: the cache alone is read, nothing is asked of the hub)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_TIMEOUT)  # any HTTP answer: it is there
    except Exception as err:  # DNS, refused, timed out, proxy: whatever the HTTP client says
        return f"{type(err).__name__}: {err}"
    return None


def require_hub(repos: list[str], what: str) -> None:
    """Before ``repos`` load from the hub: when it cannot be reached, read them from the local cache without
    asking it (the hub client would retry for about a minute first), or fail at once when the cache lacks one.

    Raises:
        CheckpointError: Beginning with ``what``, naming the repositories missing and how to use a local copy.
    """
    if not repos:
        return
    reason = hub_unreachable()
    if reason is None:
        return
    from huggingface_hub import constants, try_to_load_from_cache

    missing = [r for r in repos if not isinstance(try_to_load_from_cache(r, CONFIG_NAME), str)
               and not isinstance(try_to_load_from_cache(r, WEIGHTS_NAME), str)]  # fmt: skip
    if missing:
        raise CheckpointError(
            f"{what} {', '.join(missing)} must come from the Hugging Face hub ({constants.ENDPOINT}), which cannot "
            f"be reached ({reason}), and the local cache does not hold {'it' if len(missing) == 1 else 'them'}. "
            f"{SAVE_A_COPY}"
        )
    log.warning("the Hugging Face hub cannot be reached (%s): %s load from the local cache", reason, ", ".join(repos))
    constants.HF_HUB_OFFLINE = True  # read by the hub client, transformers and timm at each call


def encoder_repo(config: Any, source: str) -> str | None:
    """The hub repository a pretrained encoder loads from (``source`` as its loader reads it), or ``None`` when
    it loads from a local directory, a file or a package."""
    if config.kind == "hf":
        return None if not source or Path(source).exists() else source
    if config.kind == "timm":
        if isinstance(config.arch, dict) and config.arch.get("weights_file"):
            return None
        if config.name.startswith("hf-hub:"):
            return config.name.removeprefix("hf-hub:").split("@")[0]
        import timm

        pretrained = timm.get_pretrained_cfg(config.name)
        return getattr(pretrained, "hf_hub_id", None) if pretrained is not None else None
    return None  # project encoders, and Whisper's packaged or local models


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def check_encoder_source(config: Any, source: str, modality: str) -> None:
    """Refuse to load an encoder's pretrained weights from anything but safetensors.

    A local directory (``source``, as the encoder will read it) must hold ``*.safetensors``
    weights: otherwise transformers would fall back to ``pytorch_model.bin`` and ``torch.load``.
    A timm ``arch["weights_file"]`` must be a ``.safetensors`` file. Each such file's header is
    checked. Hub names are left to the hub client (which fetches safetensors when a repository
    has them). Called before the encoder is built, so a pickle is never even opened.

    Raises:
        CheckpointError: Naming the directory or file and what it holds instead.
    """
    weights_file = config.arch.get("weights_file") if isinstance(config.arch, dict) else None
    if weights_file:
        file = Path(str(weights_file))
        if file.suffix != ".safetensors":
            raise CheckpointError(
                f"the {modality} encoder's weights_file {str(file)!r} is not a .safetensors file; only safetensors "
                "weights are loaded (convert it with safetensors.torch.save_file)"
            )
        check_safetensors(file)
    path = Path(source)
    if not source or not path.exists():
        return
    if not path.is_dir():
        raise CheckpointError(f"the {modality} encoder's source {source!r} is a file, not a model directory")
    found = sorted(path.glob("*.safetensors"))
    if not found:
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
        held = f"it holds {', '.join(pickles)} (pickle, refused: pickles can run code)" if pickles else "it holds none"
        raise CheckpointError(
            f"the {modality} encoder directory {source!r} has no *.safetensors weights; {held}. Convert the "
            "weights to safetensors (model.save_pretrained(dir, safe_serialization=True))"
        )
    for file in found:
        check_safetensors(file)
