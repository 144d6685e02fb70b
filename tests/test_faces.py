"""Face finding with the real face_recognition detector on real pictures."""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_clip

from examples.make_examples import ASTRONAUT_FACE, astronaut_bgr, astronaut_frames, no_face_frames
from inference.faces import tracking
from inference.faces.detect import area, crop, detect_faces, iou
from inference.faces.tracking import PeopleTracker
from inference.video.probe import probe
from inference.video.read import sample_frames
from inference.video.window import analysis_window


def test_astronaut_face_found_at_full_and_reduced_size():
    photo = astronaut_bgr()
    full = detect_faces(photo, max_side=512)
    reduced = detect_faces(photo, max_side=256)
    # HOG also fires on the mission patch at full size; the face is the largest box.
    assert iou(max(full, key=area), ASTRONAUT_FACE) > 0.9
    assert len(reduced) == 1
    assert iou(reduced[0], ASTRONAUT_FACE) > 0.6


def test_crop_is_the_tight_box():
    photo = astronaut_bgr()
    top, right, bottom, left = ASTRONAUT_FACE
    face = crop(photo, ASTRONAUT_FACE)
    assert face.shape == (bottom - top, right - left, 3)
    assert np.array_equal(face, photo[top:bottom, left:right])


def one_box(found: list[tuple[int, tuple]]) -> tuple | None:
    """The box of person 0, or None."""
    boxes = [box for person, box in found if person == 0]
    return boxes[0] if boxes else None


def test_no_face_in_coffee():
    tracker = PeopleTracker()
    assert [tracker.locate(f) for f in no_face_frames(3)] == [[], [], []]


def test_both_faces_are_followed_across_frames():
    small = astronaut_bgr()
    canvas = np.zeros((600, 1300, 3), np.uint8)
    canvas[44:556, 744:1256] = small  # large face on the right
    canvas[100:356, 100:356] = small[::2, ::2]  # half-size face on the left
    tracker = PeopleTracker(max_side=1300)
    first = dict(tracker.locate(canvas))
    assert set(first) == {0, 1} and first[0][3] > 650 > first[1][1]  # the larger is person 0
    second = dict(tracker.locate(np.roll(canvas, 10, axis=1)))
    assert set(second) == {0, 1}
    for person in (0, 1):
        assert abs(second[person][3] - first[person][3] - 10) <= 12


def test_tracker_follows_a_moving_face():
    tracker = PeopleTracker()
    boxes = [one_box(tracker.locate(f)) for f in astronaut_frames(10)]
    assert all(box is not None for box in boxes)
    assert all(iou(a, b) > 0.3 for a, b in pairwise(boxes))
    assert tracker.encodings_computed == 0  # one person, never lost: no encoding needed


def test_small_face_found_by_the_second_look():
    head = astronaut_bgr()[40:200, 140:300]  # the face with some hair and neck around it
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[200:264, 300:364] = cv2.resize(head, (64, 64))  # a face about 36 pixels wide
    assert detect_faces(canvas, max_side=480) == []  # too small for the first look
    box = one_box(PeopleTracker(max_side=480).locate(canvas))
    assert box is not None
    assert iou(box, (214, 349, 250, 313)) > 0.7


def test_large_frame_searched_whole_again_after_a_few_misses():
    face = astronaut_bgr()
    here, there = np.zeros((1100, 2000, 3), np.uint8), np.zeros((1100, 2000, 3), np.uint8)
    here[:512, :512] = face
    there[550:1062, 1400:1912] = face  # the face jumped across the frame
    tracker = PeopleTracker(max_side=480, expected_frames=100)
    assert one_box(tracker.locate(here)) is not None
    # Not near its last place: the next frames are not searched whole, until the third, where
    # the face coming back is recognised (by its encoding) as the same person.
    assert [one_box(tracker.locate(there)) is not None for _ in range(3)] == [False, False, True]
    assert len(tracker.tracks) == 1
    small = PeopleTracker(max_side=480, expected_frames=100)
    assert one_box(small.locate(here[:900, :900])) is not None
    # In a frame of at most twice max_side the whole-frame search is cheap and done at once.
    moved = np.zeros((900, 900, 3), np.uint8)
    moved[388:900, 388:900] = face
    assert one_box(small.locate(moved)) is not None


def test_cnn_detector_option():
    boxes = detect_faces(astronaut_bgr(), model="cnn", max_side=256)
    assert len(boxes) == 1
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.7


def test_second_look_finds_small_faces():
    """Faces too small for the first whole-frame search (about 26 px wide in a 110 px frame)."""
    small = list(astronaut_frames(4, size=110))
    assert not detect_faces(small[0])
    tracker = PeopleTracker()
    assert all(tracker.locate(frame) for frame in small)
    # Where there is no face, the second look finds none either.
    tracker = PeopleTracker()
    assert not any(tracker.locate(frame) for frame in no_face_frames(4, size=110))


def darkened_stage_clip(folder: Path) -> Path:
    """The shared stage clip darkened with ffmpeg (a third of the brightness, half the contrast)."""
    dark = folder / "dark.mp4"
    filters = "lutyuv=y=val*0.33,eq=contrast=0.5"
    source = shared_clip("ageitgey__face_recognition__short_hamilton_clip.mp4")
    command = ["ffmpeg", "-loglevel", "error", "-i", str(source), "-vf", filters, "-an", "-crf", "20"]
    subprocess.run([*command, str(dark)], check=True)
    return dark


def frames_with_face(clip: Path, frames: int = 20) -> int:
    info = probe(clip)
    tracker = PeopleTracker(expected_frames=frames)
    window = analysis_window(info, None, None, 1e9)
    return sum(bool(tracker.locate(f.image)) for f in sample_frames(clip, window, frames, info.decoder))


def without_cnn(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tracker as it was before its CNN looks."""
    monkeypatch.setattr(tracking, "detect_cnn", lambda *args: [])
    monkeypatch.setattr(tracking, "refine", lambda *args: None)


def test_second_look_finds_faces_in_a_dark_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The contrast-equalised look finds more faces (HOG only, to see that look alone)."""
    dark = darkened_stage_clip(tmp_path)
    without_cnn(monkeypatch)
    with_equalised = frames_with_face(dark)
    monkeypatch.setattr(tracking, "DARK_MEAN", 0)  # no frame counts as dark
    assert with_equalised > frames_with_face(dark)


def test_cnn_finds_faces_hog_misses(monkeypatch: pytest.MonkeyPatch):
    """On the dim stage clip the CNN's looks (near a lost face, then whole frame) find more."""
    clip = shared_clip("ageitgey__face_recognition__short_hamilton_clip.mp4")
    with_cnn = frames_with_face(clip)
    without_cnn(monkeypatch)
    assert with_cnn > frames_with_face(clip)


def test_dlib_calls_are_face_recognitions():
    """The engine runs face_recognition's models with dlib itself (no face_recognition at run time):
    its HOG boxes, CNN boxes and encodings equal face_recognition's own functions' exactly."""
    import face_recognition

    from inference.faces import dlib_models
    from inference.faces.detect import detect_scored, face_encoding

    # Half size: dlib's CNN on the whole 512 px photo upsampled once costs seconds per call.
    frame = cv2.resize(astronaut_bgr(), (256, 256), interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    for model in ("hog", "cnn"):
        ours = [box for box, _ in detect_scored(frame, model, max_side=max(frame.shape[:2]))]
        assert ours, model
        assert ours == face_recognition.face_locations(rgb, 1, model), model
    for box in face_recognition.face_locations(rgb, 1, "hog"):
        (theirs,) = face_recognition.face_encodings(rgb, known_face_locations=[box])
        assert np.array_equal(face_encoding(rgb, box), theirs)
    models = face_recognition.api.face_recognition_models
    assert dlib_models.cnn_model_path() == models.cnn_face_detector_model_location()
