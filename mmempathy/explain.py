"""Why a reading came out as it did: the words, face frames and moments of speech that moved it.

:func:`explain_samples` gives each item a ``why`` (``EmotionResult.why``, ``Segment.why``), a JSON-ready dict:

* ``label``: the fused label that is explained (the reading's top label, read plainly: a person baseline
  is not part of the explanation);
* ``shares``: how much each present modality counted in the fused reading (the fusion gate's weights);
* ``words``: every word of the text in order, ``{"word", "score"}``. The score is the word's integrated
  gradient (Sundararajan et al., 2017; Captum's ``LayerIntegratedGradients`` over the text encoder's token
  embeddings, from a baseline of padding tokens with the special tokens kept) of the fused probability
  of ``label``, summed over the word's pieces. The scores of all words add up to about how much the text
  moved that probability from what empty text gives (integrated gradients' completeness), so they are
  in probability points: +0.10 means the word raised the probability of ``label`` by about 10 points.
* ``face``: every face frame the model read, ``{"frame", "score"}``, and for the three that weighed most
  an ``image`` (a small JPEG data URI). The face's frames are a set, pooled by their mean, so each weighs
  the same in the pooling; what differs is what each frame carries. The score is how much the face's own
  reading of ``label`` drops when the frame is left out (with a single frame: how far it is from a
  reading without evidence, one over the number of labels).
* ``speech``: spans of :data:`SPEECH_SPAN` seconds, ``{"start", "end", "score"}`` in seconds from the item's
  start: how much the voice's own reading of ``label`` drops when the speech encoder's frames of that span
  are hidden from the fusion (occlusion of what the fusion reads; the encoder itself heard the whole clip).

Pre-extracted features (encoders of kind ``"features"``) have no words and no seconds: their items get
``shares`` and ``face`` frames only. Positive scores pushed towards ``label``, negative ones away from it.

Explanations cost time (the text encoder runs :data:`STEPS` more times, the fusion once per face frame and
speech span), so they are off unless asked for: ``predict(..., explain=True)``, ``predict_video(...,
explain=True)``, ``mmempathy predict --explain``. Captum is an extra: ``pip install 'mmempathy[explain]'``.

Example:
    >>> from mmempathy import EmotionFuser
    >>> fuser = EmotionFuser.from_pretrained("tiny")  # doctest: +SKIP
    >>> fuser.predict(text="I can't believe you did that!", explain=True).why["words"][0]  # doctest: +SKIP
    {'word': 'I', 'score': 0.0123}
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch

from mmempathy.errors import InputError
from mmempathy.extras import needs
from mmempathy.modality import Modality
from mmempathy.processing import _channels_last
from mmempathy.sample import Sample

if TYPE_CHECKING:
    from mmempathy.model import EmotionFuser, Encoded

STEPS = 16  # integrated-gradients steps: 64 gave the same top word on 100 of 100 MELD test lines (RESULTS.md)
SPEECH_SPAN = 0.5  # seconds of speech hidden at a time
THUMBNAILS = 3  # face frames per item that keep a picture
THUMBNAIL_SIDE = 64  # pixels
DIGITS = 4  # scores are rounded: their fourth decimal is already below what the method can tell


def explain_samples(fuser: EmotionFuser, samples: Sequence[Sample], *, steps: int = STEPS) -> list[dict[str, Any]]:
    """The ``why`` of each sample's fused reading (see the module's documentation).

    Args:
        fuser: The model (torch; an ONNX export cannot be explained: it has no gradients).
        samples: The items, as ``predict_samples`` takes them.
        steps: Integrated-gradients steps for the words.

    Raises:
        MissingPackageError: Captum is not installed (``pip install 'mmempathy[explain]'``).
        InputError: An item is unusable (as in ``predict``).
    """
    if not isinstance(fuser, torch.nn.Module):
        raise InputError(
            "explanations need the torch model (gradients through its text encoder): an ONNX export cannot "
            "explain its readings; load the checkpoint with EmotionFuser.from_pretrained (or drop --onnx)"
        )
    if fuser.config.task != "classification":
        raise InputError(
            "explanations are made for models that read labels: this one predicts values "
            f"({', '.join(fuser.labels)}); predict without explain"
        )
    with needs("explaining a reading (explain=True, --explain)"):
        from captum.attr import LayerIntegratedGradients
    if steps < 2:
        raise InputError(f"explanations need at least 2 integrated-gradients steps, got {steps}")
    was_training = fuser.training
    fuser.eval()
    try:
        return [
            _explain_one(fuser, sample, index, steps, LayerIntegratedGradients) for index, sample in enumerate(samples)
        ]
    finally:
        fuser.train(was_training)


def _explain_one(fuser: EmotionFuser, sample: Sample, index: int, steps: int, ig_class: type) -> dict[str, Any]:
    batch = fuser.processor.collate([sample], first_index=index)
    batch = {m: {k: v.to(fuser.device) for k, v in t.items()} for m, t in batch.items()}
    with torch.no_grad():
        encoded = fuser.encode(batch)
        out = fuser.fuse(encoded)
    target = int(out.probs[0].argmax())
    shares = {
        m.value: round(float(out.weights[0, i]), DIGITS) for i, m in enumerate(fuser.modalities) if out.present[0, i]
    }
    why: dict[str, Any] = {"label": fuser.labels[target], "shares": shares}
    # words need a tokenizer and token embeddings: text given as pre-extracted features has neither
    if Modality.TEXT in encoded and sample.text is not None and fuser.config.text.kind == "hf":
        why["words"] = _words(fuser, sample.text, batch[Modality.TEXT], encoded, target, steps, ig_class)
    if Modality.FACE in encoded:
        why["face"] = _frames(fuser, sample, encoded, target)
    if Modality.AUDIO in encoded and "waveform" in batch[Modality.AUDIO]:  # spans in seconds need the waveform
        seconds = float(batch[Modality.AUDIO]["mask"].sum()) / fuser.config.audio.sample_rate
        why["speech"] = _speech(fuser, encoded, target, seconds)
    return why


def _repeat(encoded: Encoded, n: int) -> Encoded:
    """Each modality's encoder outputs for ``n`` copies of one item."""
    return {m: (t.expand(n, *t.shape[1:]), mask.expand(n, -1).clone()) for m, (t, mask) in encoded.items()}


def _words(
    fuser: EmotionFuser,
    text: str,
    inputs: dict[str, torch.Tensor],
    encoded: Encoded,
    target: int,
    steps: int,
    ig_class: type,
) -> list[dict[str, Any]]:
    """Integrated gradients of the fused probability of ``target`` over the token embeddings, per word."""
    encoder = fuser.encoders[Modality.TEXT.value]
    others = {m: v for m, v in encoded.items() if m is not Modality.TEXT}

    def fused(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        rest = _repeat(others, len(input_ids))
        text = encoder(input_ids=input_ids, attention_mask=attention_mask)
        return fuser.fuse({**rest, Modality.TEXT: text}, head_gradients=True).probs

    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    tokenizer = fuser.processor.tokenizer
    special = torch.tensor(tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True))
    reference = torch.where(special.bool().to(ids.device), ids[0], tokenizer.pad_token_id or 0)[None]
    ig = ig_class(fused, encoder.model.get_input_embeddings())
    with torch.enable_grad():
        attributions = ig.attribute(
            ids, baselines=reference, additional_forward_args=(mask,), target=target, n_steps=steps
        )
    per_token = attributions.sum(-1)[0].detach().float().cpu().numpy()
    return [{"word": w, "score": round(float(s), DIGITS)} for w, s in _word_scores(tokenizer, text, ids[0], per_token)]


def _word_scores(tokenizer: Any, text: str, ids: torch.Tensor, per_token: np.ndarray) -> list[tuple[str, float]]:
    """Token scores summed into the words of ``text``, as a person reads them: the text's runs of characters
    between spaces (``can't`` is one word, though BERT's tokenizer makes three of it). Words the tokenizer
    cut off (past ``max_length``) score 0: the model never read them."""
    words = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    scores = [0.0] * len(words)
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, truncation=True, max_length=len(ids), return_offsets_mapping=True)
        for position, (start, end) in enumerate(enc["offset_mapping"][: len(per_token)]):
            if end > start:  # special tokens have empty spans
                k = next((k for k, (_, a, b) in enumerate(words) if a <= start < b), None)
                if k is not None:
                    scores[k] += float(per_token[position])
        return [(w, s) for (w, _, _), s in zip(words, scores)]
    out: list[tuple[str, float]] = []  # a slow tokenizer has no offsets: its own words, "##" pieces joined
    specials = set(tokenizer.all_special_tokens)
    for token, score in zip(tokenizer.convert_ids_to_tokens(ids.tolist()), per_token):
        if token in specials:
            continue
        if token.startswith("##") and out:
            out[-1] = (out[-1][0] + token[2:], out[-1][1] + float(score))
        else:
            out.append((token, float(score)))
    return out


def _own_reading(fuser: EmotionFuser, encoded: Encoded, modality: Modality, target: int) -> torch.Tensor:
    """``[n]`` a modality's own probability of ``target`` (one over the labels where it has no frame left)."""
    with torch.no_grad():
        out = fuser.fuse(encoded)
    here = encoded[modality][1].any(-1)
    prior = torch.full_like(here, 1.0 / len(fuser.labels), dtype=torch.float32)
    if modality not in out.modality_probs:
        return prior
    return torch.where(here, out.modality_probs[modality][:, target].float(), prior)


def _hidden_one_at_a_time(
    fuser: EmotionFuser, encoded: Encoded, modality: Modality, groups: list[list[int]], target: int
) -> np.ndarray:
    """For each group of frame indices: the modality's own reading of ``target`` minus that reading with the
    group hidden from the fusion."""
    full = _own_reading(fuser, encoded, modality, target)[0]
    copies = _repeat(encoded, len(groups))
    for row, group in enumerate(groups):
        copies[modality][1][row, group] = False
    return (full - _own_reading(fuser, copies, modality, target)).cpu().numpy()


def _frames(fuser: EmotionFuser, sample: Sample, encoded: Encoded, target: int) -> list[dict[str, Any]]:
    frames = encoded[Modality.FACE][1][0].nonzero().flatten().tolist()
    scores = _hidden_one_at_a_time(fuser, encoded, Modality.FACE, [[f] for f in frames], target)
    rows: list[dict[str, Any]] = [{"frame": f, "score": round(float(s), DIGITS)} for f, s in zip(frames, scores)]
    crops = _crops_read(sample.faces, fuser.config.face.max_frames)
    for row in sorted(rows, key=lambda r: -r["score"])[:THUMBNAILS]:
        if row["frame"] < len(crops):
            row["image"] = thumbnail(crops[row["frame"]])
    return rows


def _crops_read(faces: Any, max_frames: int) -> list[np.ndarray]:
    """The crops of ``faces`` that the face encoder read, in its order (as ``prepare_faces`` keeps them)."""
    if faces is None:
        return []
    if isinstance(faces, (list, tuple)):
        crops = [np.asarray(f) for f in faces]
    else:
        array = _channels_last(np.asarray(faces))
        crops = list(array) if array.ndim == 4 or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)) else [array]
    if len(crops) > max_frames:
        crops = [crops[i] for i in np.linspace(0, len(crops) - 1, max_frames).round().astype(int)]
    return crops


def thumbnail(crop: Any, side: int = THUMBNAIL_SIDE) -> str:
    """A face crop as a small JPEG ``data:`` URI (uint8 or float in [0, 1], grey or RGB, channels last)."""
    image = np.asarray(crop)
    if image.dtype.kind == "f":
        image = np.clip(image * 255.0, 0, 255)
    image = image.astype(np.uint8)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2BGR)
    scale = side / max(image.shape[:2])
    image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))))
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii") if ok else ""


def _speech(fuser: EmotionFuser, encoded: Encoded, target: int, seconds: float) -> list[dict[str, Any]]:
    frames = encoded[Modality.AUDIO][1][0].nonzero().flatten().tolist()
    if not frames:
        return []
    per_frame = seconds / len(frames)
    groups: dict[int, list[int]] = {}
    for position, frame in enumerate(frames):
        groups.setdefault(int(position * per_frame // SPEECH_SPAN), []).append(frame)
    scores = _hidden_one_at_a_time(fuser, encoded, Modality.AUDIO, list(groups.values()), target)
    return [
        {
            "start": round(k * SPEECH_SPAN, 3),
            "end": round(min(seconds, (k + 1) * SPEECH_SPAN), 3),
            "score": round(float(s), DIGITS),
        }
        for k, s in zip(groups, scores)
    ]
