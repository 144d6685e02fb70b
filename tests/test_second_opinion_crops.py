"""Every face the second opinion scored is the authors' crop of the box its report gives.

From the report alone (``frame_index``, ``blazeface_box``, ``blazeface_frame_size``) and the
frame decoded by reading the file from its start, the ICPR 2020 training crop is rebuilt with the
independent reference (tests/icpr_reference.py: ``adapt_bb`` on the float32 box to a 512 px
region, JPEG quality 95 4:4:4 and back, the int16 relative box, ``extract_bb`` to 224 px) and
compared with the engine's own crop, pixel for pixel.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import SHARED_MEDIA, shared_clip
from icpr_reference import REGION, adapt_bb, extract_bb_scale, jpeg_round_trip, reference_crop
from PIL import Image

from inference.faces.blazeface import BOX
from inference.faces.icpr_crops import paper_crop

# A DFDC clip (1920 x 1080) and a talking head (512 x 512, where the 512 px region is clipped).
CLIPS = ("polimi-ispl__icpr2020dfdc__lynaeydofd.mp4", "OpenTalker__SadTalker__WDA_KatieHill_000.mp4")
FRAMES = 6


def rebuild(frame_rgb: np.ndarray, box: list[float], frame_size: list[int]) -> np.ndarray:
    """The authors' 224 px crop of ``frame_rgb`` for a reported box, (224, 224, 3) uint8 RGB.

    The frame is first shrunk to ``frame_size`` (OpenCV INTER_AREA) when it is larger.
    """
    width, height = frame_size
    if (frame_rgb.shape[1], frame_rgb.shape[0]) != (width, height):
        frame_rgb = cv2.resize(frame_rgb, (width, height), interpolation=cv2.INTER_AREA)
    # float32 scalars, as the authors' detections were.
    left, top, right, bottom = (np.float32(v) for v in box)
    image = Image.fromarray(frame_rgb)
    region = adapt_bb(image.height, image.width, REGION, REGION, left, top, right, bottom)
    cut = image.crop(tuple(int(v) for v in region))
    relative = np.array(
        [left - region[0], top - region[1], right - region[0], bottom - region[1]], dtype=np.float32
    ).astype(np.int16)
    return np.asarray(extract_bb_scale(jpeg_round_trip(cut), tuple(relative)))


def sequential_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The frames numbered ``wanted``, decoded from the start of the file, RGB."""
    frames = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
            if index >= max(wanted):
                break
    return frames


def mismatches(detector, clip: str, frames: int) -> tuple[list[str], int]:
    """Analyse ``clip``; the faces whose rebuild from the report differs, and how many were scored."""
    path = shared_clip(clip)
    result = detector.analyze(path, frames=frames, explain=True)
    report = json.loads(result.to_json())
    scored = [
        (person["id"], seen)
        for person in report["people"]
        for seen in person["detectors"][1].get("frames", [])
    ]
    assert scored, f"{clip}: the second opinion scored no face"
    # Every scored face has its crop; crops of people the second opinion did not judge (seen
    # briefly) are kept too, and are not in the report.
    reported = {(person, seen["frame_index"]) for person, seen in scored}
    assert reported <= set(result.second_crops)
    judged = {person["id"] for person in report["people"] if person["detectors"][1].get("frames")}
    assert {person for person, _ in set(result.second_crops) - reported}.isdisjoint(judged)
    decoded = sequential_frames(path, {seen["frame_index"] for _, seen in scored})
    wrong = []
    for person, seen in scored:
        index = seen["frame_index"]
        frame = decoded[index]
        size = seen.get("blazeface_frame_size", [frame.shape[1], frame.shape[0]])
        rebuilt = rebuild(frame, seen["blazeface_box"], size)
        engine = result.second_crops[(person, index)]
        if not np.array_equal(rebuilt, engine):
            difference = np.abs(rebuilt.astype(int) - engine)
            wrong.append(
                f"person {person} frame {index} box {seen['blazeface_box']}: up to "
                f"{difference.max()} levels, {difference.mean():.2f} on average"
            )
    return wrong, len(scored)


@pytest.mark.parametrize("clip", CLIPS)
def test_each_scored_face_is_rebuilt_from_its_reported_box(second_detector, clip):
    wrong, scored = mismatches(second_detector, clip, FRAMES)
    assert not wrong, f"{len(wrong)} of {scored} crops differ: " + "; ".join(wrong)


@pytest.mark.slow
@pytest.mark.parametrize("clip", sorted(p.name for p in SHARED_MEDIA.glob("*.mp4")))
def test_each_scored_face_of_every_shared_clip_is_rebuilt(second_detector, clip):
    wrong, scored = mismatches(second_detector, clip, 20)
    assert not wrong, f"{len(wrong)} of {scored} crops differ: " + "; ".join(wrong)


def test_a_frame_above_1080_keeps_the_box_of_the_shrunk_image(second_detector):
    """A 2880 x 1620 frame is shrunk to 1920 x 1080 before BlazeFace: the box is given there."""
    capture = cv2.VideoCapture(str(shared_clip(CLIPS[0])))
    ok, small = capture.read()
    capture.release()
    assert ok
    large = cv2.resize(small, (2880, 1620), interpolation=cv2.INTER_CUBIC)
    second = second_detector.load_detectors(None)[0]
    shrunk = cv2.resize(cv2.cvtColor(large, cv2.COLOR_BGR2RGB), (1920, 1080), interpolation=cv2.INTER_AREA)
    rows = second.finder.detect(shrunk)
    assert len(rows), "BlazeFace found no face in the shrunk frame"
    ymin, xmin, ymax, xmax = (float(v) * 1.5 for v in rows[0][BOX])
    (sighting,) = second.watch(large, 0, [(7, (ymin, xmax, ymax, xmin))], {7})
    assert sighting.crop.frame_size == (1920, 1080)
    rebuilt = rebuild(cv2.cvtColor(large, cv2.COLOR_BGR2RGB), list(sighting.crop.margin_box), [1920, 1080])
    np.testing.assert_array_equal(rebuilt, sighting.crop.face)


def test_the_region_is_centred_in_float32_as_the_authors_did():
    """left + right = 602 - 2**-16 exactly, 602 in float32: the authors' region starts at 45, not 44."""
    capture = cv2.VideoCapture(str(shared_clip(CLIPS[0])))
    ok, frame = capture.read()
    capture.release()
    assert ok
    frame_rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    detection = np.zeros(17, dtype=np.float32)
    # (ymin, xmin, ymax, xmax): the margin is round(0.2 * 200) = 40, so left = 201 - 2**-16.
    detection[BOX] = (300.0, 241.0 - 2.0**-16, 500.0, 361.0)
    crop = paper_crop(frame_rgb, detection)
    original = reference_crop(frame_rgb, detection)
    assert original.region[0] == 45
    np.testing.assert_array_equal(crop.face, original.face)
    np.testing.assert_array_equal(rebuild(frame_rgb, list(crop.margin_box), [1920, 1080]), crop.face)
