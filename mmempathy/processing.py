"""Validation and collation: raw :class:`Sample` inputs -> the tensors each encoder reads.

Every check raises :class:`~mmempathy.errors.InputError` naming the problem. What a model does not
read (say, faces given to a text-only model) is ignored; an item with nothing the model reads is an
error.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from mmempathy.config import FaceEncoderConfig, ModelConfig, SpeechEncoderConfig
from mmempathy.errors import InputError
from mmempathy.modality import Modality
from mmempathy.sample import Sample

if TYPE_CHECKING:  # torch loads where tensors are made (collate), so the ONNX runtime validates without it
    import torch

MIN_AUDIO_SECONDS = 0.1
# Rates outside this range are a mistake (a rate of 1 Hz would be upsampled 16,000 times).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384_000
# Float audio is in [-1, 1]; a little overshoot happens after processing, a peak past this does not.
MAX_FLOAT_PEAK = 2.0


def as_array(x: Any) -> np.ndarray:
    """``x`` as a NumPy array; a torch tensor is first moved to the CPU (torch is looked up, not imported:
    where it is not loaded, no tensor can exist)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def resample(wave: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) from ``orig_rate`` to ``target_rate``."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(orig_rate, target_rate)
    return resample_poly(wave, target_rate // g, orig_rate // g).astype(np.float32)


def prepare_audio(audio: Any, sample_rate: int | None, config: SpeechEncoderConfig) -> np.ndarray:
    """A mono float32 waveform at ``config.sample_rate``, checked and resampled."""
    if sample_rate is None:
        raise InputError("audio was given without sample_rate: pass sample_rate=<Hz> (e.g. 16000)")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise InputError(f"sample_rate must be an integer number of Hz, not {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise InputError(
            f"sample_rate {sample_rate} Hz is outside the accepted range {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        )
    try:
        wave = as_array(audio)
    except (TypeError, ValueError) as err:  # ragged lists and the like
        raise InputError(f"audio is not an array of samples: {err}") from None
    if wave.dtype.kind == "i":
        wave = wave / float(np.iinfo(wave.dtype).max + 1)
    elif wave.dtype.kind != "f":
        raise InputError(f"audio must be a float or integer PCM array, not dtype {wave.dtype}")
    if wave.size == 0:
        raise InputError(f"audio is empty (shape {wave.shape}): pass None to mark the audio as missing")
    if wave.ndim == 2:  # channels first or last, whichever axis is short
        wave = wave.mean(axis=0 if wave.shape[0] <= 8 and wave.shape[0] < wave.shape[1] else 1)
    if wave.ndim != 1:
        raise InputError(f"audio must be a 1-D waveform (or [channels, samples]), got shape {wave.shape}")
    if not np.isfinite(wave).all():
        raise InputError("audio contains NaN or infinite values")
    peak = float(np.abs(wave).max())
    if peak > MAX_FLOAT_PEAK:
        hint = " (the int16 scale: divide by 32768, or pass the int16 array)" if peak <= 32768 else ""
        raise InputError(f"float audio must be in [-1, 1], but it peaks at {peak:g}{hint}")
    wave = wave.astype(np.float32)
    if sample_rate != config.sample_rate:
        wave = resample(wave, int(sample_rate), config.sample_rate)
    if len(wave) < MIN_AUDIO_SECONDS * config.sample_rate:
        raise InputError(f"audio is too short: {len(wave) / config.sample_rate:.3f} s (need {MIN_AUDIO_SECONDS} s)")
    limit = int(config.max_seconds * config.sample_rate)
    if len(wave) > limit:
        warnings.warn(
            f"audio longer than {config.max_seconds} s was cut; use predict_video for long media",
            stacklevel=4,
        )
        wave = wave[:limit]
    return wave


# An image this large (short side, pixels) and this far from square (long side / short side) is a whole
# frame: a face crop is about square (FER2013 48x48, AffectNet 224x224, a detector's box plus margin).
FRAME_MIN_SIDE = 240
FRAME_ASPECT = 1.25
FRAME_FACE_SIZE = 224  # the crop taken from such a frame, before the encoder's own resizing


def prepare_faces(faces: Any, config: FaceEncoderConfig) -> np.ndarray:
    """``[F, C, H, W]`` float32 crops, resized, converted to the encoder's channels and normalised."""
    frames = list(faces) if isinstance(faces, (list, tuple)) else None
    if frames is None:
        array = as_array(faces)
        array = _channels_last(array)
        frames = list(array) if array.ndim == 4 or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)) else [array]
    if not frames:
        raise InputError("faces is empty: pass at least one face crop, or None")
    if len(frames) > config.max_frames:
        frames = [frames[i] for i in np.linspace(0, len(frames) - 1, config.max_frames).round().astype(int)]
    detector: list[Any] = []  # one face extractor for the item's whole frames, made at the first one
    return np.stack([prepare_face(_face_of_frame(np.asarray(f), detector), config) for f in frames])


def _face_of_frame(image: np.ndarray, detector: list[Any]) -> np.ndarray:
    """``image`` itself if it can be a face crop; the main face cropped from it if it is a whole frame
    (at least :data:`FRAME_MIN_SIDE` pixels high and :data:`FRAME_ASPECT` times wider than high, or more;
    a face crop is about square), with a warning; an :class:`InputError` if no face is in that frame.
    ``detector`` holds the item's face extractor once one was needed (its tracker then spans the frames)."""
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        return image  # prepare_face says what is wrong with it
    height, width = image.shape[:2]
    if min(height, width) < FRAME_MIN_SIDE or max(height, width) / min(height, width) < FRAME_ASPECT:
        return image
    if not detector:
        from mmempathy.media.faces import FaceExtractor

        detector.append(FaceExtractor(FRAME_FACE_SIZE))
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1)
    if rgb.dtype.kind == "f":
        rgb = np.clip(np.nan_to_num(rgb) * 255.0, 0, 255).round()
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    extractor = detector[0]
    crops = extractor.main_crops([extractor(rgb)])
    if not crops:
        raise InputError(
            f"faces: a {width}x{height} image is a whole frame, not a face crop, and no face was found in it; "
            "pass crops of the face (or give the video to predict_video, which finds the faces)"
        )
    warnings.warn(
        f"faces: a {width}x{height} image looks like a whole frame; the face found in it is used", stacklevel=6
    )
    return crops[0]


def _channels_last(array: np.ndarray) -> np.ndarray:
    """Faces as ``[..., H, W, C]``: channels-first stacks are transposed (with a warning), ambiguous
    or impossible channel counts are errors that say so."""
    small = (1, 3, 4)
    if array.ndim == 4 and array.shape[1] in small and array.shape[-1] not in small and min(array.shape[2:]) >= 8:
        warnings.warn(
            f"faces of shape {array.shape} look channels-first [F, C, H, W]; transposed to [F, H, W, C]",
            UserWarning,
            stacklevel=5,
        )
        return array.transpose(0, 2, 3, 1)
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[-1] not in small and min(array.shape[1:]) >= 8:
        raise InputError(
            f"faces of shape {array.shape} look like one channels-first [3, H, W] crop, but could be three "
            "grayscale frames: pass the crop channels-last ([H, W, 3], e.g. array.transpose(1, 2, 0)), or a "
            "list of [H, W] frames"
        )
    if array.ndim in (3, 4) and array.shape[-1] not in small and array.shape[-1] < 8 <= min(array.shape[-3:-1]):
        raise InputError(_channel_message(array.shape))
    return array


def _channel_message(shape: tuple[int, ...]) -> str:
    return (
        f"a face crop has {shape[-1]} channels (shape {shape}): it must be [H, W] or [H, W, C], channels last, "
        "with C = 1 (grayscale), 3 (RGB) or 4 (RGBA)"
    )


def prepare_face(image: np.ndarray, config: FaceEncoderConfig) -> np.ndarray:
    """One crop ``[H, W]`` or ``[H, W, 1|3|4]`` (uint8, or float in [0, 1]) -> ``[C, S, S]`` float32."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] not in (3, 4) and min(image.shape[:2]) >= 8:
        raise InputError(_channel_message(image.shape))
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise InputError(f"a face crop must be [H, W] or [H, W, 3] (RGB), got shape {image.shape}")
    if min(image.shape[:2]) < 8:
        raise InputError(f"a face crop of {image.shape[0]}x{image.shape[1]} pixels is too small (need 8x8)")
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    elif image.dtype.kind == "f":
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise InputError("float face crops must hold values in [0, 1]; pass uint8 for 0..255")
        image = image.astype(np.float32)
    else:
        raise InputError(f"face crops must be uint8 (0..255) or float in [0, 1], not dtype {image.dtype}")
    if image.ndim == 3:
        image = image[..., :3]
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if config.channels == 1 else image
    elif config.channels == 3:
        image = np.repeat(image[..., None], 3, axis=-1)
    size = config.image_size
    interp = cv2.INTER_AREA if min(image.shape[:2]) > size else cv2.INTER_LINEAR
    image = cv2.resize(image, (size, size), interpolation=interp).reshape(size, size, config.channels)
    image = (image - np.asarray(config.mean, np.float32)) / np.asarray(config.std, np.float32)
    return image.transpose(2, 0, 1)


def _check_unicode(text: str) -> None:
    """Text must encode as UTF-8: a lone surrogate (from bytes decoded with ``surrogateescape``) cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(
            f"text holds a lone surrogate U+{ord(text[err.start]):04X} at index {err.start}, which is not valid "
            "Unicode (bytes decoded with errors='surrogateescape'?); decode the bytes with errors='replace'"
        ) from None


def prepare_features(features: Any, input_dim: int, name: str) -> np.ndarray:
    """``[T, D]`` float32 feature vectors of the configured size."""
    feats = np.asarray(features, dtype=np.float32)
    feats = feats[None] if feats.ndim == 1 else feats
    if feats.ndim != 2 or feats.shape[-1] != input_dim or len(feats) == 0:
        raise InputError(f"{name} features must be [{input_dim}] or [T, {input_dim}], got shape {feats.shape}")
    if not np.isfinite(feats).all():
        raise InputError(f"{name} features contain NaN or infinite values")
    return feats


def pad_arrays(items: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """Stack arrays of unequal first dimension: zeros and a False mask where padded or missing."""
    ref = next(x for x in items if x is not None)
    length = max(len(x) for x in items if x is not None)
    out = np.zeros((len(items), length, *ref.shape[1:]), dtype=ref.dtype)
    mask = np.zeros((len(items), length), dtype=bool)
    for i, x in enumerate(items):
        if x is not None:
            out[i, : len(x)], mask[i, : len(x)] = x, True
    return out, mask


def pad_stack(items: list[np.ndarray | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`pad_arrays` as tensors."""
    import torch

    out, mask = pad_arrays(items)
    return torch.from_numpy(out), torch.from_numpy(mask)


class Processor:
    """Turns :class:`Sample` objects into the batch dict :meth:`EmotionFuser.forward` reads.

    Example:
        >>> from mmempathy import EmotionFuser, Sample
        >>> fuser = EmotionFuser.from_pretrained("tiny")
        >>> batch = fuser.processor.collate([Sample(text="hello there")])
        >>> sorted(batch[Modality.TEXT])
        ['attention_mask', 'input_ids']
    """

    # how padded arrays become the batch's values (tensors here; the ONNX runtime's processor keeps arrays)
    pad = staticmethod(pad_stack)

    def __init__(self, config: ModelConfig, tokenizer: Any = None) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.modalities = config.modalities

    @property
    def sample_rate(self) -> int:
        """The rate waveforms are resampled to."""
        return self.config.audio.sample_rate if self.config.audio else 16000

    @property
    def face_size(self) -> int:
        """Side of the square crop the face encoder reads."""
        return self.config.face.image_size if self.config.face else 0

    def prepare(self, sample: Sample) -> dict[Modality, Any]:
        """Check one sample and convert what the model reads; raises :class:`InputError`."""
        out: dict[Modality, Any] = {}
        for m in self.modalities:
            cfg = self.config.encoder(m)
            if cfg.kind == "features":
                if sample.features and m.value in sample.features:
                    out[m] = prepare_features(sample.features[m.value], cfg.input_dim, m.value)
            elif m is Modality.TEXT and sample.text is not None:
                if not isinstance(sample.text, str):
                    raise InputError(f"text must be a string, not {type(sample.text).__name__}")
                if not sample.text.strip():
                    raise InputError("text is empty: pass None to mark the text as missing")
                _check_unicode(sample.text)
                out[m] = sample.text.strip()
            elif m is Modality.AUDIO and sample.audio is not None:
                out[m] = prepare_audio(sample.audio, sample.sample_rate, cfg)
            elif m is Modality.FACE and sample.faces is not None:
                out[m] = prepare_faces(sample.faces, cfg)
        if not out:
            reads = ", ".join(m.value for m in self.modalities)
            raise InputError(f"no usable modality in this input: the model reads {reads}; pass at least one")
        return out

    def collate(self, samples: Sequence[Sample], *, first_index: int = 0) -> dict[Modality, dict[str, torch.Tensor]]:
        """Prepare and pad a list of samples into one batch (see docs/architecture.md).

        Args:
            samples: The items.
            first_index: Index of ``samples[0]`` in the caller's whole list, so that an error
                names the item the caller knows (``item 17: audio is empty ...``).
        """
        prepared = []
        for i, sample in enumerate(samples):
            try:
                prepared.append(self.prepare(sample))
            except InputError as err:
                if len(samples) == 1 and first_index == 0:
                    raise
                raise InputError(f"item {first_index + i}: {err}") from err
        batch: dict[Modality, dict[str, torch.Tensor]] = {}
        for m in self.modalities:
            items = [p.get(m) for p in prepared]
            if all(x is None for x in items):
                continue
            if self.config.encoder(m).kind == "features":
                feats, mask = self.pad(items)
                batch[m] = {"features": feats, "mask": mask}
            elif m is Modality.TEXT:
                batch[m] = self.tokenize(items)
            elif m is Modality.AUDIO:
                wave, mask = self.pad(items)
                batch[m] = {"waveform": wave, "mask": mask}
            else:
                pixels, mask = self.pad(items)
                batch[m] = {"pixels": pixels, "mask": mask}
        return batch

    def tokenize(self, texts: list[str | None]) -> dict[str, torch.Tensor]:
        """Token ids and attention mask; missing texts get an all-zero mask row."""
        import torch

        enc = self.tokenizer(
            [t or "" for t in texts],
            padding=True,
            truncation=True,
            max_length=self.config.text.max_length,
            return_tensors="pt",
        )
        missing = torch.tensor([t is None for t in texts])
        enc["attention_mask"][missing] = 0
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
