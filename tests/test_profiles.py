"""Preprocessing profiles: boxes like the original detectors', crops like the original code's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import face_recognition
import numpy as np
import pytest
import torch
from conftest import shared_clip
from torchvision import transforms

from benchmarks.original import OriginalModel
from inference import Detector, Settings
from inference.faces.detect import iou
from inference.faces.profiles import PROFILES, UnknownProfileError, get
from inference.faces.refine import refine
from inference.faces.tracking import PeopleTracker
from inference.models.network import read_state_dict
from inference.settings import SettingsError

# Training read its crops back from an MJPG video with OpenCV, then ToPILImage (of the BGR
# array as is), Resize(112) (the identity on a 112 px crop), ToTensor, Normalize.
TRAINING_TRANSFORM = transforms.Compose(
    [
        transforms.ToPILImage(),
        transforms.Resize(112),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ]
)
# The original app: PIL bilinear resize of the uncompressed crop.
APP_TRANSFORM = transforms.Compose(
    [
        transforms.ToPILImage(),
        transforms.Resize((112, 112)),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ]
)


def frames_by_index(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    """The frames at ``indices``, decoded by reading the file from the start (BGR)."""
    capture = cv2.VideoCapture(str(path))
    frames, index = {}, 0
    while index <= max(indices):
        ok, image = capture.read()
        assert ok
        if index in indices:
            frames[index] = image
        index += 1
    capture.release()
    return frames


def training_crops(frames: dict[int, np.ndarray], boxes: list[tuple[int, list[int]]], folder: Path) -> list:
    """The original preprocessing script's crops: cv2.resize, MJPG at 30 fps, read back."""
    path = str(folder / "faces.avi")
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc("M", "J", "P", "G"), 30, (112, 112))
    for index, (top, right, bottom, left) in boxes:
        out.write(cv2.resize(frames[index][top:bottom, left:right, :], (112, 112)))
    out.release()
    capture = cv2.VideoCapture(path)
    crops = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        crops.append(image)
    return crops


@pytest.fixture(scope="module")
def original_model(checkpoint_file: Path) -> OriginalModel:
    """The original model class with the random checkpoint's weights (built once: both profiles use it)."""
    model = OriginalModel().eval()
    model.load_state_dict(read_state_dict(checkpoint_file), strict=True)
    return model


def original_scores(model: OriginalModel, batch: torch.Tensor) -> np.ndarray:
    """Each frame scored from a zero LSTM state by the original model class."""
    with torch.inference_mode():
        return np.array(
            [
                torch.softmax(model(batch[k : k + 1].unsqueeze(0))[1], dim=1)[0, 0].item()
                for k in range(len(batch))
            ]
        )


@pytest.mark.parametrize("name", ["training", "app"])
def test_probabilities_equal_reimplementation(
    detector: Detector, original_model: OriginalModel, manipulated_clip: Path, tmp_path: Path, name: str
):
    before = set(os.listdir(tempfile.gettempdir()))
    result = detector.analyze(manipulated_clip, frames=4, profile=name)
    assert set(os.listdir(tempfile.gettempdir())) == before  # the MJPG round trip left nothing
    assert result.profile == name and result.to_dict()["profile"] == name
    boxes = [(frame.frame_index, list(frame.box)) for frame in result.frames]
    assert len(boxes) >= 3
    frames = frames_by_index(manipulated_clip, [index for index, _ in boxes])
    if name == "training":
        crops = training_crops(frames, boxes, tmp_path)
        batch = torch.stack([TRAINING_TRANSFORM(crop) for crop in crops])
    else:
        batch = torch.stack([APP_TRANSFORM(frames[i][t:b, lf:r, :]) for i, (t, r, b, lf) in boxes])
    expected = original_scores(original_model, batch)
    got = np.array([frame.fake_probability for frame in result.frames])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_profiles_give_different_crops(detector: Detector, manipulated_clip: Path):
    training = detector.analyze(manipulated_clip, frames=4, profile="training")
    app = detector.analyze(manipulated_clip, frames=4, profile="app")
    # CNN boxes are not HOG boxes, and JPEG changes pixels: the crops must differ.
    assert any(a.box != b.box for a, b in zip(training.frames, app.frames, strict=False))
    assert not np.array_equal(np.stack(training.crops), np.stack(app.crops))


def test_profile_comes_from_config_env_and_argument(hub_cache: Path, manipulated_clip: Path):
    default = Detector.from_settings(Settings.from_env({}))
    assert default.profile().name == default.classifier.config.preprocessing == "training"
    chosen = Detector.from_settings(Settings.from_env({"DEEPFAKE_PROFILE": "app"}))
    assert chosen.profile().name == "app"
    assert chosen.profile("training").name == "training"
    with pytest.raises(SettingsError, match="DEEPFAKE_PROFILE"):
        Settings.from_env({"DEEPFAKE_PROFILE": "fast"})
    with pytest.raises(UnknownProfileError, match="training, app"):
        get("fast")


def whole_frame(frame_bgr: np.ndarray, model: str) -> list[tuple[int, int, int, int]]:
    """What the original code got: the detector on the whole full-resolution BGR frame, upsampled once."""
    return face_recognition.face_locations(frame_bgr, 1, model)


def test_refined_hog_boxes_are_whole_frame_hog_boxes(genuine_clip: Path):
    frames = frames_by_index(genuine_clip, [0, 30])
    tracker = PeopleTracker()
    for frame in frames.values():
        ((_, found),) = tracker.locate(frame)
        (reference,) = whole_frame(frame, "hog")
        assert iou(refine(frame, found, "hog"), reference) >= 0.97


def test_refined_cnn_boxes_are_whole_frame_cnn_boxes(genuine_clip: Path):
    frames = frames_by_index(genuine_clip, [0, 30])
    tracker = PeopleTracker()
    refiner = PROFILES["training"].refiner()
    for frame in frames.values():
        ((_, found),) = tracker.locate(frame)
        (reference,) = whole_frame(frame, "cnn")
        box, refined = refiner.box(frame, found)
        assert refined
        assert box == reference


@pytest.mark.slow
def test_refined_boxes_on_a_shared_clip():
    clip = shared_clip("polimi-ispl__icpr2020dfdc__ffpp-youtube-519.mp4")
    frames = frames_by_index(clip, [0, 200])
    tracker = PeopleTracker()
    for frame in frames.values():
        found = tracker.locate(frame)[0][1]
        (hog,) = whole_frame(frame, "hog")
        assert iou(refine(frame, found, "hog"), hog) >= 0.95
        (cnn,) = whole_frame(frame, "cnn")
        assert refine(frame, found, "cnn") == cnn


def test_profiles_are_documented():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in PROFILES:
        assert f"`{name}`" in readme
