"""Face detection, tracking and cropping on programmatically drawn faces."""

from __future__ import annotations

import numpy as np
import pytest

from mmempathy.media.faces import Box, FaceDetector, FaceExtractor, FaceTracker, crop_face
from mmempathy.testing import draw_face


def canvas(height=360, width=640):
    return np.full((height, width, 3), 90, np.uint8)


def test_detector_finds_a_drawn_face_where_it_is():
    image = draw_face(canvas(), (400, 200), 60)
    boxes = FaceDetector()(image)
    assert len(boxes) == 1
    box = boxes[0]
    centre = (box.x + box.w / 2, box.y + box.h / 2)
    assert centre == pytest.approx((400, 200), abs=25)
    assert 60 < box.w < 200


def test_detector_finds_nothing_on_a_blank_frame_and_two_faces_largest_first():
    assert FaceDetector()(canvas()) == []
    image = draw_face(draw_face(canvas(), (150, 180), 40), (460, 180), 80)
    boxes = FaceDetector(detector="haar")(image)  # CenterFace, trained on photos, takes only some drawings
    assert len(boxes) == 2
    assert boxes[0].x > 300  # the bigger face comes first


def test_iou():
    assert Box(0, 0, 10, 10).iou(Box(0, 0, 10, 10)) == 1.0
    assert Box(0, 0, 10, 10).iou(Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert Box(0, 0, 10, 10).iou(Box(20, 20, 5, 5)) == 0.0


def test_tracker_keeps_ids_across_motion_and_ends_lost_tracks():
    tracker = FaceTracker(max_missed=1)
    a, b = Box(0, 0, 50, 50), Box(200, 0, 50, 50)
    assert tracker.update([a, b]) == [0, 1]
    assert tracker.update([Box(205, 2, 50, 50), Box(5, 0, 50, 50)]) == [1, 0]  # order does not matter
    assert tracker.update([Box(8, 0, 50, 50)]) == [0]
    assert tracker.update([Box(10, 0, 50, 50)]) == [0]
    assert tracker.update([Box(210, 0, 50, 50)]) == [2]  # track 1 was unseen too long: a new person
    assert tracker.main_track({0, 2}) == 0  # seen four times


def test_crop_is_square_rgb_of_the_size_asked_even_at_the_border():
    image = canvas()
    image[:, :, 0] = 200
    crop = crop_face(image, Box(600, 330, 60, 40), 48)
    assert crop.shape == (48, 48, 3) and crop.dtype == np.uint8
    assert (crop[..., 0] == 200).all()  # the border was replicated, not padded with black
    gray = crop_face(image[..., 0], Box(10, 10, 30, 30), 32)
    assert gray.shape == (32, 32, 3)


def test_extractor_marks_frames_without_faces_and_picks_the_main_face():
    extractor = FaceExtractor(face_size=40, detector="haar")
    frames = []
    for i in range(6):
        image = draw_face(canvas(), (200 + 3 * i, 180), 60)
        if i == 5:  # a second, smaller face appears once
            draw_face(image, (520, 180), 35)
        frames.append(extractor(image, time=i * 0.5))
    frames.append(extractor(canvas(), time=3.0))
    assert [f.found for f in frames] == [True] * 6 + [False]
    assert len(frames[5].track_ids) == 2
    crops = extractor.main_crops(frames)
    assert len(crops) == 6 and crops[0].shape == (40, 40, 3)
    # The crops are of the main (left) face: centred on dark eyes, light skin, not the background.
    assert all(abs(float(c.mean()) - 90) > 5 for c in crops)
    assert extractor.main_crops([frames[-1]]) == []


def test_extractor_carries_faces_between_searches_until_they_change():
    extractor = FaceExtractor(face_size=40, detector="haar", detect_every=1.0)
    searches = []
    detect = extractor.detector
    extractor.detector = lambda image: searches.append(image.shape) or detect(image)
    still = draw_face(canvas(), (200, 180), 60)
    rgba = np.concatenate([still, np.full((*still.shape[:2], 1), 255, np.uint8)], -1)
    first = extractor(rgba, time=0.0)  # found on an RGBA frame, carried on RGB ones: the same RGB crops
    carried = [extractor(still, time=t) for t in (0.25, 0.5, 0.75)]
    assert len(searches) == 1  # one search; the face is cut at the same place until a second has passed
    assert first.crops[0].shape == (40, 40, 3)
    for frame in carried:
        assert frame.track_ids == first.track_ids
        np.testing.assert_array_equal(frame.crops[0], first.crops[0])
    extractor(still, time=1.0)
    assert len(searches) == 2  # a second on: searched again
    moved = extractor(draw_face(canvas(), (480, 180), 60), time=1.25)  # a cut: the face is elsewhere
    assert len(searches) == 3 and moved.found
    blank = [extractor(canvas(), time=t) for t in (1.5, 1.75)]
    assert len(searches) == 5 and not any(f.found for f in blank)  # nothing found: every frame is searched
