"""Decoding with OpenCV: the first choice (faster seeking, the well-trodden path).

Implements :class:`inference.video.backend.Backend`; what its FFmpeg cannot open or decode goes
to :mod:`inference.video.pyav`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from pathlib import Path

import cv2
import numpy as np

from inference.errors import VideoError
from inference.video.backend import StreamInfo, check_pixels
from inference.video.frame_guard import FrameGuard
from inference.video.identity import fourcc_codec

# Beyond this many frames between two targets, seeking beats decoding every frame.
SEEK_GAP = 600
# OpenCV seeks this many frames before its target, then decodes forward (cap_ffmpeg_impl.hpp).
SEEK_BACK = 16


def open_capture(path: str | Path) -> cv2.VideoCapture:
    """Open ``path`` with OpenCV, rotation metadata applied.

    Raises:
        VideoError: If the file is missing or OpenCV cannot decode it as a video.
    """
    capture = _try_capture(path)
    if capture is None:
        raise VideoError(f"{Path(path).name} is not a video that can be decoded (unknown or broken format)")
    return capture


def _try_capture(path: str | Path) -> cv2.VideoCapture | None:
    """An opened OpenCV capture of ``path``, or None when OpenCV cannot open it.

    Raises:
        VideoError: If the file is missing or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video file {path.name} does not exist")
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes)")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        return None
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def probe_stream(path: str | Path, max_pixels: int | None) -> StreamInfo | None:
    """Read size, frame rate, frame count and codec, and check that a first frame decodes.

    Returns:
        The stream's info (``frame_count`` 0 when the container does not say), or None when
        OpenCV cannot open the file or decode its first frame.

    Raises:
        VideoError: If the file is missing or empty.
        LimitExceededError: If a frame has more than ``max_pixels`` pixels.
    """
    capture = _try_capture(path)
    if capture is None:
        return None
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = _valid_fps(capture.get(cv2.CAP_PROP_FPS))
        reported = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        codec = fourcc_codec(capture.get(cv2.CAP_PROP_FOURCC))
        check_pixels(width, height, max_pixels)
        decodes = width > 0 and height > 0 and capture.grab()
    finally:
        capture.release()
    if not decodes:
        return None
    count = int(reported) if math.isfinite(reported) and reported > 0 else 0
    return StreamInfo(width=width, height=height, fps=fps, frame_count=count, codec=codec)


def read_frames(
    path: str | Path,
    targets: list[int],
    on_decoded: Callable[[int], None] | None = None,
    guard: FrameGuard | None = None,
) -> Generator[tuple[int, float, np.ndarray], None, int | None]:
    """Yield the frames at ``targets`` (sorted), seeking over gaps of more than ``SEEK_GAP``.

    ``on_decoded`` is called with 1 for every frame decoded. OpenCV does not say what size it
    decoded, so ``guard`` cannot check frames here: the caller scans the frame headers first
    (:func:`inference.video.frame_guard.scan_sizes`).

    Yields:
        (index, timestamp in seconds, image (H, W, 3) uint8 BGR, rotation applied).

    Returns:
        The real frame count if the file ended before the last target, else None.
    """
    capture = open_capture(path)
    position = 0
    try:
        for target in targets:
            if target - position > SEEK_GAP:
                capture.set(cv2.CAP_PROP_POS_FRAMES, target)
                position = target
            while position < target:
                if not capture.grab():
                    return position
                if on_decoded is not None:
                    on_decoded(1)
                position += 1
            ok, image = capture.read()
            if not ok or image is None:
                return position
            if on_decoded is not None:
                on_decoded(1)
            position += 1
            yield target, _timestamp(capture, target), image
    finally:
        capture.release()
    return None


def _timestamp(capture: cv2.VideoCapture, index: int) -> float:
    msec = capture.get(cv2.CAP_PROP_POS_MSEC)
    if math.isfinite(msec) and msec >= 0 and (msec > 0 or index == 0):
        return msec / 1000.0
    fps = _valid_fps(capture.get(cv2.CAP_PROP_FPS))
    return index / fps if fps else 0.0


def _valid_fps(value: float) -> float | None:
    return value if math.isfinite(value) and 0 < value <= 1000 else None
