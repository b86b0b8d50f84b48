"""Face blendshapes (MediaPipe Face Landmarker v2 on LiteRT) on the demo clip's real faces, non-faces, bad files."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmempathy.errors import CheckpointError, InputError
from mmempathy.extras import MissingPackageError
from mmempathy.media import blendshapes as blendshapes_module
from mmempathy.media.blendshapes import BLENDSHAPES, MODEL, BlendshapeExtractor
from mmempathy.media.decode import iter_frames
from mmempathy.media.faces import FaceExtractor

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo" / "demo.mp4"
SMILE = [BLENDSHAPES.index("mouthSmileLeft"), BLENDSHAPES.index("mouthSmileRight")]
needs_litert = pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None, reason="needs the faces extra")


@pytest.fixture(scope="module")
def extractor() -> BlendshapeExtractor:
    return BlendshapeExtractor()


@pytest.fixture(scope="module")
def joy_and_neutral() -> list[np.ndarray]:
    """The pipeline's crops (CenterFace, 112 px) of the demo clip's joy (4 s) and neutral (13 s) faces."""
    faces = FaceExtractor(112)
    crops = {round(item.time): faces(item.image, item.time).crops for item in iter_frames(DEMO, fps=1.0)}
    return [crops[4][0], crops[13][0]]


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    turn = cv2.getRotationMatrix2D((image.shape[1] / 2, image.shape[0] / 2), degrees, 1.0)
    return cv2.warpAffine(image, turn, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


@needs_litert
def test_a_smiling_and_a_neutral_real_face_differ_on_the_smile_blendshapes(extractor, joy_and_neutral):
    out = extractor(joy_and_neutral)
    assert out.scores.shape == (2, 52) and out.landmarks.shape == (2, 478, 3) and out.pose.shape == (2, 3)
    assert np.isfinite(out.scores).all() and (out.scores >= 0).all() and (out.scores <= 1).all()
    assert (out.presence > 0.9).all() and (out.quality > 0.8).all()
    joy, neutral = out.scores[:, SMILE]
    assert joy.min() > 0.5 and neutral.max() < 0.1  # measured: 0.95 against 0.00
    assert out.named(0)["mouthSmileLeft"] == pytest.approx(float(joy[0]))
    # the landmarks are in the crop's pixels: the face fills the crop, and a crop twice as large doubles them
    points = out.landmarks[0, :, :2]
    assert points.min() > 0 and points.max() < 112 and np.ptp(points, axis=0).min() > 70
    larger = extractor([cv2.resize(joy_and_neutral[0], (224, 224))])
    np.testing.assert_allclose(larger.landmarks[0, :, :2] / 2, points, atol=3)


@needs_litert
def test_a_small_gray_crop_as_fer2013_frames_faces_still_smiles(extractor, joy_and_neutral):
    gray = cv2.cvtColor(cv2.resize(joy_and_neutral[0], (48, 48), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    out = extractor([gray])
    assert out.presence[0] > 0.9 and out.scores[0, SMILE].min() > 0.5


@needs_litert
def test_the_head_roll_follows_a_turned_crop(extractor, joy_and_neutral):
    level = extractor(joy_and_neutral[:1]).pose[0]
    for degrees in (-20, 20):
        turned = extractor([rotate(joy_and_neutral[0], degrees)]).pose[0]
        assert turned[2] - level[2] == pytest.approx(degrees, abs=5)  # counter-clockwise on screen is positive
        assert abs(turned[0] - level[0]) < 5  # the yaw stays


@needs_litert
def test_a_crop_without_a_face_has_low_presence_and_quality(extractor, rng):
    noise = rng.integers(0, 256, size=(112, 112, 3), dtype=np.uint8)
    flat = np.full((64, 64), 128, np.uint8)
    out = extractor([noise, flat])
    assert (out.presence < 0.05).all() and (out.quality < 0.05).all()
    assert (out.scores >= 0).all() and (out.scores <= 1).all()


@needs_litert
def test_no_crops_give_empty_arrays_and_bad_crops_an_input_error(extractor):
    out = extractor([])
    assert len(out) == 0 and out.scores.shape == (0, 52) and out.quality.shape == (0,)
    with pytest.raises(InputError, match="uint8"):
        extractor([np.zeros((48, 48, 3), np.float32)])
    with pytest.raises(InputError, match="shape"):
        extractor([np.zeros((48, 48, 2), np.uint8)])
    with pytest.raises(InputError, match=r"\[F, H, W, 3\]"):  # one crop, not a list of them
        extractor(np.zeros((48, 48, 3), np.uint8))
    # a batch array is read crop by crop, as the list of the same crops
    batch = np.stack([np.full((40, 40, 3), 90, np.uint8), np.full((40, 40, 3), 200, np.uint8)])
    np.testing.assert_array_equal(extractor(batch).scores, extractor(list(batch)).scores)


@needs_litert
@pytest.mark.parametrize("damage", ["garbage", "no_members", "bad_tflite", "missing"])
def test_a_corrupt_model_file_gives_a_clear_error(tmp_path, damage):
    path = tmp_path / "face_landmarker.task"
    if damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage in ("no_members", "bad_tflite"):
        with zipfile.ZipFile(MODEL) as source, zipfile.ZipFile(path, "w") as target:
            for name in source.namelist():
                if damage == "no_members" and name == "face_blendshapes.tflite":
                    continue
                target.writestr(name, b"\0" * 64 if damage == "bad_tflite" else source.read(name))
    expected = {"missing": "no Face Landmarker model", "bad_tflite": "do not load"}.get(damage, "not a Face Landmarker")
    with pytest.raises(CheckpointError, match=expected):
        BlendshapeExtractor(model=path)


@needs_litert
def test_a_damaged_shipped_file_is_refused_before_loading(tmp_path, monkeypatch):
    data = bytearray(MODEL.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "face_landmarker.task").write_bytes(bytes(data))
    monkeypatch.setattr(blendshapes_module, "MODEL", tmp_path / "face_landmarker.task")
    with pytest.raises(CheckpointError, match="sha256"):
        BlendshapeExtractor()


def test_without_the_runtime_the_error_names_the_extra(monkeypatch):
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter"):  # the import now fails as without the extra
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingPackageError, match=r"BlendshapeExtractor needs ai_edge_litert.*'mmempathy\[faces\]'"):
        BlendshapeExtractor()
