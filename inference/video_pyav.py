"""Decoding with PyAV: the fallback for streams the FFmpeg inside OpenCV's wheel cannot decode.

OpenCV's wheel carries an FFmpeg without an AV1 decoder (and without some others); PyAV's wheel
carries libdav1d and the rest of FFmpeg's decoders. :mod:`inference.video` tries OpenCV first
(faster seeking, the well-trodden path) and comes here when it cannot open or decode a stream.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)


class UndecodableError(Exception):
    """PyAV cannot open or decode the file either.

    Attributes:
        codec: The stream's codec as FFmpeg names it, or None when no decoder knows it.
    """

    def __init__(self, message: str, codec: str | None = None) -> None:
        super().__init__(message)
        self.codec = codec


@dataclass(frozen=True)
class StreamInfo:
    """What PyAV reads from the first video stream (size after rotation metadata)."""

    width: int
    height: int
    fps: float | None
    frame_count: int
    codec: str | None


def probe_stream(path: str | Path) -> StreamInfo:
    """Read size, frame rate and frame count, and check that a first frame decodes.

    Raises:
        UndecodableError: If the file has no video stream or its codec cannot be decoded.
    """
    name = Path(path).name
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise UndecodableError(
            f"{name} is not a video that can be decoded (unknown or broken format)"
        ) from exc
    with container:
        if not container.streams.video:
            raise UndecodableError(f"{name} has no video stream (audio only or not a video)")
        stream = container.streams.video[0]
        # No codec context means FFmpeg has no decoder for this stream at all.
        codec = stream.codec_context.name if stream.codec_context is not None else None
        try:
            first = next(container.decode(stream)) if codec else None
        except (av.FFmpegError, StopIteration):
            first = None
        if first is None:
            raise UndecodableError(f"{name}: no frame of its video stream could be decoded", codec)
        width, height = first.width, first.height
        if _quarter_turns(first) % 2:
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate and 0 < float(rate) <= 1000 else None
        declared = stream.frames
    count = declared or count_frames(path)
    return StreamInfo(width=width, height=height, fps=fps, frame_count=count, codec=codec)


def count_frames(path: str | Path) -> int:
    """Count the video packets by demuxing the file (no decoding)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def read_frames(
    path: str | Path, targets: list[int]
) -> Generator[tuple[int, float, np.ndarray], None, int | None]:
    """Decode the whole stream in order and yield the frames at ``targets`` (sorted).

    Every frame is decoded (PyAV gives no frame-accurate seek by index), but only the targets
    are converted to pixels, which is most of the cost.

    Yields:
        (index, timestamp in seconds, image (H, W, 3) uint8 BGR, rotation applied).

    Returns:
        The real frame count if the stream ended (or broke) before the last target, else None.
    """
    wanted = iter(targets)
    target = next(wanted, None)
    position = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        try:
            for frame in container.decode(stream):
                if target is None:
                    return None
                if position == target:
                    image = np.rot90(frame.to_ndarray(format="bgr24"), _quarter_turns(frame))
                    time = frame.time if frame.time is not None else position / rate if rate else 0.0
                    yield position, time, np.ascontiguousarray(image)
                    target = next(wanted, None)
                position += 1
        except av.FFmpegError as exc:
            # A broken packet ends the usable part of the stream, as with OpenCV.
            logger.info("%s: decoding stopped at frame %d: %s", Path(path).name, position, exc)
            return position
    return position if target is not None else None


def _quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that bring the frame upright (display matrix)."""
    return round((frame.rotation or 0) / 90) % 4
