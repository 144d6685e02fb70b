"""face_recognition's models, run by dlib directly: the CNN face detector and the face encoder.

face_recognition is a thin layer over these dlib calls, but its package requires the distribution
``dlib``, which pip compiles from source (CMake, a C++ toolchain, about 5 minutes on 2 cores). The
engine calls dlib itself (the prebuilt ``dlib-bin`` wheel) with the same model files and the same
arguments, so boxes and encodings are face_recognition's; ``tests/test_faces.py`` compares them with
face_recognition's own functions.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import dlib
import numpy as np

Box = tuple[int, int, int, int]
"""A face box in pixels, in face_recognition's order (top, right, bottom, left)."""


@functools.cache
def _model_file(name: str) -> str:
    """Path of the file ``models/<name>`` that the package face_recognition_models ships.

    Found without importing the package: its ``__init__`` imports pkg_resources (about 0.4 s, and
    deprecated) only to join the same path.

    Raises:
        ModuleNotFoundError: If face_recognition_models is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "face_recognition_models is not installed (pip install face_recognition_models): "
            "it holds the dlib models of the face detector",
            name="face_recognition_models",
        )
    return str(Path(spec.submodule_search_locations[0]) / "models" / name)


@functools.cache
def cnn_face_detector() -> dlib.cnn_face_detection_model_v1:
    """dlib's MMOD CNN face detector with face_recognition's weights (its ``model="cnn"``)."""
    return dlib.cnn_face_detection_model_v1(_model_file("mmod_human_face_detector.dat"))


@functools.cache
def _landmarks() -> dlib.shape_predictor:
    # face_recognition's default encoding model ("small"): the 5-point landmarks.
    return dlib.shape_predictor(_model_file("shape_predictor_5_face_landmarks.dat"))


@functools.cache
def _encoder() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(_model_file("dlib_face_recognition_resnet_model_v1.dat"))


def cnn_model_path() -> str:
    """Path of the CNN face detector's weights file that face_recognition_models ships."""
    return _model_file("mmod_human_face_detector.dat")


def face_encoding(rgb: np.ndarray, box: Box) -> np.ndarray:
    """face_recognition's ``face_encodings(rgb, [box])[0]``: the face's 128-d encoding.

    Not thread-safe (dlib's models hold state): callers serialise it.

    Args:
        rgb: Image, shape (H, W, 3), uint8, RGB.
        box: The face (top, right, bottom, left) in pixels.

    Returns:
        Shape (128,), float64.
    """
    top, right, bottom, left = box
    shape = _landmarks()(rgb, dlib.rectangle(left, top, right, bottom))
    return np.array(_encoder().compute_face_descriptor(rgb, shape, 1))
