"""Decoding with PyAV: the fallback for streams the FFmpeg inside OpenCV's wheel cannot decode.

OpenCV's wheel carries an FFmpeg without an AV1 decoder (and without some others); PyAV's wheel
carries libdav1d and the rest of FFmpeg's decoders. :mod:`inference.video.probe` tries OpenCV first
(faster seeking, the well-trodden path) and comes here when it cannot open or decode a stream.
Implements :class:`inference.video.backend.Backend`; the frame list and the reading from
keyframes that long clips need are in :mod:`inference.video.keyframes`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from pathlib import Path

import av
import numpy as np

from inference.video.backend import StreamInfo, check_pixels
from inference.video.frame_guard import FrameGuard

logger = logging.getLogger(__name__)


class UndecodableError(Exception):
    """PyAV cannot open or decode the file either.

    Attributes:
        codec: The stream's codec as FFmpeg names it, or None when no decoder knows it.
    """

    def __init__(self, message: str, codec: str | None = None) -> None:
        super().__init__(message)
        self.codec = codec


def _open(path: str | Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV.

    Raises:
        UndecodableError: If FFmpeg cannot read it as a media file.
    """
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise UndecodableError(
            f"{Path(path).name} is not a video that can be decoded (unknown or broken format)"
        ) from exc


def probe_stream(path: str | Path, max_pixels: int | None = None) -> StreamInfo:
    """Read size, frame rate and frame count, and check that a first frame decodes.

    Raises:
        UndecodableError: If the file has no video stream or its codec cannot be decoded.
        LimitExceededError: If a frame has more than ``max_pixels`` pixels.
    """
    name = Path(path).name
    container = _open(path)
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
        if quarter_turns(first) % 2:
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate and 0 < float(rate) <= 1000 else None
        declared = stream.frames
    check_pixels(width, height, max_pixels)
    count = declared or count_frames(path)
    return StreamInfo(width=width, height=height, fps=fps, frame_count=count, codec=codec)


def count_frames(path: str | Path) -> int:
    """Count the video packets by demuxing the file (no decoding).

    Raises:
        UndecodableError: If the file cannot be opened or has no video stream.
    """
    count = 0
    with open_video(path) as container:
        try:
            for packet in container.demux(container.streams.video[0]):
                count += bool(packet.size)
        except av.FFmpegError as exc:
            # As when decoding: a broken packet ends the usable part of the stream.
            logger.info("%s: demuxing stopped at packet %d: %s", Path(path).name, count, exc)
    return count


def open_video(path: str | Path) -> av.container.InputContainer:
    """Open ``path`` for reading, checking that it has a video stream.

    Raises:
        UndecodableError: If the file cannot be opened or has no video stream.
    """
    name = Path(path).name
    container = _open(path)
    if not container.streams.video:
        container.close()
        raise UndecodableError(f"{name} has no video stream (audio only or not a video)")
    return container


def read_frames(
    path: str | Path,
    targets: list[int],
    on_decoded: Callable[[int], None] | None = None,
    guard: FrameGuard | None = None,
) -> Generator[tuple[int, float, np.ndarray], None, int | None]:
    """Decode the whole stream in order and yield the frames at ``targets`` (sorted).

    Every frame up to the last target is decoded, but only the targets are converted to
    pixels. ``on_decoded`` is called with 1 for every frame the decoder returns; ``guard``
    checks the size of each.

    Raises:
        FrameSizeError: If ``guard`` finds a frame of another size than planned.

    Yields:
        (index, timestamp in seconds, image (H, W, 3) uint8 BGR, rotation applied).

    Returns:
        The real frame count if the stream ended (or broke) before the last target, else None.
    """
    wanted = iter(targets)
    target = next(wanted, None)
    if target is None:
        return None
    position = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        if guard is not None:
            guard.configure(stream.codec_context)
        try:
            for frame in container.decode(stream):
                if on_decoded is not None:
                    on_decoded(1)
                if guard is not None:
                    guard.check(frame.width, frame.height, position)
                if position == target:
                    image = np.rot90(frame.to_ndarray(format="bgr24"), quarter_turns(frame))
                    time = frame.time if frame.time is not None else position / rate if rate else 0.0
                    yield position, time, np.ascontiguousarray(image)
                    target = next(wanted, None)
                    if target is None:
                        # Stop here: pulling one more frame from the decoder would decode it.
                        return None
                position += 1
        except av.FFmpegError as exc:
            if guard is not None:
                guard.check_context(stream.codec_context, position, exc)
            # A broken packet ends the usable part of the stream, as with OpenCV.
            logger.info("%s: decoding stopped at frame %d: %s", Path(path).name, position, exc)
            return position
    return position


def quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that bring the frame upright (display matrix)."""
    return round((frame.rotation or 0) / 90) % 4
