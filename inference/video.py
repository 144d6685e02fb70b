"""Video probing and frame sampling, one frame in memory at a time.

OpenCV decodes what its FFmpeg can; a stream it cannot open or decode (AV1, for one) goes to
PyAV (:mod:`inference.video_pyav`), with the same sampling and timestamps.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue

import cv2
import numpy as np

from inference import video_pyav
from inference.errors import LimitExceededError, VideoError

logger = logging.getLogger(__name__)

# Beyond this many frames between two targets, seeking beats decoding every frame.
SEEK_GAP = 600
OPENCV = "opencv"
PYAV = "pyav"


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (sizes are after rotation metadata is applied).

    Attributes:
        decoder: Which library decodes it: "opencv", or "pyav" for streams OpenCV cannot.
        codec: The codec as FFmpeg names it, when known.
    """

    width: int
    height: int
    fps: float | None
    frame_count: int
    duration_s: float | None
    decoder: str = OPENCV
    codec: str | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        """Return the info as plain JSON types."""
        return {
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "frame_count": self.frame_count,
            "duration_s": self.duration_s,
            "decoder": self.decoder,
            "codec": self.codec,
        }


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: Frame number from the start of the file (0-based).
        timestamp_s: Presentation time in seconds (from the container when it gives one).
        image: Pixels, shape (H, W, 3), uint8, BGR.
    """

    index: int
    timestamp_s: float
    image: np.ndarray


@dataclass(frozen=True)
class Window:
    """The frames to sample from: ``[first, stop)`` and whether the duration limit cut it."""

    first: int
    stop: int
    truncated: bool


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


def probe(path: str | Path, max_pixels: int | None = None) -> VideoInfo:
    """Read the size, frame rate and frame count of a video, and pick its decoder.

    OpenCV is tried first; when it cannot open the file or decode its first frame, PyAV is.
    A missing or zero frame count is replaced by counting the frames.

    Raises:
        VideoError: If neither decoder can decode the file; names the codec when known.
        LimitExceededError: If a frame has more than ``max_pixels`` pixels.
    """
    capture = _try_capture(path)
    if capture is None:
        return _probe_pyav(path, max_pixels)
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = _valid_fps(capture.get(cv2.CAP_PROP_FPS))
        reported = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        _check_pixels(width, height, max_pixels)
        decodes = width > 0 and height > 0 and capture.grab()
    finally:
        capture.release()
    if not decodes:
        return _probe_pyav(path, max_pixels)
    count = int(reported) if math.isfinite(reported) and reported > 0 else count_frames(path)
    if count == 0:
        raise VideoError(f"{Path(path).name} has no decodable video frames")
    duration = count / fps if fps else None
    return VideoInfo(width=width, height=height, fps=fps, frame_count=count, duration_s=duration)


def _probe_pyav(path: str | Path, max_pixels: int | None) -> VideoInfo:
    try:
        stream = video_pyav.probe_stream(path)
    except video_pyav.UndecodableError as exc:
        codec = exc.codec or _ffprobe_codec(path)
        hint = (
            f" Its video codec ({codec}) cannot be decoded here; re-encode it as H.264, for "
            "example: ffmpeg -i IN -c:v libx264 OUT.mp4"
            if codec
            else ""
        )
        raise VideoError(f"{exc}.{hint}") from exc
    _check_pixels(stream.width, stream.height, max_pixels)
    logger.info("%s: %s stream decoded with PyAV", Path(path).name, stream.codec)
    duration = stream.frame_count / stream.fps if stream.fps else None
    return VideoInfo(
        width=stream.width,
        height=stream.height,
        fps=stream.fps,
        frame_count=stream.frame_count,
        duration_s=duration,
        decoder=PYAV,
        codec=stream.codec,
    )


def _check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise LimitExceededError(
            f"frames of {width}x{height} ({width * height} pixels) exceed the limit of "
            f"{max_pixels} pixels per frame (DEEPFAKE_MAX_PIXELS)"
        )


def _ffprobe_codec(path: str | Path) -> str | None:
    """The codec tag of a stream that no decoder here knows (only ffprobe reports it), or None."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    command = [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_tag_string"]
    try:
        done = subprocess.run(
            [*command, "-of", "default=nw=1:nk=1", str(path)], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    tag = done.stdout.strip()
    return f"FourCC {tag}" if done.returncode == 0 and tag and tag.isprintable() else None


def count_frames(path: str | Path) -> int:
    """Count the frames by demuxing the whole file (used when the container does not say)."""
    capture = open_capture(path)
    count = 0
    try:
        while capture.grab():
            count += 1
    finally:
        capture.release()
    return count


def analysis_window(
    info: VideoInfo, start_s: float | None, end_s: float | None, max_duration_s: float
) -> Window:
    """Frame range to sample: the user's start/end window, cut to ``max_duration_s`` seconds.

    Raises:
        VideoError: If the window is empty or needs a frame rate the file does not give.
    """
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


def sample_frames(path: str | Path, window: Window, count: int, decoder: str = OPENCV) -> Iterator[Frame]:
    """Decode ``count`` frames spread evenly over ``window``, one at a time.

    ``decoder`` is :attr:`VideoInfo.decoder` from :func:`probe`.

    When the container claims more frames than it holds (common with variable frame rate),
    the first pass ends early; a second pass then picks the missing number of frames evenly
    among the real frames not yet taken.

    Yields:
        Frames, each (H, W, 3) uint8 BGR; in increasing index order within each pass.
    """
    read = _read_pyav if decoder == PYAV else _read
    targets = sample_indices(window.first, window.stop, count)
    seen: list[int] = []
    end = yield from read(path, targets, seen)
    missing = len(targets) - len(seen)
    if end is not None and missing:
        logger.info("container claimed %d frames but ended at %d", window.stop, end)
        taken = set(seen)
        candidates = [i for i in range(window.first, end) if i not in taken]
        picks = [candidates[i] for i in sample_indices(0, len(candidates), missing)]
        yield from read(path, picks, seen)


def _read(path: str | Path, targets: list[int], seen: list[int]) -> Generator[Frame, None, int | None]:
    """Yield the frames at ``targets`` (sorted), noting their indices in ``seen``.

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
                position += 1
            ok, image = capture.read()
            if not ok or image is None:
                return position
            position += 1
            seen.append(target)
            yield Frame(index=target, timestamp_s=_timestamp(capture, target), image=image)
    finally:
        capture.release()
    return None


def _read_pyav(path: str | Path, targets: list[int], seen: list[int]) -> Generator[Frame, None, int | None]:
    """Like :func:`_read`, with PyAV."""
    reader = video_pyav.read_frames(path, targets)
    try:
        while True:
            try:
                index, timestamp, image = next(reader)
            except StopIteration as stop:
                return stop.value
            seen.append(index)
            yield Frame(index=index, timestamp_s=timestamp, image=image)
    finally:
        reader.close()


class DecodeAhead:
    """Runs a frame iterator in a background thread, a few frames ahead of the caller.

    OpenCV releases the GIL while it decodes, so decoding overlaps with the caller's work
    (face detection) on another core. Errors raised while decoding are re-raised in the
    caller; the thread stops when the caller stops iterating.

    Attributes:
        busy_s: Seconds the background thread spent decoding.
    """

    _END = object()

    def __init__(self, frames: Generator[Frame, None, None], depth: int = 3) -> None:
        self._frames = frames
        self._queue: Queue[object] = Queue(maxsize=depth)
        self._stop = threading.Event()
        self.busy_s = 0.0

    def __iter__(self) -> Iterator[Frame]:
        thread = threading.Thread(target=self._produce, name="decode-ahead", daemon=True)
        thread.start()
        try:
            # The producer always ends by queueing the end marker or its exception.
            while (item := self._queue.get()) is not self._END:
                if isinstance(item, Exception):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            self._stop.set()
            thread.join()

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                frame = next(self._frames, self._END)
                self.busy_s += time.perf_counter() - started
                self._put(frame)
                if frame is self._END:
                    return
        except Exception as exc:  # handed to the caller's thread and raised there
            self._put(exc)
        finally:
            self._frames.close()

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except Full:
                continue


def _timestamp(capture: cv2.VideoCapture, index: int) -> float:
    msec = capture.get(cv2.CAP_PROP_POS_MSEC)
    if math.isfinite(msec) and msec >= 0 and (msec > 0 or index == 0):
        return msec / 1000.0
    fps = _valid_fps(capture.get(cv2.CAP_PROP_FPS))
    return index / fps if fps else 0.0


def _valid_fps(value: float) -> float | None:
    return value if math.isfinite(value) and 0 < value <= 1000 else None
