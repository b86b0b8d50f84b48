"""An export directory's files: their names and format, each read and checked against ``config.json``,
and the lengths the fusion graph reads (:func:`pool_stride`), which the exporter and the runtime share.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mmempathy.config import ModelConfig
from mmempathy.errors import CheckpointError
from mmempathy.modality import Modality

FORMAT, VERSION = "mmempathy-onnx", 1
CONFIG_NAME, TOKENIZER_FILE, MEL_FILTERS = "config.json", "tokenizer/tokenizer.json", "mel_filters.npy"


def pool_stride(config: ModelConfig, m: Modality) -> int:
    """Tokens the fusion pools into one for modality ``m`` (faces, a set, are pooled whole instead)."""
    return 1 if m is Modality.FACE else int(config.fusion.pool.get(m.value, 1))


def _read_meta(directory: Path) -> dict[str, Any]:
    """An export's ``config.json``, or :class:`CheckpointError` saying why ``directory`` is not an export."""
    file = directory / CONFIG_NAME
    if not file.is_file():
        raise CheckpointError(f"{str(directory)!r} is not an ONNX export (no {CONFIG_NAME}); write one with "
                              "`mmempathy export-onnx DIR`")  # fmt: skip
    try:
        meta = json.loads(file.read_bytes())
    except (OSError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{file} is not readable JSON: {err}") from err
    kind = meta.get("format") if isinstance(meta, dict) else None
    if kind == "mmempathy":
        raise CheckpointError(f"{str(directory)!r} is a PyTorch checkpoint, not an ONNX export: export it with "
                              f"`mmempathy export-onnx DIR --model {directory}`")  # fmt: skip
    if kind != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{file} is not an ONNX export of format {FORMAT!r} version {VERSION}")
    return meta


def _graph_io(directory: Path, name: str, session: Any, inputs: list[str], outputs: list[str]) -> dict[str, list]:
    """The shapes of a graph's inputs and outputs by name, once its names are those expected."""
    shapes = {i.name: i.shape for i in session.get_inputs()}
    got_outputs = {o.name: o.shape for o in session.get_outputs()}
    if sorted(shapes) != sorted(inputs) or not set(outputs) <= set(got_outputs):
        raise CheckpointError(
            f"{directory / name} takes {', '.join(shapes)} and gives {', '.join(got_outputs)}, not "
            f"{', '.join(inputs)} -> {', '.join(outputs)}: a graph of another model or part (files swapped?)"
        )
    return {**shapes, **got_outputs}


def _same_width(file: Path, what: str, got: Any, expected: int) -> None:
    if isinstance(got, int) and got != expected:  # a symbolic axis (str) is not checked
        raise CheckpointError(f"{file}: {what} is {got}, {CONFIG_NAME} says {expected}: they are of different models")


def _mel_filters(directory: Path, whisper: Any, audio: Any) -> np.ndarray:
    """The Whisper filter bank, checked against the settings and the audio graph's mel bands."""
    keys = ("n_fft", "hop", "min_samples", "max_samples", "pad_samples")
    numbers = isinstance(whisper, dict) and all(type(whisper.get(k)) is int and whisper[k] >= 0 for k in keys)
    if not numbers or whisper["n_fft"] < 2 or whisper["hop"] < 1:
        raise CheckpointError(f"{directory / CONFIG_NAME}: 'whisper' needs non-negative integers {', '.join(keys)}")
    file = directory / MEL_FILTERS
    if not file.is_file():
        raise CheckpointError(f"ONNX export {str(directory)!r} lacks {MEL_FILTERS}")
    try:
        filters = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise CheckpointError(f"{file} is not a NumPy array file: {err}") from err
    bands = next(i.shape[1] for i in audio.get_inputs() if i.name == "feats")
    shape = (bands if isinstance(bands, int) else -1, whisper["n_fft"] // 2 + 1)
    valid = filters.ndim == 2 and filters.shape[1] == shape[1] and shape[0] in (-1, filters.shape[0])
    if not (valid and filters.dtype.kind == "f" and np.isfinite(filters).all()):
        got = f"a {'x'.join(map(str, filters.shape))} {filters.dtype} array"
        raise CheckpointError(f"{file} holds {got}, not the finite {bands} x {shape[1]} filter bank of the audio graph")
    return filters


def _text_settings(directory: Path, meta: dict[str, Any]) -> dict[str, Any]:
    text = meta.get("text", {})
    valid = isinstance(text, dict) and set(text) <= {"pad_id", "pad_token"}
    if not (valid and type(text.get("pad_id", 0)) is int and isinstance(text.get("pad_token", ""), str)):
        raise CheckpointError(f"{directory / CONFIG_NAME}: 'text' must hold an integer pad_id and a pad_token")
    return text


def _tokenizer(directory: Path) -> Any:
    from tokenizers import Tokenizer

    file = directory / TOKENIZER_FILE
    if not file.is_file():
        raise CheckpointError(f"ONNX export {str(directory)!r} lacks {TOKENIZER_FILE}")
    try:
        return Tokenizer.from_file(str(file))
    except Exception as err:  # tokenizers raises a bare Exception for a damaged file
        raise CheckpointError(f"{file} is not a readable tokenizer: {err}") from err


def _session(file: Path, options: Any, providers: list[str]) -> Any:
    if not file.is_file():
        raise CheckpointError(f"ONNX export {str(file.parent)!r} lacks {file.name}")
    try:
        return ort.InferenceSession(str(file), options, providers=providers)
    except Exception as err:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        raise CheckpointError(f"{file} is not a loadable ONNX graph: {err}") from err
