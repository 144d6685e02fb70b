"""Face crops as the checkpoints' training data made them: PIL resizing and the MJPG round trip."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from inference.errors import DeepfakeDetectorError

# The original training preprocessing wrote its crops with these settings.
MJPG_FPS = 30


class CropCodecError(DeepfakeDetectorError):
    """OpenCV could not write or read the MJPG video that the ``training`` profile needs."""


def resize_crop(crop_bgr: np.ndarray, size: int) -> np.ndarray:
    """Resize one crop to ``size`` x ``size`` with PIL bilinear filtering.

    PIL is used on purpose: the original pipeline went through ``ToPILImage`` + ``Resize``,
    whose antialiased bilinear filter OpenCV does not reproduce.

    Args:
        crop_bgr: Face crop, shape (H, W, 3), uint8, BGR.
        size: Output side in pixels.

    Returns:
        Array of shape (size, size, 3), uint8, still BGR.
    """
    image = Image.fromarray(np.ascontiguousarray(crop_bgr))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))


def mjpg_round_trip(crops_bgr: list[np.ndarray]) -> list[np.ndarray]:
    """Write square crops to an MJPG video with OpenCV and read them back, as training did.

    The checkpoints were trained on crops stored this way, so their JPEG artefacts are part
    of what the network saw. The video lives in a temporary folder that is removed at once.

    Args:
        crops_bgr: Crops, each (S, S, 3) uint8 BGR, all the same size.

    Returns:
        The decoded crops, same shapes, uint8 BGR.

    Raises:
        CropCodecError: If OpenCV cannot write or read back the MJPG video.
    """
    side = crops_bgr[0].shape[1], crops_bgr[0].shape[0]
    with tempfile.TemporaryDirectory(prefix="deepfake-crops-") as folder:
        path = str(Path(folder) / "crops.avi")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), MJPG_FPS, side)
        if not writer.isOpened():
            raise CropCodecError("OpenCV cannot write MJPG video here; use the 'app' profile")
        for face in crops_bgr:
            writer.write(np.ascontiguousarray(face))
        writer.release()
        capture = cv2.VideoCapture(path)
        decoded = []
        while len(decoded) < len(crops_bgr):
            ok, image = capture.read()
            if not ok:
                break
            decoded.append(image)
        capture.release()
    if len(decoded) != len(crops_bgr):
        raise CropCodecError(f"OpenCV read back {len(decoded)} of {len(crops_bgr)} MJPG crops")
    return decoded
