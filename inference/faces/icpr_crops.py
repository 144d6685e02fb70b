"""Face crops made exactly as the ICPR 2020 detectors' training faces were made.

Their extraction script kept, for each BlazeFace detection, the box widened by a margin, the
512x512 region around it stored as a JPEG (quality 95, no chroma subsampling) and the box as
integers relative to that region; training and testing then read the JPEG back, cut an
isotropic square of side max(w, h) around the box and resized it to 224 px with PIL's bilinear
filter. The JPEG round trip changes the pixels the network saw, so it is repeated here.

The crop is a function of the frame and the float margin box alone (:attr:`PaperCrop.margin_box`),
in the original's float32 arithmetic: the integer box it stored cannot stand in for it, because
the 512 px region is centred on the float box, and a region one pixel off moves the JPEG's 8 px
blocks and changes the crop's pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from inference.faces.blazeface import BOX

SIZE = 224
REGION = 512
MARGIN = 0.2
JPEG_QUALITY = 95


@dataclass(frozen=True)
class PaperCrop:
    """One face as the ICPR 2020 networks take it.

    Attributes:
        face: (224, 224, 3) uint8, RGB, not yet normalised.
        box: (left, top, right, bottom) in frame pixels, margin included, as the original
            stored it (integers relative to its 512 px region, plus the region's offset). Not
            enough to rebuild the crop: see ``margin_box``.
        margin_box: (left, top, right, bottom) in frame pixels, margin included, the float32
            values (as Python floats, exact) the crop was made from: :func:`rebuild` of the
            frame and this box gives ``face`` again, pixel for pixel.
        frame_size: (width, height) of the frame the crop was cut from, whose pixels the
            boxes are in.
    """

    face: np.ndarray
    box: tuple[int, int, int, int]
    margin_box: tuple[float, float, float, float]
    frame_size: tuple[int, int]


def margin_box(detection: np.ndarray, frame_w: int, frame_h: int) -> tuple[float, float, float, float]:
    """A detection's box widened as the original did, (left, top, right, bottom) in frame pixels.

    The margin is ``round(0.2 * box height)``: twice that above (BlazeFace's boxes stop at the
    eyebrows), once on the other sides, clamped to the frame.
    """
    # float32 arithmetic throughout, as the original did it on its torch tensors.
    ymin, xmin, ymax, xmax = np.asarray(detection[BOX], dtype=np.float32)
    offset = np.round(np.float32(MARGIN) * (ymax - ymin))
    return (
        float(max(xmin - offset, np.float32(0))),
        float(max(ymin - 2 * offset, np.float32(0))),
        float(min(xmax + offset, np.float32(frame_w))),
        float(min(ymax + offset, np.float32(frame_h))),
    )


def centred(
    frame_w: int, frame_h: int, side_w: int, side_h: int, box: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """A ``side_w`` x ``side_h`` window centred on ``box`` (floor division), clipped to the frame."""
    left, top, right, bottom = box
    top_new = max((top + bottom) // 2 - side_h // 2, 0)
    left_new = max((left + right) // 2 - side_w // 2, 0)
    return left_new, top_new, min(left_new + side_w, frame_w), min(top_new + side_h, frame_h)


def paper_crop(frame_rgb: np.ndarray, detection: np.ndarray) -> PaperCrop:
    """Cut one face the way the ICPR 2020 training faces were cut.

    Args:
        frame_rgb: (H, W, 3) uint8, RGB.
        detection: One row of :meth:`inference.faces.blazeface.FaceFinder.detect`.
    """
    frame_h, frame_w = frame_rgb.shape[:2]
    box = margin_box(detection, frame_w, frame_h)
    face, stored = rebuild(frame_rgb, box)
    return PaperCrop(face=face, box=stored, margin_box=box, frame_size=(frame_w, frame_h))


def rebuild(
    frame_rgb: np.ndarray, box: tuple[float, float, float, float]
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The ICPR 2020 training crop of ``frame_rgb`` for a margin box, as the original made it.

    The original computed on float32 scalars (its detections' dtype): the region's centre
    ``(left + right) // 2`` and the box relative to the region are float32 operations, then
    truncated to int16. They are done the same way here, as a sum rounded to float32 can differ
    from the exact one by a pixel after the floor.

    Args:
        frame_rgb: (H, W, 3) uint8, RGB.
        box: (left, top, right, bottom) in frame pixels, margin included (float32 values, as
            :func:`margin_box` gives and the report's ``blazeface_box`` carries).

    Returns:
        The face, (224, 224, 3) uint8 RGB, and the box as the original stored it (integers
        relative to its 512 px region, plus the region's offset), in frame pixels.
    """
    frame_h, frame_w = frame_rgb.shape[:2]
    box32 = tuple(np.float32(value) for value in box)
    region_box = tuple(int(v) for v in centred(frame_w, frame_h, REGION, REGION, box32))
    region = _jpeg_round_trip(Image.fromarray(frame_rgb).crop(region_box))
    # Stored as int16 relative to the region: a float32 difference truncated towards zero.
    left, top, right, bottom = (
        int(np.int16(value - np.float32(origin)))
        for value, origin in zip(box32, region_box[:2] * 2, strict=True)
    )
    width, height = right - left, bottom - top
    ratio = min(SIZE / height, SIZE / width) if width > 0 and height > 0 else 1.0
    side = int(SIZE / ratio)
    square = centred(region.width, region.height, side, side, (left, top, right, bottom))
    face = np.asarray(region.crop(square).resize((SIZE, SIZE), Image.BILINEAR), dtype=np.uint8)
    offset_x, offset_y = region_box[:2]
    return face, (left + offset_x, top + offset_y, right + offset_x, bottom + offset_y)


def _jpeg_round_trip(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling="4:4:4")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")
