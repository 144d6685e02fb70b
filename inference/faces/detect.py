"""Finding faces with face_recognition: in a whole frame, near a known face, and cropping them."""

from __future__ import annotations

import functools
import pickle
import threading

import cv2
import dlib
import numpy as np

from inference.faces import dlib_models, mmod

Box = tuple[int, int, int, int]
"""A face box in full-resolution pixels, in face_recognition's order (top, right, bottom, left)."""

# Around the last face, this much of the box size is searched on each side.
TRACK_MARGIN = 0.6
# The tracking search scales the region so that the last face is about this wide, in
# pixels: comfortably above the 80-pixel window of dlib's HOG detector.
TRACK_FACE_WIDTH = 120
# A box found near the last face must overlap it at least this much to be the same face.
MIN_IOU = 0.2

# dlib's detectors and face_recognition's encoder are not thread-safe: dlib releases the GIL
# inside them, and two threads on face_recognition's one HOG detector corrupted the heap. So
# each thread gets its own HOG detector (five 80x80 filters) and requests in parallel still find
# faces in parallel. dlib builds one by parsing the model's text form, about 0.22 s of CPU, and a
# server meets new threads all the time (AnyIO ends a request thread after 10 s idle; each live
# stream starts its own): the text is parsed once per process, and each thread unpickles its copy
# from dlib's binary form (about 1 ms), the same filters. The CNN detector and the encoder (a
# ResNet of 22 MB with its landmark model) stay shared, each behind its own lock.
_per_thread = threading.local()
_CNN_LOCK = threading.Lock()
_ENCODER_LOCK = threading.Lock()


def hog_detector() -> dlib.fhog_object_detector:
    """This thread's copy of dlib's frontal face detector (face_recognition's HOG model)."""
    detector = getattr(_per_thread, "hog", None)
    if detector is None:
        detector = _per_thread.hog = pickle.loads(_hog_model())
    return detector


@functools.cache
def _hog_model() -> bytes:
    """dlib's frontal face detector in dlib's binary form (pickled by dlib itself), made once.

    The cache holds no lock while dlib parses (a process forked meanwhile would inherit it held):
    threads that ask together may each parse, and every later thread gets the model kept.
    """
    return pickle.dumps(dlib.get_frontal_face_detector())


def hog_run(rgb: np.ndarray, upsample: int) -> list[tuple[dlib.rectangle, float]]:
    """dlib's HOG detector on an RGB image: (rectangle, margin above the threshold) per face."""
    rects, scores, _ = hog_detector().run(rgb, upsample, 0.0)
    return list(zip(rects, scores, strict=True))


def face_encoding(rgb: np.ndarray, box: Box) -> np.ndarray:
    """face_recognition's 128-d encoding of the face at ``box`` (top, right, bottom, left) in RGB."""
    with _ENCODER_LOCK:
        return dlib_models.face_encoding(rgb, box)


def detect_faces(
    frame_bgr: np.ndarray, model: str = "hog", max_side: int = 480, upsample: int = 1
) -> list[Box]:
    """Find all faces in a frame, searching a downscaled copy for speed.

    Args:
        frame_bgr: Frame, shape (H, W, 3), uint8, BGR.
        model: "hog" (fast, frontal faces) or "cnn" (slower, more poses).
        max_side: The copy searched has at most this many pixels on its longest side.
        upsample: How often face_recognition upsamples the copy; each step finds faces half
            as large.

    Returns:
        Boxes (top, right, bottom, left) in full-resolution pixels.
    """
    return [box for box, _ in detect_scored(frame_bgr, model, max_side, upsample)]


def detect_scored(
    frame_bgr: np.ndarray, model: str = "hog", max_side: int = 480, upsample: int = 1
) -> list[tuple[Box, float]]:
    """Like :func:`detect_faces`, with the detector's score of each box.

    The boxes are exactly face_recognition's ``face_locations``; the score is dlib's (HOG: the
    margin above its threshold, 0 at the threshold; CNN: its confidence).
    """
    scale = min(1.0, max_side / max(frame_bgr.shape[:2]))
    return _detect_scaled(frame_bgr, scale, model, upsample)


def detect_cnn(frame_bgr: np.ndarray, max_side: int = 480) -> list[tuple[Box, float]]:
    """Every face dlib's CNN detector finds in a copy at most ``max_side`` pixels on its longest side.

    The detector runs in PyTorch (:mod:`inference.faces.mmod`), 10-30 times faster than dlib here,
    with dlib's boxes; upsampled once, like face_recognition's default.

    Returns:
        (box (top, right, bottom, left) in full-resolution pixels, dlib's confidence), the most
        confident first.
    """
    scale = min(1.0, max_side / max(frame_bgr.shape[:2]))
    found = mmod.detect(_scaled_rgb(frame_bgr, scale))
    return [(_full_size(box, scale, frame_bgr.shape), score) for box, score in found]


def _detect_scaled(frame_bgr: np.ndarray, scale: float, model: str, upsample: int) -> list[tuple[Box, float]]:
    rgb = _scaled_rgb(frame_bgr, scale)
    # face_recognition's detectors (its models, run by dlib), called directly for their scores.
    if model == "cnn":
        with _CNN_LOCK:
            found = [(d.rect, d.confidence) for d in dlib_models.cnn_face_detector()(rgb, upsample)]
    else:
        found = hog_run(rgb, upsample)
    return [
        (_full_size((r.top(), r.right(), r.bottom(), r.left()), scale, frame_bgr.shape), float(score))
        for r, score in found
    ]


def _scaled_rgb(frame_bgr: np.ndarray, scale: float) -> np.ndarray:
    """An RGB copy of the frame, ``scale`` times its size (area-averaged when shrinking)."""
    if scale != 1.0:
        size = (max(1, round(frame_bgr.shape[1] * scale)), max(1, round(frame_bgr.shape[0] * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(frame_bgr, size, interpolation=interpolation)
    else:
        small = frame_bgr
    return np.ascontiguousarray(small[:, :, ::-1])


def _full_size(box: Box, scale: float, shape: tuple[int, ...]) -> Box:
    """A box found on a copy ``scale`` times the frame's size, on the frame, clipped to it."""
    return _clip(_rescale(box, 1.0 / scale), shape[0], shape[1])


def crop(frame_bgr: np.ndarray, box: Box) -> np.ndarray:
    """Cut the tight face box out of the frame, no padding (as the checkpoints were trained).

    Returns:
        Crop, shape (bottom - top, right - left, 3), uint8, BGR.
    """
    top, right, bottom, left = box
    return frame_bgr[top:bottom, left:right]


def area(box: Box) -> int:
    """Area of a box in pixels."""
    top, right, bottom, left = box
    return max(0, bottom - top) * max(0, right - left)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    inter = area((max(a[0], b[0]), min(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])))
    union = area(a) + area(b) - inter
    return inter / union if union else 0.0


def search_near(frame_bgr: np.ndarray, last: Box, model: str = "hog") -> Box | None:
    """Look for the face last seen at ``last`` in a small region around it.

    The region (the box plus :data:`TRACK_MARGIN` of its size on each side) is scaled so that
    the face is about :data:`TRACK_FACE_WIDTH` pixels wide, which is much faster than a
    whole-frame search.

    Args:
        frame_bgr: Frame, shape (H, W, 3), uint8, BGR.
        last: The face's last box (top, right, bottom, left), full-resolution pixels.
        model: "hog" or "cnn".

    Returns:
        The box overlapping ``last`` best (IoU at least :data:`MIN_IOU`), or None.
    """
    top, right, bottom, left = last
    height, width = frame_bgr.shape[:2]
    margin_y = round((bottom - top) * TRACK_MARGIN)
    margin_x = round((right - left) * TRACK_MARGIN)
    y0, y1 = max(0, top - margin_y), min(height, bottom + margin_y)
    x0, x1 = max(0, left - margin_x), min(width, right + margin_x)
    scale = TRACK_FACE_WIDTH / max(1, right - left)
    found = _detect_scaled(frame_bgr[y0:y1, x0:x1], scale, model, upsample=0)
    shifted = [(t + y0, r + x0, b + y0, lf + x0) for (t, r, b, lf), _ in found]
    matches = [b for b in shifted if iou(b, last) >= MIN_IOU]
    return max(matches, key=lambda b: iou(b, last)) if matches else None


def _rescale(box: Box, factor: float) -> Box:
    return tuple(round(v * factor) for v in box)  # type: ignore[return-value]


def _clip(box: Box, height: int, width: int) -> Box:
    top, right, bottom, left = box
    return (max(0, top), min(width, right), min(height, bottom), max(0, left))
