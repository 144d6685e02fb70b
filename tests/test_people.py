"""Every person judged on their own: side-by-side clips, a person who leaves and comes back, two
people who cross. Made at test time with ffmpeg and OpenCV from the shared clips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_clip

from examples.make_examples import write_h264
from inference import FAKE, REAL, UNCERTAIN, Detector
from inference.faces.detect import crop, detect_faces
from inference.result import Person, Verdict
from inference.verdict import decide_video
from inference.video.probe import probe
from inference.video.read import sample_frames
from inference.video.window import Window

GENUINE = "polimi-ispl__icpr2020dfdc__ffpp-youtube-634.mp4"
SWAPPED = "polimi-ispl__icpr2020dfdc__ffpp-FaceSwap-634_660.mp4"  # the same scene, face-swapped
OTHER = "iperov__DeepFaceLive__Obama_speaking.mp4"
# Lossless H.264 keeps each half of a stacked clip pixel for pixel equal to the clip alone.
LOSSLESS = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p"]
SECONDS = "4"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The genuine and the face-swapped clip, each alone and stacked left | right (4 s each)."""
    genuine, swapped = shared_clip(GENUINE), shared_clip(SWAPPED)
    folder = tmp_path_factory.mktemp("side-by-side")
    clips = {"left": folder / "left.mkv", "right": folder / "right.mkv", "stacked": folder / "stacked.mkv"}
    ffmpeg("-t", SECONDS, "-i", str(genuine), *LOSSLESS, str(clips["left"]))
    ffmpeg("-t", SECONDS, "-i", str(swapped), *LOSSLESS, str(clips["right"]))
    ffmpeg(
        *("-t", SECONDS, "-i", str(genuine), "-t", SECONDS, "-i", str(swapped)),
        *("-filter_complex", "hstack", *LOSSLESS, str(clips["stacked"])),
    )
    return clips


def test_side_by_side_gives_two_people_scored_as_alone(detector: Detector, side_by_side: dict[str, Path]):
    """Each person's scores are those of the clip alone, frame for frame.

    Boxes found in the wider frame differ by a few pixels from those found in the clip alone
    (the first detection runs at another scale), so each stacked face is compared with the
    same box, shifted back, cut from the same frame of the clip alone; where the boxes happen
    to be equal, also with the alone run's own score.
    """
    stacked = detector.analyze(side_by_side["stacked"], frames=10)
    assert [p.seen for p in stacked.people] == [10, 10]
    assert stacked.people_judged == 2
    offset = probe(side_by_side["left"]).width
    for name, shift in (("left", 0), ("right", offset)):
        clip = side_by_side[name]
        alone = {f.index: f.image for f in sample_frames(clip, Window(0, probe(clip).frame_count, False), 10)}
        own = {f.frame_index: f for f in detector.analyze(clip, frames=10).frames}
        person = min(stacked.people, key=lambda p: abs(stacked.frames[p.representative].box[3] - shift))
        faces = [f for f in stacked.frames if f.person == person.id]
        boxes = [(t, r - shift, b, lf - shift) for t, r, b, lf in (f.box for f in faces)]
        crops = [crop(alone[f.frame_index], box) for f, box in zip(faces, boxes, strict=True)]
        expected = detector.classifier.fake_probabilities(crops)
        for face, box, score in zip(faces, boxes, expected, strict=True):
            assert face.fake_probability == pytest.approx(score, abs=1e-4)
            if own[face.frame_index].box == box:
                assert face.fake_probability == pytest.approx(
                    own[face.frame_index].fake_probability, abs=1e-4
                )
    report = stacked.to_dict()
    assert [p["id"] for p in report["people"]] == [1, 2]
    assert all(len(p["frames"]) == 10 and p["verdict"] in (FAKE, REAL, UNCERTAIN) for p in report["people"])


def test_a_person_who_leaves_and_comes_back_is_one_person(detector: Detector, tmp_path: Path):
    clip = tmp_path / "gap.mp4"
    blank = "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,1.2,2.6)'"
    ffmpeg("-t", SECONDS, "-i", str(shared_clip(GENUINE)), "-vf", blank, "-c:v", "libx264", str(clip))
    result = detector.analyze(clip, frames=16)
    times = [f.timestamp_s for f in result.frames]
    assert min(times) < 1.2 and max(times) > 2.6  # seen before and after the gap
    assert 8 <= result.frames_with_face < 16
    assert len(result.people) == 1, [(p.id, p.seen, p.first_seen_s) for p in result.people]


def face_patch(clip: Path, size: int = 220) -> np.ndarray:
    """The face of a clip's first frame with some margin, resized to (size, size), BGR."""
    frame = next(sample_frames(clip, Window(0, 1, False), 1)).image
    top, right, bottom, left = detect_faces(frame)[0]
    pad = (bottom - top) // 2
    patch = frame[max(0, top - pad) : bottom + pad, max(0, left - pad) : right + pad]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def test_two_people_who_cross_keep_their_identities(detector: Detector, tmp_path: Path):
    first, second = face_patch(shared_clip(GENUINE)), face_patch(shared_clip(OTHER))
    steps = 24

    def frame(i: int) -> np.ndarray:
        canvas = np.full((420, 980, 3), 60, np.uint8)
        x = round(20 + (740 - 20) * i / (steps - 1))
        canvas[150:370, 760 - x : 980 - x] = second  # moving right to left, lower
        canvas[40:260, x : x + 220] = first  # moving left to right, drawn over the other
        return canvas

    clip = tmp_path / "crossing.mp4"
    write_h264((frame(i) for i in range(steps)), clip)
    result = detector.analyze(clip, frames=steps)
    people = [p for p in result.people if p.seen >= steps // 2]
    assert len(people) == 2, [(p.id, p.seen) for p in result.people]
    for person in people:
        lefts = [f.box[3] for f in result.frames if f.person == person.id]
        moves = np.sign(np.diff(lefts))
        # Each person keeps going the same way: nobody jumps onto the other's path.
        assert (moves >= 0).all() or (moves <= 0).all(), lefts
        assert abs(lefts[-1] - lefts[0]) > 500, lefts


def person(number: int, label: str, fake: float | None, seen: int = 10) -> Person:
    verdict = Verdict(label, fake, None if fake is None else max(fake, 1 - fake), f"person {number}")
    return Person(number, verdict, seen, 1.0 * number, 2.0 * number, 0)


def test_video_verdict_from_people():
    real, fake, unsure = person(1, REAL, 0.2), person(2, FAKE, 0.9), person(3, UNCERTAIN, 0.55)
    brief = person(4, "CANNOT JUDGE", 0.95, seen=1)
    verdict = decide_video([real, fake, brief], 20, 20, 0.25, 0.1)
    assert verdict.label == FAKE and verdict.fake_probability == 0.9
    assert verdict.message.startswith("FAKE: person 2 (seen 2.0–4.0 s, in 10 of 20 frames)")
    assert "3 people seen, 2 judged, 1 seen briefly" in verdict.message
    assert decide_video([real, person(2, REAL, 0.3)], 20, 20, 0.25, 0.1).label == REAL
    assert decide_video([real, unsure], 20, 20, 0.25, 0.1).label == UNCERTAIN
    only = decide_video([real, brief], 20, 20, 0.25, 0.1)
    assert only.label == REAL and only.message == "person 1 1 more face seen briefly, not judged."
    nobody = decide_video([brief], 20, 3, 0.25, 0.1)
    assert nobody.label == "CANNOT JUDGE" and "face found in 3 of 20 sampled frames" in nobody.message


def test_at_most_max_people(detector: Detector, tmp_path: Path):
    from dataclasses import replace

    faces = [face_patch(shared_clip(GENUINE), 200), face_patch(shared_clip(OTHER), 200)]
    clip = tmp_path / "two.mp4"
    canvas = np.full((240, 460, 3), 60, np.uint8)
    canvas[20:220, 20:220], canvas[20:220, 240:440] = faces
    write_h264([canvas] * 6, clip)
    limited = Detector(detector.classifier, replace(detector.settings, max_people=1))
    result = limited.analyze(clip, frames=6)
    assert len(result.people) == 1
    assert any("DEEPFAKE_MAX_PEOPLE" in note for note in result.notes)
