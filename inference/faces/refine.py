"""Boxes as the original code's detectors drew them, without running them on whole frames.

The public checkpoints were trained on crops whose boxes came from dlib's CNN (MMOD) detector
run on whole full-resolution frames with one upsampling; the original app used dlib's HOG
detector the same way. Both detectors scan an image pyramid (the frame upsampled 2x, then
shrunk by 5/6 per level) on a grid of 8 pixels, so a box's size is fixed by the pyramid level
it was found at and its position moves in steps of 8 level pixels. Running a detector on a
region around a face rescaled to another scale therefore gives a box of another size and grid:
the face finder's boxes have a median IoU of 0.45-0.86 with the original's (benchmarks/boxes.md).

Here the region around a known face is resampled onto the pixels of the original pyramid's
levels near the face's scale, on the original grid, and the detector scores only that:

- HOG: dlib's own detector on the patch (the level's origin is the grid's phase), keeping the
  boxes found at the patch's own scale.
- CNN: the network in PyTorch (:mod:`inference.faces.mmod`) on the region's pixels as they lie in the
  tiled image dlib's CNN input layer builds (its 8-pixel output grid runs over that image), with
  the context the scores depend on.

Measured on 6 frames of every shared clip (benchmarks/boxes.md): identical boxes in 54 of 62
frames (HOG) and 60 of 62 (CNN), median IoU 1.00 on every clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dlib
import numpy as np

from inference.faces import mmod, pyramid
from inference.faces.detect import Box, hog_run, iou

# Side of a box at the level the detector found it on, in level pixels.
NATIVE_SIDE = {"hog": 73, "cnn": 80}
# A box whose side differs more than this from NATIVE_SIDE was found at a smaller level.
SIDE_SLACK = 4
# Both detectors step their window 8 level pixels at a time.
GRID = 8
# The region around a face that is resampled, as a fraction of the face's size on each side (HOG).
HOG_MARGIN = 0.4
# The CNN's level for a face is mostly 1 below the level of HOG's box of its size, or the same
# (measured on the shared clips, 208 faces: 2 below 12 %, 1 below 63 %, same 25 %, 1 above 1 %).
CNN_FIRST_LEVELS = (-1, 0)
# Levels further than this from the first ones are not tried.
CNN_MAX_LEVELS_AWAY = 3
# CNN windows whose centre is within this many cells (of 8 level pixels) of the given box's
# centre are scored: 40 pixels, half the window (the CNN's box sits up to a fifth of the face
# higher than HOG's). A fixed count keeps the network's input one size, which PyTorch runs
# about twice as fast as a new size each time.
CNN_CELLS_AROUND = 5
# A detection belongs to the face when its box overlaps the face's box at least this much.
SAME_FACE_IOU = 0.3


class BoxRefiner:
    """Turns the face finder's boxes into the boxes ``detector`` would draw, for one video.

    Args:
        detector: "hog" or "cnn".
    """

    def __init__(self, detector: str) -> None:
        self.detector = detector

    def box(self, frame_bgr: np.ndarray, found: Box) -> tuple[Box, bool]:
        """The refined box of the face the finder found at ``found`` (top, right, bottom, left).

        Returns:
            (box, refined): the detector's box, or ``found`` itself with False when the
            detector finds no face there.
        """
        refined = refine(frame_bgr, found, self.detector)
        return (refined, True) if refined is not None else (found, False)


def refine(frame_bgr: np.ndarray, box: Box, detector: str) -> Box | None:
    """The box ``detector`` finds for the face near ``box`` on the whole frame, upsampled once.

    Args:
        frame_bgr: Full-resolution frame, shape (H, W, 3), uint8, BGR (fed to the detector as
            is, like the original code did).
        box: Approximate face box (top, right, bottom, left), full-resolution pixels, such as
            the face finder's (HOG on a smaller copy).
        detector: "cnn" or "hog".

    Returns:
        The box (top, right, bottom, left) the detector scores highest among those overlapping
        ``box``, or None when it finds none there.
    """
    if detector == "cnn":
        return _cnn_box(frame_bgr, box)
    # The finder's box can be a level off either way (it searched at another scale).
    exact = _exact_level(box, "hog")
    best: tuple[Box, float] | None = None
    for level in range(max(0, math.floor(exact) - 1), math.ceil(exact) + 2):
        for found, score in _hog_at_level(frame_bgr, box, level):
            if iou(found, box) > SAME_FACE_IOU and (best is None or score > best[1]):
                best = (found, score)
    return best[0] if best else None


def _exact_level(box: Box, detector: str) -> float:
    """The (fractional) pyramid level at which ``detector``'s native box has the face's size."""
    top, right, bottom, left = box
    side = 2 * max(1, (right - left + bottom - top) / 2)  # in upsampled pixels
    return math.log(side / NATIVE_SIDE[detector]) / math.log(1 / pyramid.LEVEL_RATE)


def _hog_at_level(frame_bgr: np.ndarray, box: Box, level: int) -> list[tuple[Box, float]]:
    patch, (x0, y0) = _resampled_patch(frame_bgr, box, pyramid.frame_to_level(level))
    boxes = []
    for rect, score in hog_run(patch, 0):
        if abs(rect.width() - NATIVE_SIDE["hog"]) <= SIDE_SLACK:
            on_level = dlib.translate_rect(rect, dlib.point(x0, y0))
            boxes.append((pyramid.to_frame(on_level, level, frame_bgr.shape), score))
    return boxes


def _cnn_box(frame_bgr: np.ndarray, near: Box) -> Box | None:
    """The CNN's highest-scoring window on the face near ``near``, over the levels near its size.

    The two likeliest levels are scored, then further levels in the direction the score rises
    until it falls: the CNN's score peaks at the face's scale, so this finds the same level as
    scoring every level near the face, with about three levels scored per face.
    """
    origins = pyramid.tile_origins(*pyramid.upsampled_size(*frame_bgr.shape[:2]))
    base = _nearest_level(near, "hog") + CNN_FIRST_LEVELS[0]
    scored: dict[int, tuple[float, Box] | None] = {}

    def score(level: int) -> float:
        if level not in scored:
            inside = 0 <= level < len(origins)
            scored[level] = _cnn_at_level(frame_bgr, near, level, origins[level]) if inside else None
        found = scored[level]
        return found[0] if found else -math.inf

    step = 1 if score(base + 1) > score(base) else -1
    level = base + 1 if step == 1 else base
    while abs(level - base) <= CNN_MAX_LEVELS_AWAY and score(level + step) > score(level):
        level += step
    return scored[level][1] if scored[level] else None


def _cnn_at_level(
    frame_bgr: np.ndarray, near: Box, level: int, origin: tuple[int, int]
) -> tuple[float, Box] | None:
    """(score, box) of the CNN's best window at ``level`` that overlaps ``near``, if any scores above 0.

    Coordinates: the tiled image's pixel t is the level's pixel t - origin; output cell j
    scores the window centred on tiled pixel STRIDE * j + OFFSET.
    """
    network = mmod.network()
    m = pyramid.frame_to_level(level)
    top, right, bottom, left = near
    x = _cells(m.scale_x * (left + right) / 2 + m.offset_x + origin[0])
    y = _cells(m.scale_y * (top + bottom) / 2 + m.offset_y + origin[1])
    pixels = pyramid.tiled_pixels(frame_bgr, (x.start, x.stop), (y.start, y.stop), fill=network.spec.mean)
    scores = mmod.scores(pixels)[y.cells(), x.cells()]
    # Window centres on the level, per candidate column and row.
    xs = x.centres() - origin[0]
    ys = y.centres() - origin[1]
    order = np.argsort(scores, axis=None)[::-1]
    for row, col in zip(*np.unravel_index(order, scores.shape), strict=True):
        score = float(scores[row, col])
        if score <= 0:  # dlib reports windows scoring above 0
            return None
        box = pyramid.to_frame(network.spec.window_around(xs[col], ys[row]), level, frame_bgr.shape)
        if iou(box, near) > SAME_FACE_IOU:
            return score, box
    return None


@dataclass(frozen=True)
class _Cells:
    """One axis of the CNN's candidate cells [first, last] and the input [start, stop) they need.

    ``start`` is ``_CONTEXT`` cells before ``first`` (on the grid, as the strided convolutions
    need), ``stop`` the last pixel the score of ``last`` depends on, plus one.
    """

    first: int
    last: int

    @property
    def start(self) -> int:
        return mmod.STRIDE * (self.first - _CONTEXT)

    @property
    def stop(self) -> int:
        return mmod.STRIDE * self.last + mmod.OFFSET + mmod.REACH + 1

    def cells(self) -> slice:
        """The candidates among the output cells of the input [start, stop)."""
        return slice(_CONTEXT, _CONTEXT + self.last - self.first + 1)

    def centres(self) -> np.ndarray:
        """Tiled-image pixel at the centre of each candidate's window."""
        return mmod.STRIDE * np.arange(self.first, self.last + 1) + mmod.OFFSET


# Output cells between the input's first pixel and the first candidate: enough for its score.
_CONTEXT = math.ceil((mmod.REACH - mmod.OFFSET) / mmod.STRIDE)


def _cells(centre: float) -> _Cells:
    """The cells whose windows are centred within CNN_CELLS_AROUND cells of ``centre`` (tiled pixels)."""
    nearest = round((centre - mmod.OFFSET) / mmod.STRIDE)
    return _Cells(nearest - CNN_CELLS_AROUND, nearest + CNN_CELLS_AROUND)


def _nearest_level(box: Box, detector: str) -> int:
    return max(0, round(_exact_level(box, detector)))


def _resampled_patch(
    frame_bgr: np.ndarray, box: Box, m: pyramid.Mapping
) -> tuple[np.ndarray, tuple[int, int]]:
    """The region around ``box`` on the level's pixel grid (for HOG), placed by dlib's point mapping.

    Gives HOG boxes identical to whole-frame HOG on every shared clip (benchmarks/boxes.md).

    Returns:
        The patch, (h, w, 3) uint8 BGR, and its origin (x, y) in level pixels.
    """
    height, width = frame_bgr.shape[:2]
    top, right, bottom, left = box
    margin_x, margin_y = (right - left) * HOG_MARGIN, (bottom - top) * HOG_MARGIN
    lx0 = _on_grid(m.scale_x * max(0.0, left - margin_x) + m.offset_x)
    ly0 = _on_grid(m.scale_y * max(0.0, top - margin_y) + m.offset_y)
    lx1 = math.ceil(m.scale_x * min(width, right + margin_x) + m.offset_x)
    ly1 = math.ceil(m.scale_y * min(height, bottom + margin_y) + m.offset_y)
    patch = pyramid.resample(
        frame_bgr,
        ((lx0 - m.offset_x) / m.scale_x, (ly0 - m.offset_y) / m.scale_y),
        (1 / m.scale_x, 1 / m.scale_y),
        (max(1, lx1 - lx0), max(1, ly1 - ly0)),
    )
    return patch, (lx0, ly0)


def _on_grid(value: float) -> int:
    """The largest multiple of GRID <= value: HOG's windows start on the level's grid."""
    return math.floor(value / GRID) * GRID
