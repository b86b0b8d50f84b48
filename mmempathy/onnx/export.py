"""Writing a model as ONNX graphs: :func:`export_onnx` and the graphs of its encoders and fusion.

The directory it writes is described in :mod:`mmempathy.onnx`; PyTorch and the exporter's packages are
imported only when it runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmempathy.errors import InputError, MMEmpathyError
from mmempathy.modality import Modality
from mmempathy.onnx.files import CONFIG_NAME, FORMAT, MEL_FILTERS, TOKENIZER_FILE, VERSION, pool_stride

if TYPE_CHECKING:
    from mmempathy.model import EmotionFuser


OPSET = 18
# What the exporter logs on converting to an older opset: we check the result and say it in one line.
EXPORTER_LOGGERS = ("onnxscript.version_converter", "torch.onnx._internal.exporter._compat")


def export_onnx(fuser: EmotionFuser, directory: str | Path, *, opset: int = OPSET) -> Path:
    """Write ``fuser`` as ONNX graphs plus what :class:`OnnxEmotionFuser` needs to predict without torch.

    Args:
        fuser: The model; it is not changed (a float32 CPU copy is exported).
        directory: Created if needed; an earlier export there is replaced. Its ``config.json`` goes first
            and the new one is written last, so an export that fails half-way is not taken for one.
        opset: ONNX opset of the graphs. The exporter writes 18 and up itself and converts to older ones,
            which fails for some operators: each graph is checked to be at ``opset``.

    Returns:
        ``directory`` as a :class:`Path`.

    Raises:
        MMEmpathyError: The exporter's packages are missing (``pip install 'mmempathy[onnx]'``).
        InputError: ``opset`` is not one that ``onnx`` knows or the graphs could not be written at it; the
            model has an adapter switched on (adapters are not exported) or an encoder kind that cannot be
            exported (``kind="lite"`` speech: its STFT runs inside the graph).
    """
    import copy
    import importlib.util

    import torch

    from mmempathy.io import atomic_write, atomic_write_files

    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise MMEmpathyError(f"the ONNX exporter needs {' and '.join(missing)}: pip install 'mmempathy[onnx]'")
    check_opset(opset)
    if fuser.adapter is not None:
        raise InputError("adapters are not exported: switch the adapter off (fuser.use_adapter(None)) first")
    model = copy.deepcopy(fuser).cpu().float().eval()
    directory = Path(directory)
    (directory / CONFIG_NAME).unlink(missing_ok=True)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "dims": {m.value: model.encoders[m.value].output_dim for m in model.modalities},
        "inputs": {},
    }

    def write(name: str, module: torch.nn.Module, args: tuple, inputs: list[str], outputs: list[str], dims) -> None:
        def export(tmp: Path) -> None:
            torch.onnx.export(
                module, args, str(tmp), dynamo=True, dynamic_shapes=dims, input_names=inputs,
                output_names=outputs, opset_version=opset, external_data=False, verbose=False,
            )  # fmt: skip
            written = graph_opset(tmp)
            if written != opset:  # the exporter keeps its own opset when a conversion fails, and only logs it
                why = f"converting from opset {OPSET} failed and the graph stayed at {written}"
                raise InputError(f"{name}.onnx cannot be written at opset {opset}: {why} ({OPSET} and up need none)")

        with torch.no_grad(), warnings.catch_warnings(), _quiet(*EXPORTER_LOGGERS):
            warnings.simplefilter("ignore")  # the exporter's notes on its own internals
            atomic_write(directory / f"{name}.onnx", export)

    for m in model.modalities:
        name, module, args, inputs, outputs, dims = _encoder_graph(model, m)
        write(name, module, args, inputs, outputs, dims)
        meta["inputs"][m.value] = inputs
    write(*_fusion_graph(model, meta["dims"]))
    if model.config.text is not None and model.config.text.kind == "hf":
        tokenizer = model.processor.tokenizer
        atomic_write_files(directory / "tokenizer", lambda tmp: tokenizer.save_pretrained(str(tmp)))
        if not (directory / TOKENIZER_FILE).is_file():
            raise InputError("the text tokenizer wrote no tokenizer.json: the runtime needs a fast tokenizer")
        meta["text"] = {"pad_id": int(tokenizer.pad_token_id), "pad_token": str(tokenizer.pad_token)}
    if model.config.audio is not None and model.config.audio.kind == "whisper":
        from mmempathy.encoders import whisper

        encoder = model.encoders[Modality.AUDIO.value]
        filters = encoder.logmel.filters.numpy()
        atomic_write(directory / MEL_FILTERS, lambda tmp: np.save(tmp, filters, allow_pickle=False))
        meta["whisper"] = {
            "n_fft": whisper.N_FFT,
            "hop": whisper.HOP,
            "min_samples": whisper.MIN_SAMPLES,
            "max_samples": whisper.MAX_POSITIONS * 2 * whisper.HOP,
            "pad_samples": encoder.pad_samples,
        }
    atomic_write(directory / CONFIG_NAME, lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
    return directory


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Loggers switched off for a while (the exporter logs a failed opset conversion as a traceback)."""
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, disabled in zip(loggers, before):
            logger.disabled = disabled


def check_opset(opset: int) -> int:
    """``opset``, or an :class:`InputError` when the installed ``onnx`` does not know it (checked before any work)."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if type(opset) is not int or not 1 <= opset <= newest:
        raise InputError(
            f"opset must be an integer from 1 to {newest} (the newest this onnx package knows), got {opset}"
        )
    return opset


def graph_opset(file: str | Path) -> int | None:
    """The standard (``ai.onnx``) opset an ONNX file was written at."""
    import onnx

    model = onnx.load(str(file), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _graph_module(call: Any, owner: Any) -> Any:
    """An ``nn.Module`` whose forward is ``call(*args)``; ``owner`` holds the parameters it reads."""
    from torch import nn

    class Graph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.owner = owner

        def forward(self, *args: Any) -> Any:
            return call(*args)

    return Graph().eval()


def _encoder_graph(model: EmotionFuser, m: Modality) -> tuple:
    """``(name, module, example args, input names, output names, dynamic shapes)`` of one encoder."""
    import torch
    from torch.export import Dim

    from mmempathy.encoders.face import FrameEncoder
    from mmempathy.encoders.speech import LiteSpeechEncoder
    from mmempathy.encoders.whisper import MAX_POSITIONS, WhisperSpeechEncoder

    encoder, cfg = model.encoders[m.value], model.config.encoder(m)
    batch = Dim("batch")
    if isinstance(encoder, FrameEncoder):  # the runtime picks the valid frames: only they run
        crops = torch.randn(3, cfg.channels, cfg.image_size, cfg.image_size)
        return m.value, encoder.backbone, (crops,), ["crops"], ["features"], ({0: Dim("crops")},)
    if isinstance(encoder, LiteSpeechEncoder):
        raise InputError("the lite speech encoder (kind 'lite') cannot be exported: its STFT runs in the graph")
    mask = torch.ones(2, 16, dtype=torch.bool)
    mask[1, 10:] = False  # a padded row: the exported graph must keep its masks
    if isinstance(encoder, WhisperSpeechEncoder):
        frames = Dim("frames", min=2, max=2 * MAX_POSITIONS)
        feats, lengths = torch.randn(2, encoder.model.conv1.in_channels, 16), mask.sum(-1) * 160
        args, inputs = (feats, mask, lengths), ["feats", "frame_mask", "lengths"]
        dims = (({0: batch, 2: frames}, {0: batch, 1: frames}, {0: batch}),)
        return m.value, _graph_module(encoder.encode_mel, encoder), args, inputs, ["tokens", "token_mask"], dims
    if cfg.kind == "features":
        length = Dim("length", min=2)
        args, inputs = (torch.randn(2, 16, cfg.input_dim), mask), ["features", "mask"]
    elif m is Modality.TEXT:
        length = Dim("length", min=2, max=cfg.max_length)
        ids = torch.randint(1000, 2000, (2, 16)) * mask
        args, inputs = (ids, mask.long()), ["input_ids", "attention_mask"]
    else:  # waveform encoders (wav2vec2 family)
        length = Dim("samples", min=1600, max=int(cfg.max_seconds * cfg.sample_rate))
        mask = torch.ones(2, 16000, dtype=torch.bool)
        mask[1, 9000:] = False
        args, inputs = (torch.randn(2, 16000) * 0.1, mask), ["waveform", "mask"]
    dims = (({0: batch, 1: length}, {0: batch, 1: length}),)
    return m.value, _graph_module(encoder, encoder), args, inputs, ["tokens", "token_mask"], dims


def _fusion_graph(model: EmotionFuser, dims: dict[str, int]) -> tuple:
    """The fusion and heads as one graph: every modality's tokens and mask in, the outputs stacked."""
    import torch
    from torch.export import Dim

    mods = model.modalities

    def fuse(*flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = model.fuse({m: (flat[2 * i], flat[2 * i + 1]) for i, m in enumerate(mods)})
        return out.probs, torch.stack([out.modality_probs[m] for m in mods], 1), out.weights, out.present

    batch, args, inputs, shapes = Dim("batch"), [], [], []
    for m in mods:
        stride = pool_stride(model.config, m)
        # a pooled modality's length is a multiple of its stride (the runtime pads it so): the exporter
        # cannot reason about the padding that pooling would add to any other length
        length = Dim(f"{m.value}_len", min=1) * stride if stride > 1 else Dim(f"{m.value}_len", min=1)
        mask = torch.ones(2, 4 * stride, dtype=torch.bool)
        mask[1, stride + 1 :] = False
        args += [torch.randn(2, 4 * stride, dims[m.value]), mask]
        inputs += [f"{m.value}_tokens", f"{m.value}_mask"]
        shapes += [{0: batch, 1: length}, {0: batch, 1: length}]
    outputs = ["probs", "modality_probs", "weights", "present"]
    return "fusion", _graph_module(fuse, model), tuple(args), inputs, outputs, (tuple(shapes),)
