"""Pictures for the HTML report: face crops and heatmaps as small JPEG ``data:`` URIs."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from inference.models.explain import side_by_side

# Faces are shown at most this many pixels high (the crops are 112 or 224 px): enough to see the
# face, small enough that a 100-frame report with heatmaps stays a few MB.
FACE_HEIGHT = 112
JPEG_QUALITY = 80


def jpeg_uri(image_rgb: np.ndarray, height: int = FACE_HEIGHT) -> str:
    """``image_rgb`` (H, W, 3) uint8 RGB, scaled to ``height`` px high when taller, as a JPEG data URI."""
    if image_rgb.shape[0] > height:
        width = max(1, round(image_rgb.shape[1] * height / image_rgb.shape[0]))
        image_rgb = cv2.resize(image_rgb, (width, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(
        ".jpg",
        cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY],
    )
    if not ok:
        raise ValueError(f"a face of shape {image_rgb.shape} could not be encoded as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def explained_uri(crop_rgb: np.ndarray, grid: np.ndarray) -> str:
    """The crop and its heatmap overlay side by side (see :func:`side_by_side`), as a JPEG data URI."""
    return jpeg_uri(side_by_side(crop_rgb, grid))
