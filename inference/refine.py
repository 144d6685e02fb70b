"""Boxes as the original code's detectors drew them, without running them on whole frames.

The public checkpoints were trained on crops whose boxes came from dlib's CNN (MMOD) detector
run on whole full-resolution frames with one upsampling; the original app used dlib's HOG
detector the same way. Both detectors scan an image pyramid (the frame upsampled 2x, then
shrunk by 5/6 per level) on a grid of 8 pixels, so a box's size is fixed by the pyramid level
it was found at and its position moves in steps of 8 level pixels. Running the detector on a
region around a face, rescaled to another scale, therefore gives a box of another size and
grid: the finder's boxes have a median IoU of 0.34-0.86 with the original's (benchmarks/boxes.md).

Here the region around a known face is brought to one of the original pyramid's levels the way
dlib does it (upsampled with dlib's point mapping, then shrunk by dlib's own pyramid_down<6>
as many times as the level says), cut so that its pixels fall on the original grid's phase: the
level's origin for HOG, its place in the tiled pyramid image for the CNN (dlib lays every level
out in one image and the CNN's 8-pixel output grid runs over that image). The detector runs on
that small patch, fed BGR like the original, and only boxes found at the patch's own scale are
kept. Measured (benchmarks/boxes.md): HOG boxes identical to whole-frame HOG boxes; CNN boxes
much closer but not always identical (the patch's pyramid starts from a crop, so its pixels
differ slightly, which sometimes changes which of two close levels or positions wins).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import cv2
import dlib
import numpy as np

from inference.faces import Box, iou

with warnings.catch_warnings():
    # face_recognition_models imports pkg_resources, deprecated but present (setuptools<81).
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    import face_recognition

# face_recognition's upsample=1 is dlib's pyramid_up, the inverse of pyramid_down<2>; the
# detectors' own pyramids shrink by pyramid_down<6>.
_UPSAMPLE = dlib.pyramid_down(2)
_LEVEL = dlib.pyramid_down(6)
_PYRAMID_DOWN = _LEVEL  # also callable on an image: shrinks it as the detectors do
_LEVEL_RATE = 5 / 6
# Side of a box at the level the detector found it on, in level pixels.
NATIVE_SIDE = {"hog": 73, "cnn": 80}
# A box whose side differs more than this from NATIVE_SIDE was found at a smaller level.
SIDE_SLACK = 4
# Both detectors step their window 8 level pixels at a time.
GRID = 8
# dlib's tiled pyramid for the CNN: padding between levels and around the image.
TILE_PADDING = 10
TILE_OUTER_PADDING = 11
TILE_MIN_HEIGHT = 5
# The region around a face that is resampled, as a fraction of the face's size on each side (HOG).
HOG_MARGIN = 0.4
# For the CNN (measured with fewer HOG levels): 0.2 lowered the median IoU on the shared clips
# from 0.84 to 0.79, 0.6 raised it to 0.90 at 1.4 times the cost.
CNN_MARGIN = 0.4
# Extra upsampled pixels so that shrinking never runs short of the patch's far edge.
PYRAMID_SLACK = 12
# For the same face the CNN's level is 0 to 2 below the HOG's (measured on the shared clips:
# 1 below in 60 % of frames, same 26 %, 2 below 11 %, 1 above 3 %).
CNN_LEVELS_BELOW_HOG = (2, 1, 0)


class BoxRefiner:
    """Turns the face finder's boxes into the boxes ``detector`` would draw, for one video.

    The HOG box is refined first (cheap and exact); for "cnn" it anchors the CNN's candidate
    levels. (Keeping a person's CNN box while their HOG box stays the same was measured and
    dropped: it saved a third of the time but lowered the median IoU from 0.81-0.96 to
    0.72-0.88 on 20 frames of the FF++ clips.)

    Args:
        detector: "hog" or "cnn".
    """

    def __init__(self, detector: str) -> None:
        self.detector = detector

    def box(self, frame_bgr: np.ndarray, found: Box) -> tuple[Box, bool]:
        """The refined box of the face the finder found at ``found`` (top, right, bottom, left).

        Returns:
            (box, refined): the HOG box, or ``found`` itself, with False when the detector
            confirms no face there.
        """
        hog = refine(frame_bgr, found, "hog")
        if hog is None:
            return found, False
        if self.detector == "hog":
            return hog, True
        cnn = refine(frame_bgr, hog, "cnn")
        return (cnn, True) if cnn is not None else (hog, False)


@dataclass(frozen=True)
class _Mapping:
    """Frame pixel -> level pixel: level = scale * frame + offset, per axis."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float


def refine(frame_bgr: np.ndarray, box: Box, detector: str) -> Box | None:
    """The box ``detector`` finds for the face near ``box`` on the whole frame, upsampled once.

    Args:
        frame_bgr: Full-resolution frame, shape (H, W, 3), uint8, BGR (fed to the detector as
            is, like the original code did).
        box: Approximate face box (top, right, bottom, left), full-resolution pixels; for
            "cnn", this frame's refined HOG box.
        detector: "cnn" or "hog".

    Returns:
        The box (top, right, bottom, left) the detector scores highest among those overlapping
        ``box``, or None when it finds none there.
    """
    if detector == "hog":
        # The finder's box can be a level off either way (it searched at another scale).
        exact = _exact_level(box, "hog")
        levels = list(range(math.floor(exact) - 1, math.ceil(exact) + 2))
    else:
        levels = [_nearest_level(box, "hog") - d for d in CNN_LEVELS_BELOW_HOG]
    found = _best(frame_bgr, box, detector, levels)
    return found[0] if found else None


def _best(frame_bgr: np.ndarray, box: Box, detector: str, levels: list[int]) -> tuple[Box, int] | None:
    """(box, level) of the highest-scoring detection overlapping ``box`` at any of ``levels``."""
    height, width = frame_bgr.shape[:2]
    origins = _tile_origins(*_upsampled_size(height, width)) if detector == "cnn" else None
    best: tuple[Box, float, int] | None = None
    for level in sorted({max(0, level) for level in levels}):
        if origins is not None and level >= len(origins):
            continue
        phase = _phase(origins[level]) if origins is not None else (0, 0)
        for found, score in _detect_at_level(frame_bgr, box, detector, level, phase):
            if iou(found, box) > 0.3 and (best is None or score > best[1]):
                best = (found, score, level)
    return (best[0], best[2]) if best else None


def _exact_level(box: Box, detector: str) -> float:
    """The (fractional) pyramid level at which ``detector``'s native box has the face's size."""
    top, right, bottom, left = box
    side = 2 * max(1, (right - left + bottom - top) / 2)  # in upsampled pixels
    return math.log(side / NATIVE_SIDE[detector]) / math.log(1 / _LEVEL_RATE)


def _nearest_level(box: Box, detector: str) -> int:
    return max(0, round(_exact_level(box, detector)))


def _phase(origin: tuple[int, int]) -> tuple[int, int]:
    """Where a patch must start (mod GRID) so that its grid is the level's grid in the tiled image.

    Our patch is laid out at (TILE_OUTER_PADDING, TILE_OUTER_PADDING) of its own tiled image.
    """
    return ((TILE_OUTER_PADDING - origin[0]) % GRID, (TILE_OUTER_PADDING - origin[1]) % GRID)


def _detect_at_level(
    frame_bgr: np.ndarray, box: Box, detector: str, level: int, phase: tuple[int, int]
) -> list[tuple[Box, float]]:
    if detector == "cnn":
        patch, (x0, y0) = _pyramid_patch(frame_bgr, box, level, phase)
    else:
        patch, (x0, y0) = _resampled_patch(frame_bgr, box, _mapping(level), phase)
    if detector == "cnn":
        found = [(d.rect, d.confidence) for d in face_recognition.api.cnn_face_detector(patch, 0)]
    else:
        rects, scores, _ = face_recognition.api.face_detector.run(patch, 0, 0.0)
        found = list(zip(rects, scores, strict=True))
    height, width = frame_bgr.shape[:2]
    boxes = []
    for rect, score in found:
        if abs(rect.width() - NATIVE_SIDE[detector]) > SIDE_SLACK:
            continue
        on_level = dlib.rectangle(rect.left() + x0, rect.top() + y0, rect.right() + x0, rect.bottom() + y0)
        upsampled = _LEVEL.rect_up(on_level, level) if level else on_level
        r = _UPSAMPLE.rect_down(upsampled)
        boxes.append(
            ((max(0, r.top()), min(width, r.right()), min(height, r.bottom()), max(0, r.left())), score)
        )
    return boxes


def _pyramid_patch(
    frame_bgr: np.ndarray, box: Box, level: int, phase: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int]]:
    """The region around ``box`` as it looks at pyramid ``level``, on the level's grid (for the CNN).

    Built as dlib builds the level (closer CNN boxes than :func:`_resampled_patch` on every
    shared clip): the region upsampled with dlib's point mapping (bilinear),
    then shrunk ``level`` times by dlib's pyramid_down<6>. The region is chosen so that the
    patch's first pixel lands on the level's grid at ``phase``.

    Returns:
        The patch, (h, w, 3) uint8 BGR, and its origin (x, y) in level pixels.
    """
    height, width = frame_bgr.shape[:2]
    top, right, bottom, left = box
    to_level = _mapping(level)
    margin_x, margin_y = (right - left) * CNN_MARGIN, (bottom - top) * CNN_MARGIN
    lx0 = _snap(to_level.scale_x * max(0.0, left - margin_x) + to_level.offset_x, phase[0])
    ly0 = _snap(to_level.scale_y * max(0.0, top - margin_y) + to_level.offset_y, phase[1])
    lx1 = math.ceil(to_level.scale_x * min(width, right + margin_x) + to_level.offset_x)
    ly1 = math.ceil(to_level.scale_y * min(height, bottom + margin_y) + to_level.offset_y)
    # Where pixel 0 of a level lies in the upsampled image it was made from, and the mapping
    # from upsampled pixels to the level.
    start = _LEVEL.point_up(dlib.dpoint(0, 0), level) if level else dlib.dpoint(0, 0)
    down = _down_mapping(level)
    ux0 = round((lx0 - down.offset_x) / down.scale_x - start.x)
    uy0 = round((ly0 - down.offset_y) / down.scale_y - start.y)
    size = (
        math.ceil((lx1 - lx0) / down.scale_x) + PYRAMID_SLACK,
        math.ceil((ly1 - ly0) / down.scale_y) + PYRAMID_SLACK,
    )
    up = _down_mapping(None)  # upsampled -> frame
    matrix = np.float32(
        [
            [up.scale_x, 0, up.scale_x * ux0 + up.offset_x],
            [0, up.scale_y, up.scale_y * uy0 + up.offset_y],
        ]
    )
    image = cv2.warpAffine(
        frame_bgr,
        matrix,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    for _ in range(level):
        image = _PYRAMID_DOWN(image)
    origin = (
        round(down.scale_x * (ux0 + start.x) + down.offset_x),
        round(down.scale_y * (uy0 + start.y) + down.offset_y),
    )
    return np.ascontiguousarray(image[: ly1 - ly0 + 1, : lx1 - lx0 + 1]), origin


def _resampled_patch(
    frame_bgr: np.ndarray, box: Box, m: _Mapping, phase: tuple[int, int]
) -> tuple[np.ndarray, tuple[int, int]]:
    """The region around ``box`` resampled onto the level's pixel grid with OpenCV (for HOG).

    Area averaging, then an exact sub-pixel placement: cheaper than :func:`_pyramid_patch`,
    and it gives HOG boxes identical to whole-frame HOG on every shared clip, where the
    pyramid-built patch did not on two of them.

    Returns:
        The patch, (h, w, 3) uint8 BGR, and its origin (x, y) in level pixels.
    """
    height, width = frame_bgr.shape[:2]
    top, right, bottom, left = box
    margin_x, margin_y = (right - left) * HOG_MARGIN, (bottom - top) * HOG_MARGIN
    lx0 = _snap(m.scale_x * max(0.0, left - margin_x) + m.offset_x, phase[0])
    ly0 = _snap(m.scale_y * max(0.0, top - margin_y) + m.offset_y, phase[1])
    lx1 = math.ceil(m.scale_x * min(width, right + margin_x) + m.offset_x)
    ly1 = math.ceil(m.scale_y * min(height, bottom + margin_y) + m.offset_y)
    # The frame pixels under the patch, with a small border for the interpolation.
    x0 = max(0, int((lx0 - m.offset_x) / m.scale_x) - 2)
    y0 = max(0, int((ly0 - m.offset_y) / m.scale_y) - 2)
    x1 = min(width, int((lx1 - m.offset_x) / m.scale_x) + 3)
    y1 = min(height, int((ly1 - m.offset_y) / m.scale_y) + 3)
    region = frame_bgr[y0:y1, x0:x1]
    if m.scale_x < 1:
        # Shrink with area averaging first (as a pyramid filters), then place exactly.
        size = (max(1, round(region.shape[1] * m.scale_x)), max(1, round(region.shape[0] * m.scale_y)))
        source = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        kx, ky = size[0] / region.shape[1], size[1] / region.shape[0]
    else:
        source, kx, ky = region, 1.0, 1.0
    # source pixel q -> frame x0 + (q + 0.5) / k - 0.5 -> level -> patch (minus the origin).
    matrix = np.float32(
        [
            [m.scale_x / kx, 0, m.scale_x * (x0 + 0.5 / kx - 0.5) + m.offset_x - lx0],
            [0, m.scale_y / ky, m.scale_y * (y0 + 0.5 / ky - 0.5) + m.offset_y - ly0],
        ]
    )
    patch = cv2.warpAffine(
        source,
        matrix,
        (max(1, lx1 - lx0), max(1, ly1 - ly0)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.ascontiguousarray(patch), (lx0, ly0)


def _snap(value: float, phase: int) -> int:
    """The largest integer <= value that is congruent to ``phase`` mod GRID."""
    return math.floor((value - phase) / GRID) * GRID + phase


@lru_cache(maxsize=64)
def _mapping(level: int) -> _Mapping:
    """dlib's own mapping from frame pixels to pixels of ``level`` (after upsampling once)."""

    def to_level(x: float, y: float) -> dlib.dpoint:
        point = _UPSAMPLE.point_up(dlib.dpoint(x, y))
        return _LEVEL.point_down(point, level) if level else point

    return _affine(to_level)


@lru_cache(maxsize=64)
def _down_mapping(level: int | None) -> _Mapping:
    """Upsampled pixels -> pixels of ``level``; for None, upsampled pixels -> frame pixels."""
    if level is None:
        return _affine(lambda x, y: _UPSAMPLE.point_down(dlib.dpoint(x, y)))
    return _affine(lambda x, y: _LEVEL.point_down(dlib.dpoint(x, y), level) if level else dlib.dpoint(x, y))


def _affine(mapping) -> _Mapping:
    """The affine map (per axis) that dlib's point ``mapping`` is, read off two points."""
    a, b = mapping(0.0, 0.0), mapping(1000.0, 1000.0)
    return _Mapping((b.x - a.x) / 1000, (b.y - a.y) / 1000, a.x, a.y)


def _upsampled_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the frame after dlib's pyramid_up: its rect_up of the frame, inclusive."""
    up = _UPSAMPLE.rect_up(dlib.rectangle(0, 0, width - 1, height - 1))
    return up.bottom() + 1, up.right() + 1


@lru_cache(maxsize=16)
def _tile_origins(height: int, width: int) -> list[tuple[int, int]]:
    """Top-left corner (x, y) of each pyramid level in the image dlib's CNN input layer tiles.

    dlib stacks the levels down a first column (the largest on the left edge), then up a
    second column on the right, stopping before a level would overlap the first.
    """
    sizes = [(height, width)]
    while True:
        height, width = math.floor(_LEVEL_RATE * height), math.floor(_LEVEL_RATE * width)
        if height * width == 0 or height < TILE_MIN_HEIGHT:
            break
        sizes.append((height, width))
    first_h, first_w = sizes[0]
    total = sum(h + TILE_PADDING for h, _ in sizes) - 2 * TILE_PADDING
    column, previous_w = 0, 0
    for h, w in sizes:
        if w <= first_w - previous_w - TILE_PADDING and (column - first_h) * 2 >= total - first_h:
            break
        column += h + TILE_PADDING
        previous_w = w
    column -= TILE_PADDING
    origins = []
    y = TILE_OUTER_PADDING
    while y < column + TILE_OUTER_PADDING and len(origins) < len(sizes):
        origins.append((TILE_OUTER_PADDING, y))
        y += sizes[len(origins) - 1][0] + TILE_PADDING
    y -= TILE_PADDING
    for h, w in sizes[len(origins) :]:
        left, top = TILE_OUTER_PADDING + first_w - w, y - h
        if top < TILE_OUTER_PADDING + first_h:  # would overlap the first level
            break
        origins.append((left, top))
        y -= h + TILE_PADDING
    return origins
