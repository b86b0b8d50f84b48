"""Face detection (OpenCV Haar cascade), a small IoU tracker, and square face crops.

The cascade ships inside the ``opencv-python-headless`` wheel, so nothing is downloaded. Detection
runs on a downscaled grayscale copy of each frame (its cost grows with the pixel count); boxes are
mapped back to the full frame, whose pixels the crops are cut from.

Example:
    >>> import numpy as np
    >>> extractor = FaceExtractor(face_size=64)
    >>> faces = extractor(np.zeros((360, 640, 3), np.uint8))
    >>> faces.found
    False
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mmempathy.errors import MMEmpathyError

CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left corner ``(x, y)``, width ``w``, height ``h``."""

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return self.w * self.h

    def iou(self, other: Box) -> float:
        """Intersection over union with another box (0 when disjoint)."""
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scaled(self, factor: float) -> Box:
        return Box(self.x * factor, self.y * factor, self.w * factor, self.h * factor)


class FaceDetector:
    """Frontal faces found by a Haar cascade, largest first.

    Args:
        detect_side: Frames are downscaled so that their longer side is at most this many pixels
            before detection; smaller is faster but misses small faces.
        scale_factor: Step between the cascade's scales (bigger is faster, coarser).
        min_neighbors: Overlapping hits needed to accept a face (bigger means fewer false faces).
        min_size: Smallest face, as a fraction of the detection image's shorter side.
        equalize: Equalise the histogram first; helps in dim footage, but hurts on flat
            backgrounds (the stretched background swamps the face), hence off by default.
    """

    def __init__(
        self,
        *,
        detect_side: int = 400,
        scale_factor: float = 1.15,
        min_neighbors: int = 5,
        min_size: float = 0.08,
        equalize: bool = False,
        cascade: str = CASCADE,
    ):
        path = Path(cv2.data.haarcascades) / cascade
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise MMEmpathyError(f"could not load the OpenCV cascade {path}")
        self.detect_side = detect_side
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.equalize = equalize

    def __call__(self, image: np.ndarray) -> list[Box]:
        """Boxes in ``image`` coordinates (``[H, W, 3]`` RGB or ``[H, W]`` gray uint8)."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.detect_side / max(gray.shape[:2]))
        if scale < 1.0:
            size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        if self.equalize:
            gray = cv2.equalizeHist(gray)
        side = max(12, round(self.min_size * min(gray.shape[:2])))
        found = self.cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        boxes = [Box(*map(float, b)).scaled(1.0 / scale) for b in found]
        return sorted(boxes, key=lambda b: b.area, reverse=True)


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

    def main_track(self, candidates: set[int] | list[int]) -> int | None:
        """The most persistent track among ``candidates`` (seen most often so far)."""
        return max(candidates, key=lambda tid: (self.hits.get(tid, 0), -tid), default=None)


def crop_face(image: np.ndarray, box: Box, size: int, margin: float = 0.2) -> np.ndarray:
    """A square ``[size, size, 3]`` uint8 crop around ``box``, grown by ``margin`` on each side.

    Parts of the square outside the frame are filled by replicating the border.
    """
    side = max(box.w, box.h) * (1.0 + 2.0 * margin)
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
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
        margin: Fraction of the face box added on each side before cropping. The default frames
            faces like FER2013 does (the Haar box spans about 0.98 of an upscaled FER image), which
            is what the ``lite`` face encoder was trained on.
        max_faces: Faces kept per frame (the largest ones).
        detector: The detector to use (default: :class:`FaceDetector` with its defaults).
        tracker: The tracker to use (default: :class:`FaceTracker` with its defaults).
    """

    def __init__(
        self,
        face_size: int = 112,
        *,
        margin: float = 0.05,
        max_faces: int = 3,
        detector: FaceDetector | None = None,
        tracker: FaceTracker | None = None,
    ):
        self.face_size = face_size
        self.margin = margin
        self.max_faces = max_faces
        self.detector = detector or FaceDetector()
        self.tracker = tracker or FaceTracker()

    def __call__(self, image: np.ndarray, time: float = 0.0) -> FrameFaces:
        """Faces of the next frame (``[H, W, 3]`` RGB uint8); call in time order."""
        boxes = self.detector(image)[: self.max_faces]
        ids = self.tracker.update(boxes)
        crops = [crop_face(image, box, self.face_size, self.margin) for box in boxes]
        return FrameFaces(time=time, track_ids=ids, crops=crops)

    def main_crops(self, frames: list[FrameFaces]) -> list[np.ndarray]:
        """Crops of the main face (the most persistent track so far) within ``frames``."""
        main = self.tracker.main_track({tid for f in frames for tid in f.track_ids})
        if main is None:
            return []
        return [crop for f in frames if (crop := f.crop_of(main)) is not None]
