"""Face blendshapes: 52 expression scores per face crop, from MediaPipe Face Landmarker v2's models.

The Face Landmarker v2 (Google, Apache-2.0; the file ships in ``mmempathy/assets/face_landmarker``)
holds a face detector, a landmark model (478 3-D points from a 256x256 face with margin, and a
face-presence score) and a blendshape model (52 scores in [0, 1] from 146 of those points: brow,
eye, cheek, jaw and mouth movements, close to FACS action units, e.g. ``mouthSmileLeft``). The
faces here are already found and cropped (:class:`~mmempathy.media.faces.FaceExtractor`), so only
the landmark and blendshape models run, on ``ai-edge-litert`` (the LiteRT interpreter, without
MediaPipe, whose ``opencv-contrib-python`` would replace our ``opencv-python-headless``):
``pip install 'mmempathy[faces]'``.

Each crop is padded to the framing the landmark model was trained on (its own tracker feeds it the
landmarks' box grown 1.5 times; on the pipeline's crops that box is the detector's box to 2 %), and
optionally re-framed on the landmarks found and run again (``refine``: twice the time, and on the
demo clip's faces the mean smile scores moved by under 0.03). The head pose comes from a weighted
rigid fit of the landmarks onto MediaPipe's canonical face mesh (the ``.task`` file's geometry
metadata), as its own pipeline does.

Bad crops (documented behaviour): anything that is not a uint8 ``[H, W]`` / ``[H, W, 3]`` /
``[H, W, 4]`` image raises :class:`~mmempathy.errors.InputError`, and so does one crop passed where a
list or an ``[F, H, W, 3]`` array of them is expected; a crop without a face gives a
low :attr:`FaceBlendshapes.presence` and :attr:`FaceBlendshapes.quality` (its scores mean nothing).

Example:
    >>> import numpy as np
    >>> out = BlendshapeExtractor()(np.zeros((1, 64, 64, 3), np.uint8))
    >>> out.scores.shape, bool(out.quality[0] < 0.5)
    ((1, 52), True)
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mmempathy.errors import CheckpointError, InputError
from mmempathy.extras import needs
from mmempathy.media.faces import as_rgb

MODEL = Path(__file__).resolve().parent.parent / "assets" / "face_landmarker" / "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
# The landmark model's input side, and its tracker's framing: the landmarks' box grown 1.5 times.
SIDE = 256
ROI_SCALE = 1.5
BLENDSHAPES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)  # fmt: skip
# The 146 landmarks the blendshape model reads, in its order (MediaPipe's face_blendshapes_graph.cc).
SUBSET = (
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80,
    81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153,
    154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249,
    251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314,
    317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382,
    384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473,
    474, 475, 476, 477,
)  # fmt: skip
_MEMBERS = (
    "face_landmarks_detector.tflite",
    "face_blendshapes.tflite",
    "geometry_pipeline_metadata_landmarks.binarypb",
)


@dataclass
class FaceBlendshapes:
    """Blendshapes of ``F`` face crops.

    Attributes:
        scores: ``[F, 52]`` in [0, 1], named by :data:`BLENDSHAPES` (index 0, ``_neutral``, is
            MediaPipe's catch-all and carries little).
        landmarks: ``[F, 478, 3]``: x, y in the crop's pixels, z depth on the same scale (smaller is
            nearer the camera).
        presence: ``[F]`` the landmark model's probability that the crop holds a face.
        pose: ``[F, 3]`` yaw, pitch and roll of the head in degrees (roll: positive for a head turned
            counter-clockwise on screen; the demo clip's near-frontal faces read a pitch of 14 to 25).
        quality: ``[F]`` presence times the cosines of yaw and pitch: a weight for averaging frames.
    """

    scores: np.ndarray
    landmarks: np.ndarray
    presence: np.ndarray
    pose: np.ndarray
    quality: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def named(self, index: int) -> dict[str, float]:
        """The scores of crop ``index`` by blendshape name."""
        return dict(zip(BLENDSHAPES, map(float, self.scores[index])))


class BlendshapeExtractor:
    """Blendshape scores, head pose and a quality weight for face crops.

    Args:
        crop_margin: The margin the crops were cut with, as a fraction of the face box on each side
            (:func:`~mmempathy.media.faces.crop_face`; the pipeline's crops have 0.05). The crops are
            padded to the framing the landmark model expects.
        refine: Run the landmark model a second time on the face re-framed from its first landmarks
            (as MediaPipe's tracker frames the next video frame); twice the time, for crops whose
            margin is unknown.
        model: A Face Landmarker v2 ``.task`` file (default: the one shipped with mmempathy).
        threads: LiteRT's threads.

    Raises:
        MissingPackageError: ``ai-edge-litert`` is not installed (``pip install 'mmempathy[faces]'``).
        CheckpointError: The model file is missing, is not a Face Landmarker ``.task`` file, or (the
            shipped one) differs from the file mmempathy was released with.

    Example:
        >>> import numpy as np
        >>> BlendshapeExtractor(refine=True)(np.zeros((2, 48, 48), np.uint8)).pose.shape
        (2, 3)
    """

    def __init__(
        self, *, crop_margin: float = 0.05, refine: bool = False, model: str | Path | None = None, threads: int = 1
    ):
        with needs("BlendshapeExtractor"):
            from ai_edge_litert.interpreter import Interpreter
        members = _read_task(Path(model) if model is not None else MODEL, check=model is None)
        self.crop_margin, self.refine = crop_margin, refine
        try:
            self._landmarker = Interpreter(model_content=members[_MEMBERS[0]], num_threads=threads)
            self._blender = Interpreter(model_content=members[_MEMBERS[1]], num_threads=threads)
            self._landmarker.allocate_tensors()
            self._blender.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise CheckpointError(f"the Face Landmarker models in {model or MODEL} do not load: {err}") from None
        self._canonical, self._weights = _canonical_mesh(members[_MEMBERS[2]])

    def __call__(self, crops: Sequence[np.ndarray] | np.ndarray) -> FaceBlendshapes:
        """Blendshapes of each crop (uint8 RGB ``[H, W, 3]``, RGBA or gray ``[H, W]``; any size), given as a
        list or as one ``[F, H, W, 3]`` / ``[F, H, W]`` array."""
        if isinstance(crops, np.ndarray) and (
            crops.ndim not in (3, 4) or (crops.ndim == 3 and crops.shape[-1] in (3, 4))
        ):
            # a lone [H, W, 3] crop would otherwise be read as H gray crops of W x 3 pixels
            raise InputError(f"crops must be a list of images or an [F, H, W, 3] / [F, H, W] array, got {crops.shape}")
        rows = [self._one(as_rgb(crop)) for crop in crops]
        if not rows:
            return FaceBlendshapes(
                np.zeros((0, len(BLENDSHAPES)), np.float32), np.zeros((0, 478, 3), np.float32), *np.zeros((3, 0))
            )
        scores, landmarks, presence, pose = (np.stack(column) for column in zip(*rows))
        radians = np.radians(pose[:, :2])
        quality = presence * np.clip(np.cos(radians), 0.0, 1.0).prod(axis=1)
        return FaceBlendshapes(scores, landmarks, presence, pose, quality)

    def _one(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        # The crop's face spans 1 / (1 + 2 margin) of its side; the model wants it to span 1 / ROI_SCALE.
        side = max(rgb.shape[:2])
        face = side / (1.0 + 2.0 * self.crop_margin)
        to_model = _square(rgb.shape[1] / 2.0, rgb.shape[0] / 2.0, face * ROI_SCALE)
        points, presence = self._landmarks(rgb, to_model)
        if self.refine and presence > 0.5:
            low, high = points[:, :2].min(0), points[:, :2].max(0)
            (cx, cy), reach = (low + high) / 2.0, (high - low).max() * ROI_SCALE
            to_model = _square(cx, cy, reach)
            points, presence = self._landmarks(rgb, to_model)
        self._blender.set_tensor(self._blender.get_input_details()[0]["index"], points[None, SUBSET, :2])
        self._blender.invoke()
        scores = self._blender.get_tensor(self._blender.get_output_details()[0]["index"]).reshape(-1)
        return scores, points, presence, self._pose(points)

    def _landmarks(self, rgb: np.ndarray, to_model: np.ndarray) -> tuple[np.ndarray, float]:
        """Landmarks in the crop's pixels and the presence probability, the model's input cut by ``to_model``."""
        image = cv2.warpAffine(rgb, to_model, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inputs, outputs = self._landmarker.get_input_details(), self._landmarker.get_output_details()
        self._landmarker.set_tensor(inputs[0]["index"], (image.astype(np.float32) / 255.0)[None])
        self._landmarker.invoke()
        points = self._landmarker.get_tensor(outputs[0]["index"]).reshape(478, 3)
        logit = float(self._landmarker.get_tensor(outputs[1]["index"]).reshape(-1)[0])
        scale = to_model[0, 0]
        # back to the crop: x, y through the inverse of the (scale + shift) cut, z by the same scale
        points[:, :2] = (points[:, :2] - to_model[:, 2]) / scale
        points[:, 2] /= scale
        return points, 1.0 / (1.0 + np.exp(-logit))

    def _pose(self, points: np.ndarray) -> np.ndarray:
        """Yaw, pitch, roll (degrees) of a weighted rigid fit of the canonical mesh onto the landmarks."""
        # image axes (x right, y down, z away) to the mesh's (x right, y up, z toward the camera)
        seen = points[: len(self._canonical)] * np.array([1.0, -1.0, -1.0])
        w = self._weights[:, None]
        mesh_mean, seen_mean = (w * self._canonical).sum(0), (w * seen).sum(0)
        u, _, vt = np.linalg.svd((w * (seen - seen_mean)).T @ (self._canonical - mesh_mean))
        turn = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
        yaw = np.arcsin(np.clip(-turn[2, 0], -1.0, 1.0))
        pitch, roll = np.arctan2(turn[2, 1], turn[2, 2]), np.arctan2(turn[1, 0], turn[0, 0])
        return np.degrees([yaw, pitch, roll]).astype(np.float32)


def _square(cx: float, cy: float, side: float) -> np.ndarray:
    """The affine map that cuts the ``side``-pixel square centred on ``(cx, cy)`` to the model's input."""
    scale = SIDE / side
    return np.array([[scale, 0.0, SIDE / 2.0 - scale * cx], [0.0, scale, SIDE / 2.0 - scale * cy]], np.float32)


def _read_task(path: Path, *, check: bool) -> dict[str, bytes]:
    """The members of a ``.task`` file (a zip) that the extractor needs."""
    if not path.is_file():
        raise CheckpointError(f"no Face Landmarker model at {path}")
    data = path.read_bytes()
    if check and hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise CheckpointError(f"{path} is damaged (its sha256 differs from the shipped file's): reinstall mmempathy")
    try:
        with zipfile.ZipFile(path) as task:
            return {name: task.read(name) for name in _MEMBERS}
    except (zipfile.BadZipFile, KeyError) as err:
        raise CheckpointError(
            f"{path} is not a Face Landmarker v2 .task file (a zip holding {', '.join(_MEMBERS)}): {err}"
        ) from None


def _canonical_mesh(metadata: bytes) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's canonical face mesh ``[468, 3]`` and its per-vertex fit weights from the geometry metadata.

    The metadata is a ``GeometryPipelineMetadata`` protobuf: field 1 the mesh (field 3 of which is its
    vertex buffer, five floats a vertex: x, y, z, u, v), field 2 the weighted landmarks of the fit.
    """
    vertices: list[float] = []
    weights: dict[int, float] = {}
    for field, value in _protobuf(metadata):
        if field == 1:
            vertices += [struct.unpack("<f", v)[0] for f, v in _protobuf(value) if f == 3]
        elif field == 2:
            entry = dict(_protobuf(value))
            weights[entry.get(1, 0)] = struct.unpack("<f", entry[2])[0]
    mesh = np.array(vertices, np.float64).reshape(-1, 5)[:, :3]
    fit = np.zeros(len(mesh))
    fit[list(weights)] = list(weights.values())
    return mesh, fit / fit.sum()


def _protobuf(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message: varints as ints, the rest as bytes."""

    def varint(at: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[at]
            value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
            if byte < 0x80:
                return value, at

    at = 0
    while at < len(data):
        key, at = varint(at)
        kind = key & 7
        if kind == 0:
            value, at = varint(at)
        elif kind in (1, 5):
            value, at = data[at : at + (8 if kind == 1 else 4)], at + (8 if kind == 1 else 4)
        elif kind == 2:
            size, at = varint(at)
            value, at = data[at : at + size], at + size
        else:
            raise CheckpointError(f"the Face Landmarker geometry metadata is damaged (wire type {kind})")
        yield key >> 3, value
