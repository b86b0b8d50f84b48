"""EmotionFuser: encoders per modality -> cross-modal fusion -> fused and per-modality heads.

Saving and loading checkpoints are :mod:`mmempathy.checkpoint`'s. The model knows nothing of video, live
input, feedback or ONNX (``docs/architecture.md``): ``predict_video``, ``stream``, ``feedback``, ``adapt``,
``use_adapter`` and ``from_onnx`` are one-line delegates that import those layers when called.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from mmempathy import hub
from mmempathy.baseline import BaselineSettings
from mmempathy.checkpoint import CheckpointMixin
from mmempathy.config import ModelConfig
from mmempathy.device import autocast
from mmempathy.encoders import build_encoder
from mmempathy.encoders.text import resolve_text_source
from mmempathy.fusion import CrossModalFusion, confidence_features, init_weights, late_fusion, masked_mean
from mmempathy.modality import Modality
from mmempathy.output import EmotionResult, FuserOutput, incongruity
from mmempathy.processing import Processor
from mmempathy.sample import Sample, samples_of

Batch = dict[Modality, dict[str, torch.Tensor]]
Encoded = dict[Modality, tuple[torch.Tensor, torch.Tensor]]


def _weights_source(modality: Modality, config: Any) -> str:
    """Where an encoder's pretrained weights load from, as its loader will read it ("" for timm hub names)."""
    if config.kind != "hf":
        return ""
    return resolve_text_source(config.name) if modality is Modality.TEXT else config.name


def head(dim: int, outputs: int, dropout: float) -> nn.Sequential:
    """The classifier used for the fused vector and for each modality's own vector (initialised as the fusion is)."""
    layers = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, outputs))
    init_weights(layers)
    return layers


def input_mask(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The validity mask of one modality's batch tensors (text calls it ``attention_mask``)."""
    return inputs["attention_mask"].bool() if "attention_mask" in inputs else inputs["mask"]


def compute_loss(
    out: FuserOutput,
    labels: torch.Tensor,
    *,
    task: str,
    aux_weight: float,
    label_smoothing: float = 0.0,
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fused loss plus ``aux_weight`` times the mean of the per-modality losses.

    Classification uses cross-entropy (optional label smoothing and class weights); regression uses
    the L1 loss, the usual choice for sentiment intensity. A modality's loss counts only the items
    that had that modality.
    """

    def one(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if task == "regression":
            return F.l1_loss(logits.float(), target.float().view_as(logits))
        return F.cross_entropy(logits.float(), target, weight=class_weight, label_smoothing=label_smoothing)

    loss = one(out.logits, labels)
    aux = [
        one(logits[keep], labels[keep])
        for m, logits in out.modality_logits.items()
        if (keep := out.present[:, out.modalities.index(m)]).any()
    ]
    if aux and aux_weight > 0:
        loss = loss + aux_weight * torch.stack(aux).mean()
    return loss


class EmotionFuser(CheckpointMixin, nn.Module):
    """Multimodal emotion recognition: any subset of text, speech and face crops in.

    Example:
        >>> from mmempathy import EmotionFuser
        >>> fuser = EmotionFuser.from_pretrained("tiny")
        >>> result = fuser.predict(text="I can't believe you did that!")
        >>> round(sum(result.probs.values()), 4)
        1.0
    """

    def __init__(
        self,
        config: ModelConfig | dict[str, Any],
        *,
        pretrained_encoders: bool = False,
        tokenizer: Any = None,
    ) -> None:
        super().__init__()
        self.config = config = ModelConfig.from_dict(config)
        repos = []
        for m in config.modalities:  # only safetensors ever loads: refuse other weights before any loader sees them
            if pretrained_encoders or config.encoder(m).external:
                hub.check_encoder_source(config.encoder(m), _weights_source(m, config.encoder(m)), m.value)
                repos.append(hub.encoder_repo(config.encoder(m), _weights_source(m, config.encoder(m))))
        hub.require_hub([r for r in repos if r], "the pretrained encoders")  # no hub, no cache: fail at once
        self.encoders = nn.ModuleDict(
            {
                m.value: build_encoder(
                    m, config.encoder(m), pretrained=pretrained_encoders or config.encoder(m).external
                )
                for m in config.modalities
            }
        )
        dims = {m: self.encoders[m.value].output_dim for m in config.modalities}
        # a segment's face crops are a set of frames, not a sequence
        self.fusion = CrossModalFusion(dims, config.fusion, sets=(Modality.FACE,))
        n_out, p = len(config.labels), config.fusion.dropout
        self.head = head(config.fusion.dim, n_out, p)
        self.heads = nn.ModuleDict({m.value: head(config.fusion.dim, n_out, p) for m in config.modalities})
        self.late = config.fusion.mode == "late"
        if self.late:  # the cross-attention correction enters at zero: training decides how much it adds
            self.correction_scale = nn.Parameter(torch.zeros(()))
        # temperatures (fused, then one per modality) and gate biases; set by set_calibration, kept in config.json
        self.register_buffer("temperatures", torch.ones(1 + len(config.modalities)), persistent=False)
        self.register_buffer("gate_bias", torch.zeros(len(config.modalities)), persistent=False)
        self.register_buffer("class_bias", torch.zeros(len(config.modalities), len(self.labels)), persistent=False)
        self.set_calibration(config.calibration)
        if config.lora:  # adapters are part of the architecture: saved weights hold them
            from mmempathy.train.lora import apply_lora

            apply_lora(self, config.lora)
        if tokenizer is None and config.text is not None and config.text.kind == "hf":
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(config.text.tokenizer or resolve_text_source(config.text.name))
        self.processor = Processor(config, tokenizer)
        self._warned_untrained = False
        self.adapter = None  # a correction applied to every output (use_adapter), not part of the base weights
        self.checkpoint_dir: Path | None = None  # set by from_pretrained; adapters live beside it

    @property
    def labels(self) -> tuple[str, ...]:
        """The label names, in the order of the logits."""
        return self.config.labels

    @property
    def modalities(self) -> list[Modality]:
        """The modalities this model reads."""
        return self.config.modalities

    @property
    def device(self) -> torch.device:
        """Where the parameters are."""
        return next(self.parameters()).device

    def encode(self, batch: Batch) -> Encoded:
        """Run each modality's encoder on the items that have it; others get zero tokens and a False mask."""
        encoded = {}
        for m, inputs in batch.items():
            present = input_mask(inputs).any(-1)
            if not present.any():
                continue
            tokens, mask = self.encoders[m.value](**{k: v[present] for k, v in inputs.items()})
            if not present.all():
                full = tokens.new_zeros(len(present), *tokens.shape[1:])
                full_mask = mask.new_zeros(len(present), mask.shape[1])
                full[present], full_mask[present] = tokens, mask
                tokens, mask = full, full_mask
            encoded[m] = (tokens, mask)
        return encoded

    def drop_modalities(self, encoded: Encoded) -> Encoded:
        """Training-time modality dropout: hide each present modality of an item with probability p,
        always keeping at least one."""
        p = self.config.fusion.modality_dropout
        if not self.training or p <= 0 or len(encoded) < 2:
            return encoded
        mods = list(encoded)
        present = torch.stack([encoded[m][1].any(-1) for m in mods], dim=1)
        keep = present & (torch.rand(present.shape, device=present.device) >= p)
        lost = ~keep.any(-1)  # items left with nothing get back one of their modalities at random
        if lost.any():
            choice = torch.multinomial(present[lost].float(), 1).squeeze(-1)
            keep[lost] = F.one_hot(choice, len(mods)).bool()
        return {m: (encoded[m][0], encoded[m][1] & keep[:, i, None]) for i, m in enumerate(mods)}

    def set_calibration(self, calibration: dict[str, Any] | None) -> None:
        """Use fitted temperatures and gate biases (see :func:`mmempathy.calibration.fit_calibration`).

        Args:
            calibration: ``{"temperature": {"fused": T, "text": T, ...}, "gate_bias": {"text": b, ...},
                "class_bias": {"text": [one per label]}, "exclude": ["face", ...], "baseline": {...}}``
                (missing entries stay 1, 0 and none; ``class_bias``: added to a head's calibrated logits,
                :func:`mmempathy.calibration.fit_class_bias`; ``baseline``:
                :class:`mmempathy.baseline.BaselineSettings`, the person baseline's references), or ``None``.
                Excluded modalities still get their own head's answer but no say in the fused one,
                unless an item has nothing else. It is stored in the config, so ``save_pretrained``
                ships it with the weights.
        """
        calibration = calibration or {}
        unknown = sorted(set(calibration) - {"temperature", "gate_bias", "class_bias", "exclude", "baseline"})
        if unknown:
            raise ValueError(f"unknown calibration entries: {', '.join(unknown)}")
        names = ["fused"] + [m.value for m in self.modalities]
        temperature = calibration.get("temperature", {})
        bias = calibration.get("gate_bias", {})
        if not all(float(temperature.get(n, 1.0)) > 0 for n in names):
            raise ValueError(f"temperatures must be positive: {temperature}")
        prior = calibration.get("class_bias", {})
        if not set(prior) <= set(names[1:]) or any(len(b) != len(self.labels) for b in prior.values()):
            raise ValueError(f"class_bias must map this model's modalities to one value per label: {prior}")
        exclude = calibration.get("exclude", [])
        if not set(exclude) <= set(names[1:]):
            raise ValueError(f"calibration excludes modalities this model does not have: {exclude}")
        self.excluded = [m for m in self.modalities if m.value in exclude]
        self.baseline = BaselineSettings.from_dict(calibration["baseline"]) if "baseline" in calibration else None
        self.temperatures.copy_(torch.tensor([float(temperature.get(n, 1.0)) for n in names]))
        self.gate_bias.copy_(torch.tensor([float(bias.get(n, 0.0)) for n in names[1:]]))
        self.class_bias.copy_(
            torch.tensor([[float(b) for b in prior.get(n, [0.0] * len(self.labels))] for n in names[1:]])
        )
        self.config.calibration = calibration or None

    def exclude(self, masks: dict[Modality, torch.Tensor]) -> dict[Modality, torch.Tensor]:
        """Hide the modalities that calibration excluded from fusion, in items that have another one."""
        if not self.excluded:
            return masks
        here = [masks[m].any(-1) for m in masks if m not in self.excluded]
        if not here:
            return masks
        other = torch.stack(here).any(0)
        return {m: mask & ~other[:, None] if m in self.excluded else mask for m, mask in masks.items()}

    def fuse(
        self,
        encoded: Encoded,
        labels: torch.Tensor | None = None,
        *,
        shift: dict[Modality, torch.Tensor] | None = None,
        head_gradients: bool = False,
    ) -> FuserOutput:
        """Fusion and heads on encoder outputs (the part that runs on cached features).

        ``shift`` (a person baseline, :mod:`mmempathy.baseline`) is subtracted from a modality's calibrated
        log-probabilities before anything reads them: the gate, the fused answer and the modality's own.
        ``head_gradients``: late fusion lets gradients of the fused answer reach the heads' outputs it mixes
        (training keeps them out: only their own losses train the heads; attributions need them,
        :mod:`mmempathy.explain`)."""
        classify = self.config.task == "classification"
        tokens, masks = self.fusion.embed(self.drop_modalities(encoded))
        modality_logits = {
            m: self.heads[m.value](masked_mean(tokens[m], masks[m])) for m in self.modalities if m in tokens
        }
        index = {m: i for i, m in enumerate(self.modalities)}
        # each head's calibrated output: log-probabilities (classification) or values (regression)
        calibrated = {
            m: (lg.float() / self.temperatures[1 + index[m]] + self.class_bias[index[m]]).log_softmax(-1)
            if classify
            else lg.float()
            for m, lg in modality_logits.items()
        }
        for m, d in (shift or {}).items():
            if m in calibrated:
                calibrated[m] = (calibrated[m] - d.to(calibrated[m])).log_softmax(-1)
        confidence = {m: confidence_features(c.detach()) for m, c in calibrated.items()} if classify else None
        seen = self.exclude(masks)
        fused, weights, present = self.fusion(tokens, seen, confidence, bias=self.gate_bias)
        if seen is not masks:  # an excluded modality that was given is present, with zero weight
            given = [masks[m].any(-1) if m in masks else present[:, i] for i, m in enumerate(self.modalities)]
            present = torch.stack(given, 1)
        logits = self.head(fused)
        if self.late:  # the heads' own outputs are mixed as they are: only their aux losses train them
            stacked = torch.stack(
                [
                    (calibrated[m] if head_gradients else calibrated[m].detach())
                    if m in calibrated
                    else logits.new_zeros(logits.shape).float()
                    for m in self.modalities
                ],
                dim=1,
            )
            logits = late_fusion(weights, stacked, self.correction_scale * logits.float())
        probs = (logits.float() / self.temperatures[0]).softmax(-1) if classify else logits.float()
        out = FuserOutput(
            logits=logits,
            probs=probs,
            modality_logits=modality_logits,
            modality_probs={m: c.exp() if classify else c for m, c in calibrated.items()},
            weights=weights,
            present=present,
            modalities=list(self.modalities),
        )
        if self.adapter is not None:
            out = self.adapter.apply(self, out)
        if labels is not None:
            out.loss = compute_loss(out, labels, task=self.config.task, aux_weight=self.config.aux_loss_weight)
        return out

    def forward(self, batch: Batch, labels: torch.Tensor | None = None) -> FuserOutput:
        """Encode and fuse a batch made by :meth:`Processor.collate`."""
        return self.fuse(self.encode(batch), labels)

    @torch.no_grad()
    def predict(
        self,
        text: str | Sequence[str | None] | None = None,
        audio: Any = None,
        sample_rate: int | None = None,
        faces: Any = None,
        *,
        batch_size: int = 16,
        explain: bool = False,
    ) -> EmotionResult | list[EmotionResult]:
        """Predict for one item, or for a batch when ``text`` or ``audio`` is a list.

        Args:
            text: An utterance, or a list of them (``None`` entries are missing text).
            audio: A mono waveform (or ``[channels, samples]``), or a list of them.
            sample_rate: Rate of ``audio`` in Hz; required with audio (resampled to 16 kHz as needed).
            faces: Face crops of the item (``[H, W(, 3)]``, ``[F, H, W(, 3)]`` or a list of crops); in
                batch mode, a list with one such entry (or ``None``) per item.
            batch_size: Items per forward pass.
            explain: Fill each result's ``why``: what moved the reading (:mod:`mmempathy.explain`; costs time).

        Returns:
            One :class:`EmotionResult`, or a list of them in batch mode.
        """
        samples, batched = samples_of(text, audio, sample_rate, faces)
        results = self.predict_samples(samples, batch_size=batch_size, explain=explain)
        return results if batched else results[0]

    @torch.no_grad()
    def predict_samples(
        self,
        samples: Sequence[Sample],
        *,
        batch_size: int = 16,
        progress: bool = False,
        person: Sequence[Any] | None = None,
        explain: bool = False,
    ) -> list[EmotionResult]:
        """Predict for many :class:`Sample` objects, in batches (bf16 autocast on CUDA).

        Args:
            samples: The items.
            batch_size: Items per forward pass.
            progress: Show a progress bar.
            person: One person id per sample (``None``: that item is read plainly), or a mapping per
                sample from modality name to id (``{"face": "track-1", "audio": "voice"}``). Items sharing
                an id are read against that person's baseline (:mod:`mmempathy.baseline`): face and voice
                relative to the person's own resting state, estimated from these items without labels.
                Each result's ``baseline`` says which modalities were adapted and from how many items.
            explain: Fill each result's ``why``: the words, face frames and spans of speech that moved its
                reading (:mod:`mmempathy.explain`; off by default: it costs time).
        """
        if explain:
            from mmempathy.explain import explain_samples

            results = self.predict_samples(samples, batch_size=batch_size, progress=progress, person=person)
            for result, why in zip(results, explain_samples(self, samples)):
                result.why = why
            return results
        if person is not None:
            from mmempathy.baseline import BaselineReader

            reader = BaselineReader(self)
            reader.add(samples, person, batch_size=batch_size, progress=progress)
            return reader.results()
        return [
            result for _, out in self.read_batches(samples, batch_size, progress) for result in self.to_results(out)
        ]

    @torch.no_grad()
    def read_batches(
        self, samples: Sequence[Sample], batch_size: int = 16, progress: bool = False
    ) -> Iterator[tuple[Encoded, FuserOutput]]:
        """Encode and fuse ``samples`` batch by batch in eval mode (bf16 autocast on CUDA), yielding each
        batch's encoder outputs and fused output; the mode the model was in comes back at the end."""
        self.warn_if_untrained()
        was_training = self.training
        self.eval()
        device = self.device
        try:
            for start in tqdm(range(0, len(samples), batch_size), disable=not progress, desc="predict", unit="batch"):
                batch = self.processor.collate(samples[start : start + batch_size], first_index=start)
                batch = {m: {k: v.to(device, non_blocking=True) for k, v in t.items()} for m, t in batch.items()}
                with autocast(device):  # the one precision choice (mmempathy.device): bf16 on CUDA
                    encoded = self.encode(batch)
                    out = self.fuse(encoded)
                yield encoded, out
        finally:
            self.train(was_training)

    def to_results(self, out: FuserOutput) -> list[EmotionResult]:
        """Turn a batch's tensors into one :class:`EmotionResult` per item."""
        labels, names = self.labels, [m.value for m in self.modalities]
        probs = out.probs.float().cpu().numpy()
        weights = out.weights.float().cpu().numpy()
        present = out.present.cpu().numpy()
        mod_probs = {m.value: p.float().cpu().numpy() for m, p in out.modality_probs.items()}
        classify = self.config.task == "classification"
        results = []
        for i in range(len(probs)):
            here = [n for j, n in enumerate(names) if present[i, j]]
            results.append(
                EmotionResult(
                    probs=dict(zip(labels, probs[i].tolist())),
                    modalities={n: dict(zip(labels, mod_probs[n][i].tolist())) for n in here},
                    weights={n: float(weights[i, j]) for j, n in enumerate(names) if present[i, j]},
                    present=here,
                    incongruity=incongruity([mod_probs[n][i] for n in here]) if classify else 0.0,
                )
            )
        return results

    def predict_video(
        self,
        path: str | Path,
        subtitles: str | Path | None = None,
        transcript: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """An emotion timeline of a video or audio file; see :func:`mmempathy.media.pipeline.predict_video`."""
        from mmempathy.media.pipeline import predict_video

        return predict_video(self, path, subtitles=subtitles, transcript=transcript, **kwargs)

    def stream(self, source: Any, subtitles: str | Path | None = None, **kwargs: Any) -> Any:
        """Segments of a camera, network stream, ``-`` (stdin) or file played live, yielded as each is
        predicted; see :func:`mmempathy.media.live.stream`."""
        from mmempathy.media.live import stream

        return stream(self, source, subtitles, **kwargs)

    def feedback(self, item: Any, label: str | int, *, user: str | None = None, store: Any = None) -> int:
        """Record a correction (see :mod:`mmempathy.feedback`): the item's encoder outputs, ``label``,
        ``user`` and the time go into the feedback store (``store``: a path; default beside the weights).

        Args:
            item: A :class:`Sample` or a dict of :meth:`predict`'s inputs (``text``, ``audio``, ``faces``...).
            label: A label name or index of :attr:`labels`.

        Returns:
            The correction's id. Raises :class:`InputError` (nothing stored) for an unknown label or an
            item with none of the model's modalities.
        """
        from mmempathy.feedback import record

        return record(self, [item], [label], user=user, store=store)[0]

    def adapt(self, *, user: str | None = None, **kwargs: Any) -> Any:
        """Train, save and switch on an adapter on ``user``'s corrections; see :func:`mmempathy.feedback.adapt`."""
        from mmempathy.feedback import adapt

        return adapt(self, user=user, **kwargs)

    def use_adapter(self, adapter: Any = None) -> None:
        """Switch an adapter on (an :class:`~mmempathy.feedback.Adapter`, its name or its directory), or
        off with ``None``: the base model's outputs come back exactly."""
        from mmempathy.feedback import use_adapter

        use_adapter(self, adapter)

    def warn_if_untrained(self) -> None:
        """Warn (once) that predictions of untrained weights mean nothing."""
        if not self.config.trained and not self._warned_untrained:
            self._warned_untrained = True
            warnings.warn(
                "this model's weights are untrained (no trained checkpoint was loaded): its "
                "predictions are not meaningful",
                UserWarning,
                stacklevel=3,
            )

    def no_weight_decay(self) -> set[str]:
        """Parameter names the optimiser must not decay, besides biases and norms: the fusion's learned tokens."""
        return {f"fusion.{n}" for n in self.fusion.no_weight_decay()}

    @staticmethod
    def from_onnx(directory: str | Path, *, providers: Sequence[str] | None = None, threads: int | None = None) -> Any:
        """An :class:`~mmempathy.onnx.OnnxEmotionFuser` on an export of ``mmempathy export-onnx``
        (:func:`mmempathy.onnx.export_onnx`), predicting with onnxruntime: the same ``predict``,
        ``predict_samples`` and ``predict_video``, no torch at run time.

        ``providers`` are onnxruntime's execution providers (default: CPU), ``threads`` its threads per graph.
        Raises :class:`CheckpointError` when ``directory`` is not an export.
        """
        from mmempathy.onnx import OnnxEmotionFuser

        return OnnxEmotionFuser(directory, providers=providers, threads=threads)
