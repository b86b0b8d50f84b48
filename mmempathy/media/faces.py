"""Face detection (CenterFace, or OpenCV's Haar cascade), a small IoU tracker, and square face crops.

The default detector is CenterFace (a small CNN trained on WIDER FACE: profiles, tilted and blurred
faces), whose ONNX file ships inside mmempathy (``mmempathy/assets/centerface``, MIT) and runs on
onnxruntime (half the time OpenCV's DNN module takes on the same graph); it also gives five
landmarks, which let crops be rotated upright. The Haar cascade, which ships inside the
``opencv-python-headless`` wheel, finds only near-frontal, upright faces; it is kept as
``detector="haar"``, and is used (with a one-time warning) when the CenterFace file is missing or
onnxruntime cannot load it. Nothing is downloaded.

Detection runs on a downscaled copy of each frame (its cost grows with the pixel count); boxes are
mapped back to the full frame, whose pixels the crops are cut from.

Bad frames (documented behaviour): a frame that is not a numpy array, not uint8, empty, or not
``[H, W]`` / ``[H, W, 3]`` / ``[H, W, 4]`` raises :class:`~mmempathy.errors.InputError`; a frame
too small to hold a face (shorter side under ``MIN_SIDE`` pixels) has no face.

Example:
    >>> import numpy as np
    >>> extractor = FaceExtractor(face_size=64)
    >>> faces = extractor(np.zeros((360, 640, 3), np.uint8))
    >>> faces.found
    False
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from mmempathy.errors import InputError, MMEmpathyError
from mmempathy.media.config import DETECTORS

log = logging.getLogger(__name__)

CASCADE = "haarcascade_frontalface_default.xml"
CENTERFACE = Path(__file__).resolve().parent.parent / "assets" / "centerface" / "centerface.onnx"
# Frames whose shorter side is below this hold no findable face (both detectors need ~12 px faces).
MIN_SIDE = 16
_warned: set[str] = set()


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left corner ``(x, y)``, width ``w``, height ``h``.

    ``score`` is the detector's confidence and ``landmarks`` its five points ``(x, y)``: the eye on
    the image's left, the other eye, the nose tip, the left and the right mouth corner (``None``
    when the detector gives none, as the Haar cascade does).
    """

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def area(self) -> float:
        return self.w * self.h

    @property
    def roll(self) -> float:
        """Angle of the line between the eyes, in degrees (clockwise in the image); 0 without landmarks."""
        if not self.landmarks:
            return 0.0
        (lx, ly), (rx, ry) = self.landmarks[0], self.landmarks[1]
        return math.degrees(math.atan2(ry - ly, rx - lx))

    def iou(self, other: Box) -> float:
        """Intersection over union with another box (0 when disjoint)."""
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scaled(self, factor: float) -> Box:
        points = tuple((px * factor, py * factor) for px, py in self.landmarks) if self.landmarks else None
        return replace(
            self, x=self.x * factor, y=self.y * factor, w=self.w * factor, h=self.h * factor, landmarks=points
        )


class _Haar:
    """OpenCV's frontal-face cascade on a grayscale image."""

    # Haar boxes span about 0.98 of an upscaled FER2013 image: a small margin frames faces as FER does.
    margin = 0.05

    def __init__(self, *, scale_factor: float, min_neighbors: int, min_size: float, equalize: bool, cascade: str):
        path = Path(cv2.data.haarcascades) / cascade
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise MMEmpathyError(f"could not load the OpenCV cascade {path}")
        self.scale_factor, self.min_neighbors, self.min_size, self.equalize = (
            scale_factor,
            min_neighbors,
            min_size,
            equalize,
        )

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self.equalize:
            gray = cv2.equalizeHist(gray)
        side = max(12, round(self.min_size * min(gray.shape[:2])))
        found = self.cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        return [Box(*map(float, b)) for b in found]


class _CenterFace:
    """CenterFace (anchor-free: a heatmap of face centres at stride 4, plus sizes and landmarks)."""

    # On upscaled FER2013 train images a CenterFace box spans 0.966 of the image and a Haar box 0.974
    # (medians of 319): the same margin frames both detectors' crops alike, as the lite encoder saw.
    margin = 0.05
    stride = 4
    # The file's output names: heatmap [1, h, w], log box size [2, h, w], centre offset [2, h, w],
    # landmarks [10, h, w].
    OUTPUTS = ("537", "538", "539", "540")

    def __init__(self, *, threshold: float, nms: float, min_size: float, model: str | Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.threshold, self.nms, self.min_size = threshold, nms, min_size

    def __call__(self, rgb: np.ndarray) -> list[Box]:
        height, width = rgb.shape[:2]
        # The net wants sides divisible by 32: pad (rather than stretch) so coordinates stay exact.
        padded = cv2.copyMakeBorder(rgb, 0, -height % 32, 0, -width % 32, cv2.BORDER_CONSTANT, value=0)
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
        heat, scale, offset, marks = (out[0] for out in self.session.run(list(self.OUTPUTS), {self.input: blob}))
        rows, cols = np.nonzero(heat[0] > self.threshold)
        if len(rows) == 0:
            return []
        h = np.exp(scale[0, rows, cols]) * self.stride
        w = np.exp(scale[1, rows, cols]) * self.stride
        x0 = (cols + offset[1, rows, cols] + 0.5) * self.stride - w / 2
        y0 = (rows + offset[0, rows, cols] + 0.5) * self.stride - h / 2
        # landmarks are (y, x) pairs relative to the box's top-left corner, in units of its size
        ly = marks[0::2, rows, cols] * h + y0
        lx = marks[1::2, rows, cols] * w + x0
        x1, y1 = np.clip(x0 + w, 0, width), np.clip(y0 + h, 0, height)
        x0, y0 = np.clip(x0, 0, width), np.clip(y0, 0, height)
        w, h = x1 - x0, y1 - y0
        scores = heat[0, rows, cols]
        rects = np.stack([x0, y0, w, h], axis=1)
        keep = cv2.dnn.NMSBoxes(rects.tolist(), scores.tolist(), self.threshold, self.nms)
        side = self.min_size * min(height, width)
        return [
            Box(
                *map(float, rects[i]),
                score=float(scores[i]),
                landmarks=tuple(zip(map(float, lx[:, i]), map(float, ly[:, i]))),
            )
            for i in np.asarray(keep, dtype=int).reshape(-1)
            if max(rects[i, 2], rects[i, 3]) >= side
        ]


class FaceDetector:
    """Faces in a frame, largest first: CenterFace, OpenCV's Haar cascade, or both.

    Args:
        detector: ``"centerface"`` (finds turned, tilted and small faces, and gives landmarks),
            ``"haar"`` (frontal, upright faces only), or ``"auto"`` (CenterFace, and the cascade on
            the frames where CenterFace finds nothing: it also finds drawn and very flat faces). When
            the CenterFace file is missing or does not load, the cascade alone is used, with a
            one-time warning; :attr:`name` says what runs.
        detect_side: Frames are downscaled so that their longer side is at most this many pixels
            before detection; smaller is faster but misses small faces.
        min_size: Smallest face, as a fraction of the detection image's shorter side.
        threshold: CenterFace: least heatmap score for a face.
        nms: CenterFace: overlap above which the weaker of two boxes is dropped.
        scale_factor: Haar: step between the cascade's scales (bigger is faster, coarser).
        min_neighbors: Haar: overlapping hits needed to accept a face (bigger means fewer false faces).
        equalize: Haar: equalise the histogram first; helps in dim footage, but hurts on flat
            backgrounds (the stretched background swamps the face), hence off by default.
        cascade: Haar: the cascade file in OpenCV's ``data`` folder.
        model: CenterFace: the ONNX file (default: the one shipped with mmempathy).
        threads: CenterFace: onnxruntime's threads (its input is ~0.1 megapixel: two threads take
            two thirds of one thread's time).

    Example:
        >>> import numpy as np
        >>> FaceDetector(detector="haar")(np.zeros((240, 320, 3), np.uint8))
        []
    """

    def __init__(
        self,
        *,
        detector: str = "auto",
        detect_side: int = 400,
        min_size: float = 0.08,
        threshold: float = 0.5,
        nms: float = 0.3,
        scale_factor: float = 1.15,
        min_neighbors: int = 5,
        equalize: bool = False,
        cascade: str = CASCADE,
        model: str | Path | None = None,
        threads: int = 2,
    ):
        if detector not in DETECTORS:
            raise InputError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
        self.detect_side = detect_side
        self.backends: list[_CenterFace | _Haar] = []
        if detector != "haar":
            path = Path(model) if model is not None else CENTERFACE
            try:
                if not path.is_file():
                    raise FileNotFoundError(f"no such file: {path}")
                self.backends.append(
                    _CenterFace(threshold=threshold, nms=nms, min_size=min_size, model=path, threads=threads)
                )
            except Exception as err:  # onnxruntime's load errors subclass Exception only; any means: fall back
                if str(path) not in _warned:
                    _warned.add(str(path))
                    log.warning("CenterFace face detector unavailable (%s); using the Haar cascade instead", err)
        if detector != "centerface" or not self.backends:
            haar = _Haar(
                scale_factor=scale_factor,
                min_neighbors=min_neighbors,
                min_size=min_size,
                equalize=equalize,
                cascade=cascade,
            )
            self.backends.append(haar)
        self.name = "+".join("centerface" if isinstance(b, _CenterFace) else "haar" for b in self.backends)

    @property
    def margin(self) -> float:
        """The crop margin that frames this detector's boxes as FER2013 frames faces."""
        return self.backends[0].margin

    def __call__(self, image: np.ndarray) -> list[Box]:
        """Boxes in ``image`` coordinates (``[H, W, 3]`` RGB, ``[H, W, 4]`` RGBA or ``[H, W]`` gray uint8)."""
        rgb = as_rgb(image)
        if min(rgb.shape[:2]) < MIN_SIDE:
            return []
        scale = min(1.0, self.detect_side / max(rgb.shape[:2]))
        if scale < 1.0:
            size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(rgb)
        boxes: list[Box] = []
        for backend in self.backends:
            boxes = backend(rgb)
            if boxes:
                break
        return sorted((b.scaled(1.0 / scale) for b in boxes), key=lambda b: b.area, reverse=True)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A frame as ``[H, W, 3]`` uint8 RGB; raises :class:`InputError` for anything that is not an image."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"a frame must be a numpy array, not {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"a frame must be uint8 (0..255), not dtype {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise InputError(f"a frame must be [H, W], [H, W, 3] (RGB) or [H, W, 4], got shape {image.shape}")
    if image.size == 0:
        raise InputError(f"a frame is empty (shape {image.shape})")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image[..., :3] if image.shape[-1] == 4 else image


@dataclass
class _Track:
    box: Box
    missed: int = 0


class FaceTracker:
    """Links boxes across frames by IoU so that one person keeps one id.

    Each update matches boxes to live tracks greedily, best overlap first; a box that overlaps no
    track starts a new one, and a track unseen for more than ``max_missed`` updates ends.
    ``hits[id]`` counts how often each track was seen, which picks the main face.

    Args:
        iou_threshold: Least overlap for a box to continue a track.
        max_missed: Updates a track may go unseen before it ends.
    """

    def __init__(self, *, iou_threshold: float = 0.3, max_missed: int = 4):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.tracks: dict[int, _Track] = {}
        self.hits: dict[int, int] = {}
        self._next_id = 0

    def update(self, boxes: list[Box]) -> list[int]:
        """The track id of each box, in the order given."""
        pairs = sorted(
            ((box.iou(track.box), i, tid) for i, box in enumerate(boxes) for tid, track in self.tracks.items()),
            reverse=True,
        )
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for overlap, i, tid in pairs:
            if overlap < self.iou_threshold:
                break
            if ids[i] is None and tid not in used:
                ids[i] = tid
                used.add(tid)
        for i, box in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self._next_id
                self._next_id += 1
            self.tracks[ids[i]] = _Track(box)
            self.hits[ids[i]] = self.hits.get(ids[i], 0) + 1
        for tid in list(self.tracks):
            if tid not in ids:
                self.tracks[tid].missed += 1
                if self.tracks[tid].missed > self.max_missed:
                    del self.tracks[tid]
        return ids  # type: ignore[return-value]

    def main_track(self, candidates: set[int] | list[int], hits: Mapping[int, int] | None = None) -> int | None:
        """The most persistent track among ``candidates`` (seen most often so far, or in ``hits``: the
        counts as they stood at an earlier frame, for a reader that runs behind the tracker)."""
        hits = self.hits if hits is None else hits
        return max(candidates, key=lambda tid: (hits.get(tid, 0), -tid), default=None)


def crop_face(image: np.ndarray, box: Box, size: int, margin: float = 0.2, angle: float = 0.0) -> np.ndarray:
    """A square ``[size, size, 3]`` uint8 crop around ``box``, grown by ``margin`` on each side.

    ``angle`` (degrees, clockwise in the image, as :attr:`Box.roll`) turns the square with the face,
    so that a tilted face comes out upright. Parts of the square outside the frame are filled by
    replicating the border.
    """
    side = max(box.w, box.h) * (1.0 + 2.0 * margin)
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    if abs(angle) > 0.5:
        # Rotate only the region the turned square covers, at full resolution, then cut it upright.
        reach = side * (abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle)))) / 2.0 + 2.0
        patch = crop_face(image, Box(cx - reach, cy - reach, 2 * reach, 2 * reach), max(1, round(2 * reach)), 0.0)
        centre = (patch.shape[1] / 2.0, patch.shape[0] / 2.0)
        turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
        patch = cv2.warpAffine(patch, turn, patch.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        half = patch.shape[0] / 2.0
        return crop_face(patch, Box(half - side / 2.0, half - side / 2.0, side, side), size, 0.0)
    x0, y0 = round(cx - side / 2.0), round(cy - side / 2.0)
    x1, y1 = x0 + max(1, round(side)), y0 + max(1, round(side))
    height, width = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - width, y1 - height)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = image[y0:y1, x0:x1]
    interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    crop = cv2.resize(crop, (size, size), interpolation=interpolation)
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(crop, dtype=np.uint8)


def _thumbnail(crop: np.ndarray) -> np.ndarray:
    """A crop as 16x16 grayscale in 0-1, to tell whether a face still looks as it did."""
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    return cv2.resize(gray, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


@dataclass
class FrameFaces:
    """The faces of one frame: track ids and crops, largest face first; empty when none."""

    time: float
    track_ids: list[int] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.track_ids)

    def crop_of(self, track_id: int) -> np.ndarray | None:
        for tid, crop in zip(self.track_ids, self.crops):
            if tid == track_id:
                return crop
        return None


class FaceExtractor:
    """Detect, track and crop the faces of consecutive frames of one video.

    Args:
        face_size: Side of the square crops, in pixels.
        margin: Fraction of the face box added on each side before cropping (default: the
            detector's :attr:`FaceDetector.margin`, which frames faces as FER2013 does, the format
            the ``lite`` face encoder was trained on).
        max_faces: Faces kept per frame (the largest ones).
        detector: The detector, or its name (``"centerface"``, ``"haar"``); default: a
            :class:`FaceDetector` with its defaults.
        tracker: The tracker to use (default: :class:`FaceTracker` with its defaults).
        align: Turn each crop so that the eyes are level, when the detector gives landmarks.
        detect_every: Seconds between detections (0: every frame). In between, the faces last found are
            cut from each frame at the same place, as long as they still look as they did when found
            (``max_change``); a frame where one does not (a cut, a person leaving or moving fast), or
            after a detection that found nothing, is searched again.
        max_change: Mean absolute difference (0-1) between a carried face's 16x16 grayscale thumbnail
            and the one it had when found, above which the frame is searched again.
    """

    def __init__(
        self,
        face_size: int = 112,
        *,
        margin: float | None = None,
        max_faces: int = 3,
        detector: FaceDetector | str | None = None,
        tracker: FaceTracker | None = None,
        align: bool = True,
        detect_every: float = 0.0,
        max_change: float = 0.1,
    ):
        self.face_size = face_size
        self.max_faces = max_faces
        self.detector = FaceDetector(detector=detector) if isinstance(detector, str) else detector or FaceDetector()
        self.margin = self.detector.margin if margin is None else margin
        self.tracker = tracker or FaceTracker()
        self.align = align
        self.detect_every = detect_every
        self.max_change = max_change
        self._found: tuple[float, list[Box], list[np.ndarray]] | None = None  # when, the boxes, their thumbnails

    def __call__(self, image: np.ndarray, time: float = 0.0) -> FrameFaces:
        """Faces of the next frame (``[H, W, 3]`` RGB uint8; gray and RGBA are converted); call in time order."""
        image = as_rgb(image)  # detected and carried faces are cut from the same RGB frame
        carried = self._carry(image, time)
        if carried is not None:
            boxes, crops = carried
        else:
            boxes = self.detector(image)[: self.max_faces]
            crops = [self._crop(image, box) for box in boxes]
            self._found = (time, boxes, [_thumbnail(c) for c in crops]) if boxes and self.detect_every > 0 else None
        ids = self.tracker.update(boxes)
        return FrameFaces(time=time, track_ids=ids, crops=crops)

    def _crop(self, image: np.ndarray, box: Box) -> np.ndarray:
        return crop_face(image, box, self.face_size, self.margin, box.roll if self.align else 0.0)

    def _carry(self, image: np.ndarray, time: float) -> tuple[list[Box], list[np.ndarray]] | None:
        """The last boxes and their crops from ``image``, if they are recent and still look the same."""
        if self._found is None or time - self._found[0] >= self.detect_every - 1e-6 or time < self._found[0]:
            return None
        _, boxes, looks = self._found
        crops = [self._crop(image, box) for box in boxes]
        for crop, look in zip(crops, looks):
            if float(np.abs(_thumbnail(crop) - look).mean()) > self.max_change:
                return None
        return boxes, crops

    def main_crops(self, frames: list[FrameFaces]) -> list[np.ndarray]:
        """Crops of the main face (the most persistent track so far) within ``frames``."""
        return self.main_face(frames)[1]

    def main_face(
        self, frames: list[FrameFaces], hits: Mapping[int, int] | None = None
    ) -> tuple[int | None, list[np.ndarray]]:
        """The main face's track id (the most persistent track so far, or by ``hits``: see
        :meth:`FaceTracker.main_track`) within ``frames``, and its crops."""
        main = self.tracker.main_track({tid for f in frames for tid in f.track_ids}, hits)
        if main is None:
            return None, []
        return main, [crop for f in frames if (crop := f.crop_of(main)) is not None]
