"""Reading the sampled frames through the backend that probing picked, one frame in memory at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from queue import Full, Queue

import numpy as np

from inference.errors import VideoError
from inference.video import opencv as video_opencv
from inference.video import pyav as video_pyav
from inference.video.backend import OPENCV, PYAV, Backend
from inference.video.frame_guard import FrameGuard, scan_sizes
from inference.video.keyframes import REORDER_SLACK, TimestampOrderError, read_runs
from inference.video.plan import SEQUENTIAL, DecodePlan, plan_sampling
from inference.video.probe import probe
from inference.video.window import Window, sample_indices, second_pass_picks

logger = logging.getLogger(__name__)


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


def sample_frames(
    path: str | Path, window: Window, count: int, decoder: str = OPENCV, plan: DecodePlan | None = None
) -> Iterator[Frame]:
    """Decode ``count`` frames spread evenly over ``window``, one at a time.

    ``decoder`` is :attr:`~inference.video.probe.VideoInfo.decoder` from :func:`probe`; ``plan`` comes from
    :func:`plan_sampling` (made here with the default budget when not given) and counts the
    frames decoded as they are.

    When the container claims more frames than it holds (common with variable frame rate),
    the first pass ends early; a second pass then picks the missing number of frames evenly
    among the real frames not yet taken.

    Yields:
        Frames, each (H, W, 3) uint8 BGR; in increasing index order within each pass.

    Raises:
        DecodeBudgetError: If ``plan`` is not given and making one fails (see :func:`plan_sampling`).
        FrameSizeError: If a frame has another size than the first (the plan's).
    """
    if plan is None:
        plan = plan_sampling(path, replace(probe(path), decoder=decoder), window, count)
    guard = FrameGuard(Path(path).name, plan.width, plan.height)
    if plan.mode != SEQUENTIAL:
        yield from _read_runs(path, plan, guard)
        return
    targets = sample_indices(window.first, window.stop, count)
    backend: Backend = video_pyav if decoder == PYAV else video_opencv
    if backend is video_opencv:
        # OpenCV shows no frame's real size: the headers are checked first, up to where it reads.
        scan_sizes(path, guard, max(targets, default=0) + 1 + REORDER_SLACK)
    seen: list[int] = []
    end = yield from _read(backend, path, targets, seen, plan, guard)
    missing = len(targets) - len(seen)
    if end is not None and missing:
        logger.info("container claimed %d frames but ended at %d", window.stop, end)
        picks = second_pass_picks(window.first, end, seen, missing)
        yield from _read(backend, path, picks, seen, plan, guard)


def _read_runs(path: str | Path, plan: DecodePlan, guard: FrameGuard) -> Iterator[Frame]:
    """The frames of a "seek" or "keyframes" plan, decoded with PyAV.

    Raises:
        VideoError: If the container's timestamps turn out not to be in display order.
    """
    assert plan.index is not None  # plan_sampling always lists the frames for these modes
    reader = read_runs(path, plan.runs, plan.index, plan.count_decoded, guard)
    try:
        for index, timestamp, image in reader:
            yield Frame(index=index, timestamp_s=timestamp, image=image)
    except TimestampOrderError as exc:
        raise VideoError(
            f"{Path(path).name}: {exc}, so frames cannot be found by their timestamps in this long "
            "clip; re-encode it (ffmpeg -i IN -c:v libx264 OUT.mp4) or ask for a shorter start/end "
            "window"
        ) from exc
    finally:
        reader.close()


def _read(
    backend: Backend,
    path: str | Path,
    targets: list[int],
    seen: list[int],
    plan: DecodePlan,
    guard: FrameGuard,
) -> Generator[Frame, None, int | None]:
    """Yield the frames at ``targets`` (sorted) through ``backend``, noting their indices in ``seen``.

    Returns:
        The real frame count if the file ended before the last target, else None.
    """
    reader = backend.read_frames(path, targets, plan.count_decoded, guard)
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
