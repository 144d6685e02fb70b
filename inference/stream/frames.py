"""A frame's way through the live analyser: checked, received, then its faces found and cropped."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from inference.collect import Face
from inference.errors import LimitExceededError, VideoError
from inference.video.read import Frame


@dataclass(frozen=True)
class Arrival:
    """A frame received and not yet scored; ``arrived`` is its ``time.perf_counter()``."""

    index: int
    timestamp_s: float
    image_rgb: np.ndarray
    arrived: float


@dataclass(frozen=True)
class Found:
    """A frame whose faces are found and cropped, waiting to be scored.

    Attributes:
        arrival: The frame as received.
        frame: The frame as the engine's stages take it, image (H, W, 3) uint8 BGR.
        faces: Its faces, crops finished by the profile.
        unrefined: How many boxes the profile's detector did not confirm.
        seconds: Time spent finding and cropping them.
    """

    arrival: Arrival
    frame: Frame
    faces: list[Face]
    unrefined: int
    seconds: float


Work = TypeVar("Work", Arrival, Found)


def check_frame(frame_rgb: np.ndarray, timestamp_s: float, max_pixels: int) -> None:
    """Refuse what is not an (H, W, 3) uint8 frame within DEEPFAKE_MAX_PIXELS at a finite time.

    Raises:
        VideoError: For another array or a timestamp that is not finite.
        LimitExceededError: For a frame with more pixels than ``max_pixels``.
    """
    shape = getattr(frame_rgb, "shape", None)
    if (
        not isinstance(frame_rgb, np.ndarray)
        or frame_rgb.ndim != 3
        or shape[2] != 3
        or frame_rgb.dtype != np.uint8
    ):
        raise VideoError(
            f"a live frame must be an (H, W, 3) uint8 RGB array; got {type(frame_rgb).__name__} "
            f"of shape {shape} and dtype {getattr(frame_rgb, 'dtype', None)}"
        )
    if shape[0] * shape[1] > max_pixels:
        raise LimitExceededError(
            f"live frames of {shape[1]}x{shape[0]} ({shape[0] * shape[1]} pixels) exceed the limit of "
            f"{max_pixels} pixels per frame (DEEPFAKE_MAX_PIXELS)"
        )
    if not math.isfinite(timestamp_s):
        raise VideoError(f"a live frame's timestamp must be a finite number of seconds; got {timestamp_s!r}")
