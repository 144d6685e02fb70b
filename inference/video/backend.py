"""What every decoding backend offers (:mod:`inference.video.opencv`, :mod:`inference.video.pyav`).

Probing, planning and reading call a backend through this interface only; the modules
themselves are the implementations.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from inference.errors import LimitExceededError
from inference.video.frame_guard import FrameGuard

# VideoInfo.decoder values: the backend that decodes a file.
OPENCV = "opencv"
PYAV = "pyav"


def check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse frames of more than ``max_pixels`` pixels (None: no limit).

    Raises:
        LimitExceededError: If ``width`` x ``height`` is over the limit.
    """
    if max_pixels is not None and width * height > max_pixels:
        raise LimitExceededError(
            f"frames of {width}x{height} ({width * height} pixels) exceed the limit of "
            f"{max_pixels} pixels per frame (DEEPFAKE_MAX_PIXELS)"
        )


@dataclass(frozen=True)
class StreamInfo:
    """What a backend reads from the first video stream (size after rotation metadata).

    Attributes:
        frame_count: Frames the container declares; 0 when it does not say.
    """

    width: int
    height: int
    fps: float | None
    frame_count: int
    codec: str | None


class Backend(Protocol):
    """One decoding library: probe a stream, and decode the frames at given indices in order."""

    def probe_stream(self, path: str | Path, max_pixels: int | None) -> StreamInfo | None:
        """Read the first video stream and check that a first frame decodes.

        Returns:
            The stream's info, or None when this backend cannot open or decode it.

        Raises:
            LimitExceededError: If a frame has more than ``max_pixels`` pixels.
        """
        ...

    def read_frames(
        self,
        path: str | Path,
        targets: list[int],
        on_decoded: Callable[[int], None] | None = None,
        guard: FrameGuard | None = None,
    ) -> Generator[tuple[int, float, np.ndarray], None, int | None]:
        """Decode in order and yield the frames at ``targets`` (sorted).

        Yields:
            (index, timestamp in seconds, image (H, W, 3) uint8 BGR, rotation applied).

        Returns:
            The real frame count if the stream ended before the last target, else None.
        """
        ...
