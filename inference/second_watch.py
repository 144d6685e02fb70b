"""The second opinion's looking for faces, on a thread of its own beside the first detector's.

Decoding (one thread) and dlib's face finding (the caller's) each keep one core busy at most, so
on two cores the second opinion's BlazeFace and crops (:meth:`SecondOpinion.watch`) run while
the next frames are decoded and tracked, instead of holding up each frame. The EfficientNet scores
each frame's faces there too (:meth:`SecondOpinion.scored`), in the time the first detector
leaves a core idle, instead of after it. Its work takes one thread there, so that the three of
them do not ask for more cores than there are.
"""

from __future__ import annotations

import threading
import time
from queue import Empty, Queue
from types import TracebackType

import numpy as np
import torch

from inference.faces.detect import Box
from inference.models.classifier import DEFAULT_THREADS
from inference.second_opinion import WATCH_THREADS, SecondOpinion, Sighting

# Frames waiting for the second opinion at most, and the bytes they may hold (a 1080p frame is
# 6 MB: 7 of them; an 8K one, 100 MB: one at a time); when full, the caller waits.
DEPTH = 8
QUEUE_BYTES = 48 * 2**20
_POLL_S = 0.1
_FULL_POLL_S = 0.01


# (submission number, image, frame index, located, due, people scored ahead); see WatchBeside.submit.
_Job = tuple[int, np.ndarray, int, list[tuple[int, Box]], set[int], set[int]]


class WatchBeside:
    """Runs :meth:`SecondOpinion.watch` on frames in a background thread, in the order given.

    Use as a context manager: leaving it (normally, or by an exception such as the caller's
    Stop) stops the thread after the frame it is on and joins it. :meth:`finish` gives the
    sightings in the order of :meth:`submit`, as if each frame had been watched when submitted;
    an error raised while watching is raised there (or by the next :meth:`submit`).

    Attributes:
        busy_s: Seconds spent watching, on the thread and in :meth:`finish`.
    """

    def __init__(self, second: SecondOpinion, depth: int = DEPTH) -> None:
        self._second = second
        self._queue: Queue[_Job] = Queue(depth)
        self._results: dict[int, list[Sighting]] = {}
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._depth = depth
        self._submitted = 0
        self._thread = threading.Thread(target=self._run, name="second-opinion-watch", daemon=True)
        self._busy = threading.Lock()  # both threads add to busy_s
        self.busy_s = 0.0

    def __enter__(self) -> WatchBeside:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def submit(
        self,
        image_bgr: np.ndarray,
        frame_index: int,
        located: list[tuple[int, Box]],
        due: set[int],
        ahead: set[int] | None = None,
    ) -> None:
        """Queue one frame for :meth:`SecondOpinion.watch` (same arguments); waits while the queue is full.

        Args:
            ahead: The people whose faces found here are scored at once (:meth:`SecondOpinion.scored`);
                default all of ``due``. The others are scored when judged.

        Raises:
            Whatever watching an earlier frame raised.
        """
        job = (self._submitted, image_bgr, frame_index, located, due, due if ahead is None else ahead)
        self._submitted += 1
        room = max(1, min(self._depth, QUEUE_BYTES // max(1, image_bgr.nbytes)))
        while True:
            self._raise_error()
            # Only this (the caller's) thread adds to the queue, so the size cannot grow meanwhile.
            if self._queue.qsize() < room:
                self._queue.put_nowait(job)
                return
            time.sleep(_FULL_POLL_S)

    def finish(self) -> list[Sighting]:
        """All the sightings, in the order the frames were submitted.

        The frames still queued are watched here, in the caller's thread, while the background
        thread finishes the one it is on.

        Raises:
            Whatever watching a frame raised.
        """
        while True:
            self._raise_error()
            try:
                job = self._queue.get_nowait()
            except Empty:
                break
            self._watch(job)
        self._stop.set()
        self._thread.join()
        self._raise_error()
        return [sighting for number in range(self._submitted) for sighting in self._results[number]]

    def _run(self) -> None:
        # torch keeps the count per thread and hands the last one set to threads started later:
        # what is put back is the process's count taken at import, not what this thread found
        # (which another watching thread may have left at 1).
        torch.set_num_threads(WATCH_THREADS)
        try:
            while not self._stop.is_set():
                try:
                    job = self._queue.get(timeout=_POLL_S)
                except Empty:
                    continue
                self._watch(job)
        except BaseException as exc:  # any of them, handed to the caller's thread and raised there
            self._error = exc
        finally:
            torch.set_num_threads(DEFAULT_THREADS)

    def _watch(self, job: _Job) -> None:
        number, image, frame_index, located, due, ahead = job
        started = time.perf_counter()
        sightings = self._second.watch(image, frame_index, located, due)
        scored = iter(self._second.scored([s for s in sightings if s.person in ahead], WATCH_THREADS))
        self._results[number] = [next(scored) if s.person in ahead else s for s in sightings]
        with self._busy:
            self.busy_s += time.perf_counter() - started

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
        if self._thread.ident is not None and not self._thread.is_alive() and not self._stop.is_set():
            raise WatchEndedError("the second opinion's watching thread ended before it was told to")


class WatchEndedError(RuntimeError):
    """The watching thread is gone without an error to hand on (it cannot be, short of a bug)."""
