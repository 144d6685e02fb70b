"""Preprocessing profiles: how a face box and crop are made for a checkpoint.

- ``training``: boxes like dlib's CNN detector on the whole full-resolution BGR frame,
  upsampled once (the checkpoints' training preprocessing); crops resized to 112 px with
  OpenCV ``INTER_LINEAR``, then written to an MJPG video at 30 fps and read back with OpenCV,
  as training read its crops.
- ``app``: boxes like dlib's HOG detector on the whole full-resolution BGR frame, upsampled
  once (the original app); crops resized with PIL bilinear (torchvision's ``Resize``).

Both feed the network the same way afterwards (BGR tensors, ImageNet mean/std; see
:mod:`inference.models.preprocess`). The checkpoint's ``config.json`` names its profile
(``preprocessing``); DEEPFAKE_PROFILE, the CLI's ``--profile`` and the app override it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inference.errors import DeepfakeDetectorError
from inference.faces.crops import mjpg_round_trip, resize_crop
from inference.faces.detect import Box, crop
from inference.faces.refine import BoxRefiner


class UnknownProfileError(DeepfakeDetectorError):
    """A preprocessing profile name that does not exist."""


@dataclass(frozen=True)
class Profile:
    """One way of making face crops.

    Attributes:
        name: "training" or "app".
        detector: Whose boxes the crops follow: dlib's "cnn" or "hog" detector.
        opencv_resize: Resize crops with OpenCV INTER_LINEAR (else PIL bilinear).
        mjpg: Pass the crops through an MJPG video written and read by OpenCV.
        summary: One line for people choosing a profile.
    """

    name: str
    detector: str
    opencv_resize: bool
    mjpg: bool
    summary: str

    def refiner(self) -> BoxRefiner:
        """A new refiner for one video: turns the finder's boxes into this profile's boxes."""
        return BoxRefiner(self.detector)

    def crop(self, frame_bgr: np.ndarray, box: Box, size: int) -> np.ndarray:
        """Tight crop of ``box`` resized to (size, size, 3), uint8 BGR (before :meth:`finish`)."""
        face = crop(frame_bgr, box)
        if self.opencv_resize:
            return cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
        return resize_crop(face, size)

    def finish(self, crops_bgr: list[np.ndarray]) -> list[np.ndarray]:
        """What training read back: the crops after the MJPG round trip, when the profile has one."""
        return mjpg_round_trip(crops_bgr) if self.mjpg and crops_bgr else crops_bgr


PROFILES = {
    "training": Profile(
        "training",
        detector="cnn",
        opencv_resize=True,
        mjpg=True,
        summary="crops made like the checkpoints' training data (CNN boxes, MJPG)",
    ),
    "app": Profile(
        "app",
        detector="hog",
        opencv_resize=False,
        mjpg=False,
        summary="crops made like the original app (HOG boxes, PIL resize); faster",
    ),
}
DEFAULT = "training"


def get(name: str) -> Profile:
    """The profile called ``name``.

    Raises:
        UnknownProfileError: If there is none.
    """
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(
            f"unknown preprocessing profile {name!r}; choose one of {', '.join(PROFILES)}"
        ) from None
