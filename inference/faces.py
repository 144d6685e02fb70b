"""Finding the main face in each frame with face_recognition, and cropping it."""

from __future__ import annotations

import warnings

import cv2
import numpy as np

with warnings.catch_warnings():
    # face_recognition_models imports pkg_resources, deprecated but present (setuptools<81).
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    import face_recognition

Box = tuple[int, int, int, int]
"""A face box in full-resolution pixels, in face_recognition's order (top, right, bottom, left)."""

# Around the last face, this much of the box size is searched on each side.
TRACK_MARGIN = 0.6
# The tracking search scales the region so that the last face is about this wide, in
# pixels: comfortably above the 80-pixel window of dlib's HOG detector.
TRACK_FACE_WIDTH = 120
# A box found near the last face must overlap it at least this much to be the same face.
MIN_IOU = 0.2
# After this many second looks in a row found nothing, a video gets no more (it is slow).
SECOND_LOOK_TRIES = 3
# When the last face is not found near its place in a large frame, the whole frame is
# searched only at every this-many-th such frame in a row.
WHOLE_FRAME_AFTER = 3


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
    scale = min(1.0, max_side / max(frame_bgr.shape[:2]))
    return _detect_scaled(frame_bgr, scale, model, upsample)


def _detect_scaled(frame_bgr: np.ndarray, scale: float, model: str, upsample: int) -> list[Box]:
    if scale != 1.0:
        size = (max(1, round(frame_bgr.shape[1] * scale)), max(1, round(frame_bgr.shape[0] * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(frame_bgr, size, interpolation=interpolation)
    else:
        small = frame_bgr
    rgb = np.ascontiguousarray(small[:, :, ::-1])
    found = face_recognition.face_locations(rgb, number_of_times_to_upsample=upsample, model=model)
    height, width = frame_bgr.shape[:2]
    return [_clip(_rescale(box, 1.0 / scale), height, width) for box in found]


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


class FaceTracker:
    """Follows the main face across the sampled frames of one video.

    The main face is the largest one the first time faces are found; after that, the face
    overlapping the last one is kept. Near the last face only a small region is searched,
    which is much faster than the whole frame; the whole (downscaled) frame is searched when
    there is no last face or it is not found nearby (in large frames: for a few frames), and
    once more at twice that resolution when nothing is found (until that fails several times
    in a row).
    """

    def __init__(self, model: str = "hog", max_side: int = 480) -> None:
        self.model = model
        self.max_side = max_side
        self.last: Box | None = None
        self.near_misses = 0
        self.second_look_misses = 0

    def locate(self, frame_bgr: np.ndarray) -> Box | None:
        """Return the main face's box (top, right, bottom, left) in this BGR frame, or None."""
        if self.last is not None:
            box = self._near_last(frame_bgr)
            if box is not None:
                self.last, self.near_misses = box, 0
                return box
            self.near_misses += 1
            costly = max(frame_bgr.shape[:2]) > 2 * self.max_side
            if costly and self.near_misses < WHOLE_FRAME_AFTER:
                # A face seen here a moment ago is most likely turned away or blurred for a
                # moment; on a large frame a whole-frame search is slow and rarely finds it.
                return None
        self.near_misses = 0
        box = self._choose(self._search_whole(frame_bgr))
        if box is not None:
            self.last = box
        return box

    def _search_whole(self, frame_bgr: np.ndarray) -> list[Box]:
        boxes = detect_faces(frame_bgr, self.model, self.max_side)
        larger = max(frame_bgr.shape[:2]) > self.max_side
        if not boxes and larger and self.second_look_misses < SECOND_LOOK_TRIES:
            # A second look at twice the resolution finds faces too small for the first.
            boxes = detect_faces(frame_bgr, self.model, 2 * self.max_side)
            self.second_look_misses = 0 if boxes else self.second_look_misses + 1
        return boxes

    def _choose(self, boxes: list[Box]) -> Box | None:
        if not boxes:
            return None
        if self.last is not None:
            best = max(boxes, key=lambda b: iou(b, self.last))
            if iou(best, self.last) >= MIN_IOU:
                return best
        return max(boxes, key=area)

    def _near_last(self, frame_bgr: np.ndarray) -> Box | None:
        top, right, bottom, left = self.last
        height, width = frame_bgr.shape[:2]
        margin_y = round((bottom - top) * TRACK_MARGIN)
        margin_x = round((right - left) * TRACK_MARGIN)
        y0, y1 = max(0, top - margin_y), min(height, bottom + margin_y)
        x0, x1 = max(0, left - margin_x), min(width, right + margin_x)
        scale = TRACK_FACE_WIDTH / max(1, right - left)
        found = _detect_scaled(frame_bgr[y0:y1, x0:x1], scale, self.model, upsample=0)
        shifted = [(t + y0, r + x0, b + y0, lf + x0) for t, r, b, lf in found]
        matches = [b for b in shifted if iou(b, self.last) >= MIN_IOU]
        return max(matches, key=lambda b: iou(b, self.last)) if matches else None


def _rescale(box: Box, factor: float) -> Box:
    return tuple(round(v * factor) for v in box)  # type: ignore[return-value]


def _clip(box: Box, height: int, width: int) -> Box:
    top, right, bottom, left = box
    return (max(0, top), min(width, right), min(height, bottom), max(0, left))
