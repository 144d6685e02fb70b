"""dlib's image pyramids, as its HOG and CNN face detectors build them for face_recognition.

face_recognition's ``upsample=1`` first resizes the frame to about twice its size (dlib's
``pyramid_up``); each detector then shrinks that image by 5/6 per level with bilinear resizing
that maps corner pixel to corner pixel. The CNN's input layer lays every level out in one tiled
image. dlib maps boxes between levels with ``pyramid_down``'s point mappings (p * 6/5 + 0.3
upwards), which are close to, not the same as, where the levels' pixels lie.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import dlib
import numpy as np

# face_recognition's upsample=1 is dlib's pyramid_up, the inverse of pyramid_down<2>; the
# detectors' own pyramids shrink by pyramid_down<6>.
UPSAMPLE = dlib.pyramid_down(2)
LEVEL = dlib.pyramid_down(6)
LEVEL_RATE = 5 / 6
# Level regions that come from at most this many pixels of the upsampled frame are built as
# dlib builds them (about 10 ms for 700 000); larger ones are approximated.
CHAIN_MAX_PIXELS = 250_000
# dlib's tiled pyramid for the CNN: padding between levels and around the image.
TILE_PADDING = 10
TILE_OUTER_PADDING = 11
TILE_MIN_HEIGHT = 5


@dataclass(frozen=True)
class Mapping:
    """Frame pixel -> level pixel: level = scale * frame + offset, per axis."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float


@lru_cache(maxsize=64)
def frame_to_level(level: int) -> Mapping:
    """dlib's own mapping from frame pixels to pixels of ``level`` (after upsampling once)."""

    def to_level(x: float, y: float) -> dlib.dpoint:
        point = UPSAMPLE.point_up(dlib.dpoint(x, y))
        return LEVEL.point_down(point, level) if level else point

    return _affine(to_level)


def _affine(mapping) -> Mapping:
    """The affine map (per axis) that dlib's point ``mapping`` is, read off two points."""
    a, b = mapping(0.0, 0.0), mapping(1000.0, 1000.0)
    return Mapping((b.x - a.x) / 1000, (b.y - a.y) / 1000, a.x, a.y)


def upsampled_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the frame after dlib's pyramid_up: its rect_up of the frame, inclusive."""
    up = UPSAMPLE.rect_up(dlib.rectangle(0, 0, width - 1, height - 1))
    return up.bottom() + 1, up.right() + 1


@lru_cache(maxsize=16)
def level_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """(height, width) of every level of dlib's pyramid of an image of that size."""
    sizes = [(height, width)]
    while True:
        height, width = math.floor(LEVEL_RATE * height), math.floor(LEVEL_RATE * width)
        if height * width == 0 or height < TILE_MIN_HEIGHT:
            return sizes
        sizes.append((height, width))


@lru_cache(maxsize=16)
def tile_origins(height: int, width: int) -> list[tuple[int, int]]:
    """Top-left corner (x, y) of each pyramid level in the image dlib's CNN input layer tiles.

    dlib stacks the levels down a first column (the largest on the left edge), then up a
    second column on the right, stopping before a level would overlap the first.
    """
    sizes = level_sizes(height, width)
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


def to_upsampled(on_level: dlib.rectangle | dlib.drectangle, level: int) -> dlib.rectangle:
    """A detector's rectangle on ``level`` on the upsampled frame, mapped and rounded as dlib does.

    The CNN maps real-valued windows up the pyramid and rounds them there; HOG's are whole pixels.
    """
    upsampled = LEVEL.rect_up(on_level, level) if level else on_level
    if isinstance(upsampled, dlib.drectangle):
        sides = (upsampled.left(), upsampled.top(), upsampled.right(), upsampled.bottom())
        upsampled = dlib.rectangle(*(math.floor(side + 0.5) for side in sides))
    return upsampled


def upsampled_to_frame(rect: dlib.rectangle, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A rectangle on the upsampled frame as face_recognition reports it on the frame.

    Returns:
        (top, right, bottom, left), mapped down to the frame and clipped to it.
    """
    r = UPSAMPLE.rect_down(rect)
    height, width = shape[:2]
    return max(0, r.top()), min(width, r.right()), min(height, r.bottom()), max(0, r.left())


def to_frame(
    on_level: dlib.rectangle | dlib.drectangle, level: int, shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """A detector's rectangle on ``level`` as face_recognition reports it on a frame of ``shape``.

    Returns:
        (top, right, bottom, left), clipped to the frame.
    """
    return upsampled_to_frame(to_upsampled(on_level, level), shape)


def tiled_size(height: int, width: int) -> tuple[int, int]:
    """(rows, columns) of the tiled image dlib's CNN input layer makes of an image of that size."""
    origins = tile_origins(height, width)
    sizes = level_sizes(height, width)
    bottom = max(y + h for (_, y), (h, _) in zip(origins, sizes, strict=False))
    return bottom + TILE_OUTER_PADDING, width + 2 * TILE_OUTER_PADDING


def tile_at(point: tuple[float, float], height: int, width: int) -> int:
    """The level whose tile is nearest ``point`` (x, y) of the tiled image of an image of that size."""
    origins = tile_origins(height, width)
    sizes = level_sizes(height, width)

    def distance(level: int) -> float:
        (x, y), (h, w) = origins[level], sizes[level]
        dx = max(x - point[0], 0, point[0] - (x + w - 1))
        dy = max(y - point[1], 0, point[1] - (y + h - 1))
        return dx * dx + dy * dy

    return min(range(len(origins)), key=distance)


@lru_cache(maxsize=64)
def content_scale(level: int, height: int, width: int) -> tuple[float, float]:
    """Frame pixels per pixel of ``level`` (x, y) for a frame of that size.

    dlib's bilinear resize maps corner pixel to corner pixel, so level pixel c lies at frame
    position c times the product of the scales of the resizes up to it (:func:`_steps`).
    """
    steps = _steps(height, width)[: level + 1]
    return math.prod(x for x, _ in steps), math.prod(y for _, y in steps)


def tiled_pixels(
    frame_bgr: np.ndarray, xs: tuple[int, int], ys: tuple[int, int], fill: tuple[float, float, float]
) -> np.ndarray:
    """Pixels [ys[0], ys[1]) x [xs[0], xs[1]) of the tiled pyramid image dlib's CNN scans.

    Each level's part comes from :func:`level_pixels`; padding between and around the levels
    is ``fill`` (what dlib's zeros are before its normalisation).

    Args:
        frame_bgr: The frame, (H, W, 3) uint8, channels as the detector is fed them.
        xs, ys: Column and row range in the tiled image (may reach outside it).
        fill: The value of padding pixels.

    Returns:
        (h, w, 3) float32, 0-255.
    """
    height, width = frame_bgr.shape[:2]
    upsampled = upsampled_size(height, width)
    out = np.empty((ys[1] - ys[0], xs[1] - xs[0], 3), np.float32)
    out[:] = fill
    for level, ((ox, oy), (h, w)) in enumerate(
        zip(tile_origins(*upsampled), level_sizes(*upsampled), strict=False)
    ):
        x0, x1 = max(xs[0], ox), min(xs[1], ox + w)
        y0, y1 = max(ys[0], oy), min(ys[1], oy + h)
        if x0 < x1 and y0 < y1:
            pixels = level_pixels(frame_bgr, level, (x0 - ox, x1 - ox), (y0 - oy, y1 - oy))
            out[y0 - ys[0] : y1 - ys[0], x0 - xs[0] : x1 - xs[0]] = pixels
    return out


def level_pixels(frame_bgr: np.ndarray, level: int, xs: tuple[int, int], ys: tuple[int, int]) -> np.ndarray:
    """Pixels [ys[0], ys[1]) x [xs[0], xs[1]) of the CNN's pyramid ``level``: (h, w, 3) float32, 0-255.

    Built as dlib builds it (:func:`_chain`) while the region of the upsampled frame it comes
    from has at most CHAIN_MAX_PIXELS; above that (large faces), approximated by shrinking the
    frame region with area averaging (:func:`resample`; 0.6-2 grey levels from dlib's on average
    on a test photo, which moves a box now and then, benchmarks/boxes.md).

    Args:
        frame_bgr: The frame, (H, W, 3) uint8, channels as the detector is fed them.
        level: Pyramid level (0: the upsampled frame).
        xs, ys: Column and row range, in level pixels, inside the level.
    """
    regions = _regions(frame_bgr.shape[:2], level, xs, ys)
    (x0, x1), (y0, y1) = regions[0]
    if (x1 - x0) * (y1 - y0) <= CHAIN_MAX_PIXELS:
        return _chain(frame_bgr, regions)
    scale_x, scale_y = content_scale(level, *frame_bgr.shape[:2])
    size = (xs[1] - xs[0], ys[1] - ys[0])
    return resample(frame_bgr, (xs[0] * scale_x, ys[0] * scale_y), (scale_x, scale_y), size).astype(
        np.float32
    )


@lru_cache(maxsize=16)
def _steps(height: int, width: int) -> tuple[tuple[float, float], ...]:
    """dlib's resize scale (x, y) from each image of the chain (frame, upsampled, levels) to the next.

    The bilinear resize maps corner pixel to corner pixel: (size in - 1) / (size out - 1).
    """
    upsampled = upsampled_size(height, width)
    sizes = [(height, width), *level_sizes(*upsampled)]
    return tuple(
        ((w_in - 1) / max(w_out - 1, 1), (h_in - 1) / max(h_out - 1, 1))
        for (h_in, w_in), (h_out, w_out) in itertools.pairwise(sizes)
    )


def _regions(
    shape: tuple[int, int], level: int, xs: tuple[int, int], ys: tuple[int, int]
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The (xs, ys) range needed of the upsampled frame (index 0) and each level up to ``level``."""
    steps = _steps(*shape)
    regions = [(xs, ys)]
    for scale_x, scale_y in reversed(steps[1 : level + 1]):
        xs, ys = regions[0]
        regions.insert(0, (_source(xs, scale_x), _source(ys, scale_y)))
    return regions


def _source(span: tuple[int, int], scale: float) -> tuple[int, int]:
    """The range [start, stop) of the image before a resize that output pixels ``span`` read.

    Output pixel c reads the two pixels beside position c * ``scale`` (bilinear).
    """
    return math.floor(span[0] * scale), math.floor((span[1] - 1) * scale) + 2


def _chain(frame_bgr: np.ndarray, regions: list[tuple[tuple[int, int], tuple[int, int]]]) -> np.ndarray:
    """A level region as dlib makes it: bilinear resizes, corner pixel to corner pixel.

    First the frame to the upsampled size (dlib truncates to uint8 there), then, in float, each
    level from the one before. OpenCV samples at 1/32 pixel, which keeps the result within a
    thousandth of a grey level of dlib's on average.
    """
    steps = _steps(*frame_bgr.shape[:2])
    # Only the part of the frame the upsampled region reads.
    (fx0, fx1), (fy0, fy1) = _source(regions[0][0], steps[0][0]), _source(regions[0][1], steps[0][1])
    image = frame_bgr[fy0:fy1, fx0:fx1].astype(np.float32)
    origin = (fx0, fy0)
    for index, ((xs, ys), (scale_x, scale_y)) in enumerate(zip(regions, steps, strict=False)):
        # Output pixel c reads position c * scale of the image before, whose region starts at origin.
        matrix = np.float32(
            [[scale_x, 0, xs[0] * scale_x - origin[0]], [0, scale_y, ys[0] * scale_y - origin[1]]]
        )
        image = cv2.warpAffine(
            image,
            matrix,
            (xs[1] - xs[0], ys[1] - ys[0]),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if index == 0:
            image = np.floor(image + 1e-3)  # dlib's uint8 conversion truncates
        origin = (xs[0], ys[0])
    return image


def resample(
    frame_bgr: np.ndarray, start: tuple[float, float], step: tuple[float, float], size: tuple[int, int]
) -> np.ndarray:
    """The frame sampled on a regular grid of ``size`` (width, height) points.

    Output pixel (column i, row j) is the frame at (start[0] + i * step[0], start[1] + j * step[1])
    in pixel positions (0: the first pixel's centre). Shrinking (step > 1) averages areas first,
    as a pyramid filters, then places bilinearly.

    Returns:
        (size[1], size[0], 3) uint8, channels as in ``frame_bgr``.
    """
    height, width = frame_bgr.shape[:2]
    # The frame pixels under the grid, with a small border for the interpolation.
    x0 = max(0, int(start[0]) - 2)
    y0 = max(0, int(start[1]) - 2)
    x1 = min(width, int(start[0] + size[0] * step[0]) + 3)
    y1 = min(height, int(start[1] + size[1] * step[1]) + 3)
    region = frame_bgr[y0:y1, x0:x1]
    if step[0] > 1:
        shrunk = (max(1, round(region.shape[1] / step[0])), max(1, round(region.shape[0] / step[1])))
        source = cv2.resize(region, shrunk, interpolation=cv2.INTER_AREA)
        kx, ky = shrunk[0] / region.shape[1], shrunk[1] / region.shape[0]
    else:
        source, kx, ky = region, 1.0, 1.0
    # source pixel q -> frame x0 + (q + 0.5) / k - 0.5 -> grid (position - start) / step.
    matrix = np.float32(
        [
            [1 / (kx * step[0]), 0, (x0 + 0.5 / kx - 0.5 - start[0]) / step[0]],
            [0, 1 / (ky * step[1]), (y0 + 0.5 / ky - 0.5 - start[1]) / step[1]],
        ]
    )
    return cv2.warpAffine(source, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
