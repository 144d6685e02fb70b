"""The live analyser: frames offered from any thread, the freshest one scored by two threads
(one finds and crops a frame's faces while the other scores the frame before); see
:mod:`inference.stream` for what it judges and how.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType

import cv2
import numpy as np

from inference.collect import Face, faces_in_frame
from inference.errors import DeepfakeDetectorError
from inference.faces.tracking import MIN_WHOLE_FRAME_EVERY, WHOLE_FRAME_SEARCHES, PeopleTracker
from inference.pipeline import Detector
from inference.result import AnalysisResult
from inference.settings import OFF
from inference.stream.frames import Arrival, Found, Work, check_frame
from inference.stream.report import stream_result
from inference.stream.state import LiveState, Looks, Tally
from inference.verdict import check_finite
from inference.video.read import Frame
from inference.weights.config import PER_FRAME

logger = logging.getLogger(__name__)

# The tracker searches the whole frame for newcomers every MIN_WHOLE_FRAME_EVERY (8) scored
# frames, about once a second at 8 frames/s: its most frequent cadence, the one a file analysis
# of up to this many frames uses too (a longer one spreads its 4 searches over the clip).
TRACKER_FRAMES = WHOLE_FRAME_SEARCHES * MIN_WHOLE_FRAME_EVERY
# Torch threads a stream scores its crops with. One crop at a time on 2 threads spends its time
# waiting in the threads' barriers as soon as anything else runs (the face finder, the reader,
# the app, a second stream): on this 2-core machine with other work running, a 112 px crop took
# 67 ms on one thread and 1.1 s on two, and a 640x480 stream at 25 frames/s (`app` profile) was
# scored at 5.4 frames/s on one thread, 0.4 on two. Streams side by side then run a core each.
THREADS = 1
# At most this long, a stream that ends before its first frame was scored waits for the frames
# it received (a find and a score: a second or two on a busy server).
FINISH_WAIT_S = 10.0


class LiveError(DeepfakeDetectorError):
    """The live analyser cannot go on: its scoring failed, or it was asked what it cannot do."""


class LiveAnalyser:
    """Judges one live stream frame by frame; see the module's documentation.

    Frames are (H, W, 3) uint8 **RGB** arrays (what Gradio and PyAV give), with their time in
    seconds on the stream's own clock; boxes are (top, right, bottom, left) in frame pixels.
    :meth:`offer` and :meth:`state` may be called from any thread while the scoring threads
    run. An error in a scoring thread is raised by the next :meth:`offer`, :meth:`state`
    or :meth:`finish`. Close it (or use it as a context manager) to stop its threads.

    Args:
        detector: The engine; its checkpoint scores, its settings decide the margin, the people
            judged (DEEPFAKE_MAX_PEOPLE), the face finder and the frame size allowed.
        name: The report's ``file_name``.
        window_s: Seconds of the rolling verdict; default DEEPFAKE_LIVE_WINDOW_S.
        profile: Preprocessing profile, "training" or "app"; default :meth:`Detector.profile`.
        second_opinion: "off" (default: it costs frame rate), a registered ICPR 2020 entry, or
            None for DEEPFAKE_SECOND_OPINION. When on, BlazeFace looks for each person at
            every LOOK_EVERY-th of their frames, and the EfficientNet judges those faces when
            the stream is finished: the report has its opinion, the rolling verdict does not.
        threaded: Start the scoring threads for :meth:`offer`; without them, frames are scored
            only by :meth:`score`.

    Raises:
        LiveError: If ``window_s`` is not a positive number of seconds.
        UnknownProfileError: If ``profile`` is not a profile.
        SettingsError: If ``second_opinion`` is not a registered second opinion or "off".
    """

    def __init__(
        self,
        detector: Detector,
        *,
        name: str = "live",
        window_s: float | None = None,
        profile: str | None = None,
        second_opinion: str | None = OFF,
        threaded: bool = True,
    ) -> None:
        settings = detector.settings
        self.window_s = settings.live_window_s if window_s is None else float(window_s)
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise LiveError(f"window_s must be a positive number of seconds; got {window_s!r}")
        self.detector = detector
        self.name = name
        self.profile = detector.profile(profile)
        self._second, self._detectors = detector.load_detectors(second_opinion)
        self._tracker = PeopleTracker(settings.face_model, settings.detect_max_side, TRACKER_FRAMES)
        self._refiner = self.profile.refiner()
        # The tracker and refiner belong to whoever finds a frame's faces, the recent crops and the
        # looks to whoever scores them: one frame at a time each.
        self._finding = threading.Lock()
        self._scoring = threading.Lock()
        self._recent: dict[int, deque[np.ndarray]] = {}
        self._looks: dict[int, Looks] = {}
        # Everything below is shared with the callers' threads, under _lock.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: Arrival | None = None
        self._found: Found | None = None
        self._closed = False
        self._sealed = False  # finishing: no more frames taken
        self._failure: Exception | None = None
        self._tally = Tally()
        self._result: AnalysisResult | None = None
        # Two stages, each on its thread: finding the faces of a frame while the faces of the one
        # before are scored (dlib and torch each keep a core busy).
        self._threads = (
            [
                threading.Thread(target=self._run, args=(self._take, self._find_and_hand_over), daemon=True),
                threading.Thread(target=self._run, args=(self._take_found, self._score), daemon=True),
            ]
            if threaded
            else []
        )
        for thread in self._threads:
            thread.start()

    def offer(self, frame_rgb: np.ndarray, timestamp_s: float) -> None:
        """Hand over a frame to be scored as soon as the scoring threads are free; returns at once.

        Only the freshest frame waits: it replaces one still waiting (counted as dropped). A
        frame older than one already received is dropped too. After :meth:`finish` or
        :meth:`close`, frames are ignored. The analyser keeps the array: do not write into it.

        Args:
            frame_rgb: The frame, (H, W, 3) uint8 RGB.
            timestamp_s: Its time on the stream's clock, seconds.

        Raises:
            VideoError: If the frame is not such an array or the timestamp is not finite.
            LimitExceededError: If the frame has more pixels than DEEPFAKE_MAX_PIXELS.
            LiveError: If it was made with ``threaded=False``, or its scoring failed.
            DeepfakeDetectorError: The engine's own error that stopped a scoring thread.
        """
        if not self._threads:
            raise LiveError("this live analyser has no scoring threads (threaded=False): use score()")
        check_frame(frame_rgb, timestamp_s, self.detector.settings.max_pixels)
        with self._wake:
            arrival = self._receive(frame_rgb, timestamp_s)
            if arrival is None:
                return
            if self._pending is not None:
                self._tally.dropped += 1
            self._pending = arrival
            self._wake.notify_all()

    def score(self, frame_rgb: np.ndarray, timestamp_s: float) -> LiveState:
        """Score this frame now, in the caller's thread, and return the state after it.

        For replaying every frame of a file, and for tests. Ignored after :meth:`finish`. The
        arguments are those of :meth:`offer`.

        Raises:
            VideoError, LimitExceededError: As :meth:`offer` does.
            NonFiniteScoreError: If the model gives NaN or infinite scores (broken weights).
            LiveError: If a scoring thread failed before.
        """
        check_frame(frame_rgb, timestamp_s, self.detector.settings.max_pixels)
        with self._lock:
            arrival = self._receive(frame_rgb, timestamp_s)
        if arrival is not None:
            self._score(self._find(arrival))
        return self.state()

    def state(self) -> LiveState:
        """The stream's counts and each person's rolling verdict, as of the latest scored frame.

        Raises:
            LiveError: If a scoring thread failed (the engine's own errors are raised as they are).
        """
        with self._lock:
            self._raise_failure()
            return self._tally.state(self.window_s, self.detector.settings.uncertain_margin)

    def finish(self) -> AnalysisResult:
        """Stop, wait for the frame being scored, and report the whole stream like a file.

        The frame still waiting is dropped, unless no frame was scored yet: then the frames
        received are scored first (for at most FINISH_WAIT_S: a busy server may not have
        scored one when the stream ends). The result is built by the code of
        :meth:`Detector.analyze`: every person's verdict over all their frames, the video's
        verdict, the notes (the frames received, scored and dropped first). Its ``source``
        holds the live figures: frames received, scored and dropped, scored frames per second,
        the latency (median, 95th percentile, max) and the window. Calling it again returns
        the same result.

        Raises:
            VideoError: If no frame was scored.
            LiveError: If a scoring thread failed.
            NonFiniteScoreError: If the model gave NaN or infinite scores.
        """
        with self._wake:
            self._sealed = True
            tally = self._tally
            self._wake.wait_for(
                lambda: tally.scored or not tally.in_hand or self._failure or self._closed,
                timeout=FINISH_WAIT_S,
            )
        self._stop()
        with self._scoring:
            with self._lock:
                self._raise_failure()
            if self._result is None:
                self._result = stream_result(
                    self.detector,
                    self.name,
                    self.profile,
                    self._tally,
                    self._looks,
                    self._second,
                    self._detectors,
                    self.window_s,
                )
            return self._result

    def close(self) -> None:
        """Stop the scoring threads; the frames still waiting are dropped. Safe to call again."""
        self._stop()

    def __enter__(self) -> LiveAnalyser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _receive(self, frame_rgb: np.ndarray, timestamp_s: float) -> Arrival | None:
        """Count a frame in (under ``_lock``); the arrival to score, or None when it is not scored.

        Raises:
            LiveError: If a scoring thread failed.
        """
        self._raise_failure()
        if self._closed or self._sealed:
            return None
        now = time.perf_counter()
        index = self._tally.received
        self._tally.received += 1
        self._tally.shape = (frame_rgb.shape[0], frame_rgb.shape[1])
        if self._tally.first_s is None:
            self._tally.first_s, self._tally.started = timestamp_s, now
        if self._tally.latest_s is not None and timestamp_s < self._tally.latest_s:
            logger.debug(
                "%s: frame at %.3f s came after one at %.3f s: dropped",
                self.name,
                timestamp_s,
                self._tally.latest_s,
            )
            self._tally.dropped += 1
            return None
        self._tally.latest_s = timestamp_s
        return Arrival(index, float(timestamp_s), frame_rgb, now)

    def _run(self, take: Callable[[], Work | None], work: Callable[[Work], None]) -> None:
        """A stage's thread: ``work`` on what ``take`` gives, until it gives None (closed)."""
        try:
            while (item := take()) is not None:
                work(item)
        except Exception as exc:  # raised again in the callers' thread (offer, state, finish)
            with self._wake:
                self._failure = self._failure or exc
                self._wake.notify_all()

    def _take(self) -> Arrival | None:
        """The finder's next frame: the freshest, once the scorer has taken the last one found;
        None once closed."""
        with self._wake:
            while not self._closed and (self._pending is None or self._found is not None):
                self._wake.wait()
            if self._closed:
                return None  # what was waiting was counted as dropped by _stop
            arrival, self._pending = self._pending, None
            return arrival

    def _take_found(self) -> Found | None:
        """The scorer's next frame, faces found; None once closed."""
        with self._wake:
            while not self._closed and self._found is None:
                self._wake.wait()
            if self._closed:
                return None
            found, self._found = self._found, None
            self._wake.notify_all()  # the finder may take the next frame
            return found

    def _stop(self) -> None:
        """Close to new frames, drop those waiting and wait for the stages' threads to end."""
        with self._wake:
            self._closed = True
            self._tally.dropped += (self._pending is not None) + (self._found is not None)
            self._pending = self._found = None
            self._wake.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()

    def _find(self, arrival: Arrival) -> Found:
        """Follow and crop the faces of one frame (crops finished by the profile)."""
        with self._finding:
            started = time.perf_counter()
            frame = Frame(
                arrival.index, arrival.timestamp_s, cv2.cvtColor(arrival.image_rgb, cv2.COLOR_RGB2BGR)
            )
            size = self.detector.classifier.config.image_size
            faces, unrefined = faces_in_frame(frame, self._tracker, self._refiner, self.profile, size)
            crops = self.profile.finish([face.crop_bgr for face in faces])
            faces = [replace(face, crop_bgr=crop) for face, crop in zip(faces, crops, strict=True)]
            return Found(arrival, frame, faces, unrefined, time.perf_counter() - started)

    def _find_and_hand_over(self, arrival: Arrival) -> None:
        found = self._find(arrival)
        with self._wake:
            if self._closed:
                self._tally.dropped += 1
                return
            self._found = found
            self._wake.notify_all()

    def _score(self, found: Found) -> None:
        """Score the faces of one frame and record them.

        Raises:
            NonFiniteScoreError: If the model gives NaN or infinite scores.
        """
        with self._scoring:
            with self._lock:
                # Received before finish() or close() but scored after: too late.
                late = self._closed
                self._tally.dropped += late
            if late:
                return
            started = time.perf_counter()
            scores = self._probabilities(found.faces)
            check_finite(scores)
            scored = time.perf_counter()
            self._watch(found.frame, found.faces)
            done = time.perf_counter()
            with self._wake:
                self._wake.notify_all()  # a finish() may wait for the first frame
                self._tally.record(found.arrival.timestamp_s, found.faces, found.unrefined, scores)
                self._tally.spent["faces"] += found.seconds
                self._tally.spent["model"] += scored - started
                self._tally.spent["second"] += done - scored
                self._tally.latencies.append(done - found.arrival.arrived)
                self._tally.last_done = done

    def _probabilities(self, faces: list[Face]) -> list[float]:
        """Each face's fake probability: alone (per-frame checkpoints), or for ``temporal`` ones
        the window of the person's last ``config.frames`` faces ending at it."""
        classifier = self.detector.classifier
        if classifier.config.kind == PER_FRAME:
            crops = [face.crop_bgr for face in faces]
            return [float(p) for p in classifier.fake_probabilities(crops, threads=THREADS)]
        scores = []
        for face in faces:
            recent = self._recent.setdefault(face.person, deque(maxlen=classifier.config.frames))
            recent.append(face.crop_bgr)
            scores.append(float(classifier.window_probabilities(list(recent), threads=THREADS)[-1]))
        return scores

    def _watch(self, frame: Frame, faces: list[Face]) -> None:
        """With a second opinion: BlazeFace looks for the people due (see :class:`Looks`)."""
        if self._second is None or not faces:
            return
        due = {face.person for face in faces if self._looks.setdefault(face.person, Looks()).due()}
        if not due:
            return
        located = [(face.person, face.box) for face in faces]
        found = {s.person: s for s in self._second.watch(frame.image, frame.index, located, due)}
        for person in due:
            self._looks[person].add(frame.index, found.get(person))

    def _raise_failure(self) -> None:
        """Raise the scoring threads' first error, if they had one (under ``_lock``)."""
        failure = self._failure
        if failure is None:
            return
        if isinstance(failure, DeepfakeDetectorError):
            raise failure
        raise LiveError(
            f"scoring the live stream {self.name!r} failed ({type(failure).__name__}: {failure}); "
            "start a new stream, and report this if it happens again"
        ) from failure
