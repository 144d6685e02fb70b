"""The stretch of a video to sample from: the user's start/end window, cut to the duration limit."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inference.errors import DeepfakeDetectorError, VideoError
from inference.video.probe import VideoInfo


@dataclass(frozen=True)
class Window:
    """The frames to sample from: ``[first, stop)`` and whether the duration limit cut it."""

    first: int
    stop: int
    truncated: bool


class InvalidWindowError(DeepfakeDetectorError):
    """The requested start/end window is not a span of time: negative, not finite, or reversed."""


def check_window(start_s: float | None, end_s: float | None) -> None:
    """Check a start/end window on its own, before any file is opened.

    Raises:
        InvalidWindowError: If a bound is negative, NaN or infinite, or the end is not after
            the start.
    """
    for name, value in (("start", start_s), ("end", end_s)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise InvalidWindowError(
                f"the window's {name} must be a finite number of seconds, 0 or more; got {value}"
            )
    if end_s is not None and end_s <= (start_s or 0.0):
        raise InvalidWindowError(
            f"the window's end ({end_s} s) must come after its start ({start_s or 0.0} s)"
        )


def analysis_window(
    info: VideoInfo, start_s: float | None, end_s: float | None, max_duration_s: float
) -> Window:
    """Frame range to sample: the user's start/end window, cut to ``max_duration_s`` seconds.

    Raises:
        InvalidWindowError: If a bound is negative or not finite, or the end is not after the
            start (see :func:`check_window`).
        VideoError: If the window holds no frame of the file or needs a frame rate the file
            does not give.
    """
    check_window(start_s, end_s)
    fps = info.fps
    if fps is None and (start_s is not None or end_s is not None):
        raise VideoError("this file gives no frame rate, so a start/end time cannot be applied")
    first = round(start_s * fps) if fps and start_s else 0
    stop = min(round(end_s * fps), info.frame_count) if fps and end_s is not None else info.frame_count
    limit = first + round(max_duration_s * fps) if fps else stop
    if first >= stop:
        raise VideoError(
            f"the start/end window ({start_s} s to {end_s} s) holds no frame of this "
            f"{info.duration_s or 0:.1f} s video"
        )
    return Window(first=first, stop=min(stop, limit), truncated=limit < stop)


def sample_indices(first: int, stop: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``[first, stop)``, first and last included."""
    if stop - first <= count:
        return list(range(first, stop))
    return sorted({int(i) for i in np.linspace(first, stop - 1, count).round()})


def second_pass_picks(first: int, end: int, taken: list[int], missing: int) -> list[int]:
    """``missing`` frames spread evenly among the real frames ``[first, end)`` not yet taken."""
    seen = set(taken)
    candidates = [i for i in range(first, end) if i not in seen]
    return [candidates[i] for i in sample_indices(0, len(candidates), missing)]
