"""Predicting with an export: :class:`OnnxEmotionFuser` (onnxruntime, NumPy and ``tokenizers``; never
PyTorch) and the NumPy twin of Whisper's log-mel front end."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from tqdm.auto import tqdm

from mmempathy.config import ModelConfig
from mmempathy.errors import CheckpointError, InputError
from mmempathy.modality import Modality
from mmempathy.onnx.files import (
    CONFIG_NAME,
    _graph_io,
    _mel_filters,
    _read_meta,
    _same_width,
    _session,
    _text_settings,
    _tokenizer,
    pool_stride,
)
from mmempathy.output import EmotionResult, incongruity
from mmempathy.processing import Processor, pad_arrays
from mmempathy.sample import Sample, samples_of

if TYPE_CHECKING:
    from mmempathy.media.timeline import Timeline


Arrays = dict[str, np.ndarray]


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
