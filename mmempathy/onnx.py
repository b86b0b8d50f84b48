"""ONNX export of a model, and a runtime that predicts with onnxruntime and never imports PyTorch.

:func:`export_onnx` (``mmempathy export-onnx DIR``) writes a directory:

* ``text.onnx``: ``input_ids``, ``attention_mask`` ``[b, t]`` -> ``tokens`` ``[b, t, d]``, ``token_mask``.
* ``audio.onnx``: Whisper encoders after the log-mel front end, ``feats`` ``[b, f, t]``, ``frame_mask``
  ``[b, t]``, ``lengths`` (valid samples per item) -> ``tokens``, ``token_mask``; the front end runs in NumPy
  (:func:`whisper_log_mel`, its filter bank saved as ``mel_filters.npy``). Other speech encoders take
  ``waveform``, ``mask`` ``[b, n]``.
* ``face.onnx``: crops ``[n, c, s, s]`` -> ``features`` ``[n, d]``, run on the frames that are there only.
* ``fusion.onnx``: each modality's ``<m>_tokens``, ``<m>_mask`` -> ``probs`` ``[b, c]``, ``modality_probs``
  ``[b, m, c]``, ``weights`` ``[b, m]``, ``present`` ``[b, m]``: fusion, heads and calibration.
* ``tokenizer/tokenizer.json`` (read by the ``tokenizers`` package) and ``config.json``: the model's
  config (labels, modalities, preprocessing, calibration) plus what the runtime needs besides.

Batch and length axes are dynamic. :class:`OnnxEmotionFuser` reads such a directory: the same
validation as :class:`~mmempathy.processing.Processor`, then the graphs, then the same
:class:`~mmempathy.output.EmotionResult`. Its install needs onnxruntime, NumPy, OpenCV and tokenizers
(for videos :data:`mmempathy.extras.VIDEO_PACKAGES`), not torch.

Letters: ``b`` batch, ``t`` tokens or frames, ``n`` samples or crops, ``f`` mel bands, ``d`` features,
``m`` modalities, ``c`` classes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from tqdm.auto import tqdm

from mmempathy.config import ModelConfig
from mmempathy.errors import CheckpointError, InputError, MMEmpathyError
from mmempathy.modality import Modality
from mmempathy.output import EmotionResult, incongruity
from mmempathy.processing import Processor, pad_arrays
from mmempathy.sample import Sample, samples_of

if TYPE_CHECKING:
    from mmempathy.media.timeline import Timeline
    from mmempathy.model import EmotionFuser

FORMAT, VERSION = "mmempathy-onnx", 1
CONFIG_NAME, TOKENIZER_FILE, MEL_FILTERS = "config.json", "tokenizer/tokenizer.json", "mel_filters.npy"
OPSET = 18
# What the exporter logs on converting to an older opset: we check the result and say it in one line.
EXPORTER_LOGGERS = ("onnxscript.version_converter", "torch.onnx._internal.exporter._compat")

Arrays = dict[str, np.ndarray]


# ---------------------------------------------------------------------------------------------- export


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


def pool_stride(config: ModelConfig, m: Modality) -> int:
    """Tokens the fusion pools into one for modality ``m`` (faces, a set, are pooled whole instead)."""
    return 1 if m is Modality.FACE else int(config.fusion.pool.get(m.value, 1))


# ---------------------------------------------------------------------------------------------- runtime


def whisper_log_mel(samples: np.ndarray, filters: np.ndarray, *, n_fft: int, hop: int, min_samples: int) -> np.ndarray:
    """Whisper's log-mel ``[f, t]`` of one waveform, ``t = len // hop``: the NumPy twin of
    :class:`mmempathy.encoders.whisper.WhisperLogMel` (centred Hann windows with reflected edges, the
    last frame dropped, log10 power clamped to 8 below the peak, then ``(x + 4) / 4``)."""
    if len(samples) < min_samples:
        samples = np.pad(samples, (0, min_samples - len(samples)))
    padded = np.pad(samples.astype(np.float64), n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic, as torch.hann_window
    power = np.abs(np.fft.rfft(frames * window, axis=-1)[:-1]) ** 2  # t, n_fft // 2 + 1
    # [t, k] @ [k, f] with both operands contiguous: the BLAS call; filters @ power.T copies first, 60x slower
    log_spec = np.log10(np.maximum(power @ np.ascontiguousarray(filters.T, dtype=np.float64), 1e-10)).T
    return ((np.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0).astype(np.float32)


class OnnxProcessor(Processor):
    """:class:`~mmempathy.processing.Processor` that keeps NumPy arrays and tokenizes with ``tokenizers``."""

    pad = staticmethod(pad_arrays)

    def __init__(self, config: ModelConfig, tokenizer: Any = None, *, pad_id: int = 0, pad_token: str = "") -> None:
        super().__init__(config, tokenizer)
        if tokenizer is not None:
            tokenizer.enable_truncation(config.text.max_length)
            tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)  # to the longest item, on the right

    def tokenize(self, texts: list[str | None]) -> Arrays:
        """Token ids and attention mask; missing texts get an all-zero mask row."""
        encoded = self.tokenizer.encode_batch([t or "" for t in texts])
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        mask[[t is None for t in texts]] = 0
        return {"input_ids": ids, "attention_mask": mask}


class OnnxEmotionFuser:
    """An exported model (:func:`export_onnx`) predicting with onnxruntime; PyTorch is never imported.

    ``predict``, ``predict_samples`` and ``predict_video`` behave as :class:`~mmempathy.model.EmotionFuser`'s.

    Example:
        >>> fuser = OnnxEmotionFuser("lite-onnx")  # doctest: +SKIP  (written by `mmempathy export-onnx lite-onnx`)
        >>> fuser.predict(text="What a lovely surprise!").label  # doctest: +SKIP
        'surprise'
    """

    def __init__(
        self, directory: str | Path, *, providers: Sequence[str] | None = None, threads: int | None = None
    ) -> None:
        """Load an export directory.

        Args:
            directory: Written by :func:`export_onnx`.
            providers: onnxruntime execution providers (default: CPU).
            threads: Threads per graph (default: onnxruntime's, one per physical core).

        Raises:
            CheckpointError: ``directory`` is not an export, or a file of it is missing or damaged.
        """
        self.directory = directory = Path(directory)
        meta = _read_meta(directory)
        try:
            self.config = ModelConfig.from_dict(meta["config"])
            self.dims = {Modality(k): int(v) for k, v in meta["dims"].items()}
            self.inputs = {Modality(k): list(v) for k, v in meta["inputs"].items()}
            if not all(isinstance(name, str) for names in self.inputs.values() for name in names):
                raise TypeError("'inputs' must list names")
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{directory / CONFIG_NAME} is not a valid ONNX export config: {err}") from err
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        providers = list(providers or ["CPUExecutionProvider"])
        names = [m.value for m in self.modalities] + ["fusion"]
        self.sessions = {name: _session(directory / f"{name}.onnx", options, providers) for name in names}
        self.whisper = meta.get("whisper")
        self._check_graphs()
        self.mel_filters = _mel_filters(directory, self.whisper, self.sessions["audio"]) if self.whisper else None
        tokenizer = None
        if self.config.text is not None and self.config.text.kind == "hf":
            tokenizer = _tokenizer(directory)
        self.processor = OnnxProcessor(self.config, tokenizer, **_text_settings(directory, meta))
        self._warned_untrained = False

    def _check_graphs(self) -> None:
        """Refuse graphs that do not take and give what ``config.json`` says (swapped or foreign files, labels or
        widths edited): onnxruntime would fail on the first prediction, or worse, zip probabilities to wrong labels."""
        config_file, mods = self.directory / CONFIG_NAME, self.modalities
        if set(self.dims) != set(mods) or set(self.inputs) != set(mods):
            names = ", ".join(m.value for m in mods)
            raise CheckpointError(
                f"{config_file}: 'dims' and 'inputs' must name the modalities the model reads ({names})"
            )
        if (self.whisper is not None) != (self.inputs.get(Modality.AUDIO) == ["feats", "frame_mask", "lengths"]):
            raise CheckpointError(f"{config_file}: 'whisper' settings go with an audio graph of log-mel 'feats', only")
        for m in mods:
            outputs = ["features"] if self.inputs[m] == ["crops"] else ["tokens", "token_mask"]
            shapes = _graph_io(self.directory, f"{m.value}.onnx", self.sessions[m.value], self.inputs[m], outputs)
            file = self.directory / f"{m.value}.onnx"
            _same_width(file, f"the {outputs[0]} width", shapes[outputs[0]][-1], self.dims[m])
            if outputs == ["features"]:  # crops [n, c, s, s]: the processor makes them as the config says
                cfg = self.config.encoder(m)
                for axis, size in zip(shapes["crops"][1:], (cfg.channels, cfg.image_size, cfg.image_size)):
                    _same_width(file, "the crops' shape", axis, size)
        feeds = [f"{m.value}_{part}" for m in mods for part in ("tokens", "mask")]
        outputs = ["probs", "modality_probs", "weights", "present"]
        shapes = _graph_io(self.directory, "fusion.onnx", self.sessions["fusion"], feeds, outputs)
        fusion = self.directory / "fusion.onnx"
        for m in mods:
            _same_width(fusion, f"the {m.value}_tokens width", shapes[f"{m.value}_tokens"][-1], self.dims[m])
        _same_width(fusion, "the number of modalities", shapes["modality_probs"][1], len(mods))
        classes = f"the number of classes (labels in {CONFIG_NAME}: {', '.join(self.labels)})"
        _same_width(fusion, classes, shapes["probs"][-1], len(self.labels))

    @property
    def labels(self) -> tuple[str, ...]:
        """The label names, in the order of the probabilities."""
        return self.config.labels

    @property
    def modalities(self) -> list[Modality]:
        """The modalities this model reads."""
        return self.config.modalities

    def predict(
        self,
        text: str | Sequence[str | None] | None = None,
        audio: Any = None,
        sample_rate: int | None = None,
        faces: Any = None,
        *,
        batch_size: int = 16,
    ) -> EmotionResult | list[EmotionResult]:
        """One item, or a batch when ``text`` or ``audio`` is a list; see :meth:`EmotionFuser.predict`."""
        samples, batched = samples_of(text, audio, sample_rate, faces)
        results = self.predict_samples(samples, batch_size=batch_size)
        return results if batched else results[0]

    def predict_samples(
        self, samples: Sequence[Sample], *, batch_size: int = 16, progress: bool = False, person: Any = None
    ) -> list[EmotionResult]:
        """Predict for many :class:`Sample` objects, in batches (``person`` must be ``None``: an export reads
        every item plainly; the person baseline needs the PyTorch model)."""
        if person is not None:
            raise InputError(
                "an ONNX export reads every item on its own: the person baseline (person=...) needs the PyTorch "
                "model (EmotionFuser.from_pretrained); pass person=None"
            )
        self.warn_if_untrained()
        results: list[EmotionResult] = []
        for start in tqdm(range(0, len(samples), batch_size), disable=not progress, desc="predict", unit="batch"):
            batch = self.processor.collate(samples[start : start + batch_size], first_index=start)
            results.extend(self.to_results(self.forward(batch)))
        return results

    def predict_video(
        self, path: str | Path, subtitles: str | Path | None = None, transcript: str | None = None, **kwargs: Any
    ) -> Timeline:
        """An emotion timeline of a video or audio file; see :func:`mmempathy.media.pipeline.predict_video`.

        Raises:
            MissingPackageError: The packages videos need are not installed (a torch-free install has them only
                when added: :data:`mmempathy.extras.VIDEO_PACKAGES`); the message says what to install.
        """
        from mmempathy.extras import needs

        with needs("a video"):  # the packages are imported on the way: decoding, the timeline, speech to text
            from mmempathy.media.pipeline import predict_video

            return predict_video(self, path, subtitles=subtitles, transcript=transcript, **kwargs)

    def forward(self, batch: dict[Modality, Arrays]) -> Arrays:
        """The fusion graph's outputs (``probs``, ``modality_probs``, ``weights``, ``present``) for a batch
        made by ``processor.collate``."""
        n = next(len(array) for inputs in batch.values() for array in inputs.values())
        feeds: Arrays = {}
        for m in self.modalities:
            tokens, mask = self.encode(m, batch[m]) if m in batch else self._absent(m, n)
            stride = pool_stride(self.config, m)
            pad = -tokens.shape[1] % stride  # the fusion graph reads multiples of the stride
            feeds[f"{m.value}_tokens"] = np.pad(tokens, ((0, 0), (0, pad), (0, 0)))
            feeds[f"{m.value}_mask"] = np.pad(mask, ((0, 0), (0, pad)))
        names = ("probs", "modality_probs", "weights", "present")
        return dict(zip(names, self._run("fusion", list(names), feeds)))

    def encode(self, m: Modality, inputs: Arrays) -> tuple[np.ndarray, np.ndarray]:
        """One modality's tokens ``[b, t, d]`` and mask; items without it get zeros and a False mask."""
        mask = (inputs["attention_mask"] if "attention_mask" in inputs else inputs["mask"]).astype(bool)
        if "pixels" in inputs:  # face crops: the backbone sees the valid frames only
            tokens = np.zeros((*mask.shape, self.dims[m]), dtype=np.float32)
            if mask.any():
                tokens[mask] = self._run(m.value, ["features"], {"crops": inputs["pixels"][mask]})[0]
            return tokens, mask
        present = mask.any(-1)
        here = {k: v[present] for k, v in inputs.items()}
        feeds = self._whisper_inputs(here) if self.whisper and m is Modality.AUDIO else here
        tokens, token_mask = self._run(m.value, ["tokens", "token_mask"], {k: feeds[k] for k in self.inputs[m]})
        full = np.zeros((len(mask), *tokens.shape[1:]), dtype=np.float32)
        full_mask = np.zeros((len(mask), token_mask.shape[1]), dtype=bool)
        full[present], full_mask[present] = tokens, token_mask
        return full, full_mask

    def _run(self, graph: str, outputs: list[str], feeds: Arrays) -> list[np.ndarray]:
        try:
            return self.sessions[graph].run(outputs, feeds)
        except Exception as err:  # onnxruntime's own types: the graph and the settings it was fed by disagree
            why = " ".join(str(err).split())  # onnxruntime's messages run over several lines
            raise CheckpointError(
                f"{self.directory / graph}.onnx failed: {why}; the export does not match its {CONFIG_NAME}"
            ) from err

    def _whisper_inputs(self, inputs: Arrays) -> Arrays:
        """Whisper's log-mel frames of each item's valid samples, as ``WhisperSpeechEncoder.forward`` makes them."""
        w = self.whisper
        lengths = inputs["mask"].sum(-1).astype(np.int64)
        if lengths.max() > w["max_samples"]:
            seconds = lengths.max() / self.config.audio.sample_rate
            raise InputError(f"Whisper encodes at most 30 s of audio; got {seconds:.1f} s")
        wave = inputs["waveform"]
        # Whisper's own habit (pad_seconds): silence after the clip, read as valid samples
        spans = np.maximum(lengths, w["pad_samples"])
        wave = np.pad(wave, ((0, 0), (0, max(0, int(spans.max()) - wave.shape[1]))))
        kwargs = {k: w[k] for k in ("n_fft", "hop", "min_samples")}
        feats, frame_mask = pad_arrays(
            [whisper_log_mel(x[:n], self.mel_filters, **kwargs).T for x, n in zip(wave, spans)]
        )
        return {"feats": np.ascontiguousarray(feats.transpose(0, 2, 1)), "frame_mask": frame_mask, "lengths": lengths}

    def _absent(self, m: Modality, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Stand-in tokens of a modality no item of the batch has: masked out, so they change nothing."""
        stride = pool_stride(self.config, m)
        return np.zeros((n, stride, self.dims[m]), dtype=np.float32), np.zeros((n, stride), dtype=bool)

    def to_results(self, out: Arrays) -> list[EmotionResult]:
        """One :class:`EmotionResult` per item of a batch's outputs."""
        names = [m.value for m in self.modalities]
        classify = self.config.task == "classification"
        results = []
        for i in range(len(out["probs"])):
            here = [j for j in range(len(names)) if out["present"][i, j]]
            mod_probs = {names[j]: out["modality_probs"][i, j] for j in here}
            results.append(
                EmotionResult(
                    probs=dict(zip(self.labels, out["probs"][i].tolist())),
                    modalities={n: dict(zip(self.labels, p.tolist())) for n, p in mod_probs.items()},
                    weights={names[j]: float(out["weights"][i, j]) for j in here},
                    present=[names[j] for j in here],
                    incongruity=incongruity(list(mod_probs.values())) if classify else 0.0,
                )
            )
        return results

    def warn_if_untrained(self) -> None:
        """Warn (once) that predictions of untrained weights mean nothing."""
        if not self.config.trained and not self._warned_untrained:
            self._warned_untrained = True
            warnings.warn(
                "this model's weights are untrained (no trained checkpoint was exported): its "
                "predictions are not meaningful",
                UserWarning,
                stacklevel=3,
            )


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


# ---------------------------------------------------------------------------------------------- parity


def parity_samples(config: ModelConfig, *, seed: int = 0) -> list[Sample]:
    """Synthetic items with every non-empty subset of the model's modalities, of different lengths: what
    ``mmempathy export-onnx`` compares the export on."""
    import itertools

    rng = np.random.default_rng(seed)
    texts = ["Fine.", "I really can't believe you would do that to me, after everything we went through."]
    samples = []
    for k, subset in enumerate(s for n in range(1, 4) for s in itertools.combinations(config.modalities, n)):
        audio = (rng.standard_normal(int(16000 * (0.4 + 1.3 * (k % 3)))) * 0.1).astype(np.float32)
        faces = rng.integers(0, 256, (1 + k % 3, 64, 64, 3), dtype=np.uint8)
        samples.append(
            Sample(
                text=texts[k % 2] if Modality.TEXT in subset else None,
                audio=audio if Modality.AUDIO in subset else None,
                sample_rate=16000,
                faces=faces if Modality.FACE in subset else None,
            )
        )
    return samples


def max_difference(a: Sequence[EmotionResult], b: Sequence[EmotionResult]) -> float:
    """Largest absolute difference between two predictions of the same items, over the fused and each
    modality's probabilities and the modality weights (infinite where they disagree on what is present)."""
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        if x.present != y.present:
            return float("inf")
        pairs = [(x.probs, y.probs), (x.weights, y.weights)] + [(x.modalities[m], y.modalities[m]) for m in x.present]
        worst = max([worst] + [abs(p[k] - q[k]) for p, q in pairs for k in p])
    return worst
