"""Judging a live stream while it plays: an analyser fed frames one by one, with their timestamps.

The frames come from the app's camera, from ``python -m inference --live`` (a camera, a stream or
a file played back at its own frame rate), or from anything else that decodes video. They are
judged like the frames of a file: the engine's tracker follows the faces (one tracker step per
scored frame), the preprocessing profile crops them and the checkpoint scores them, by the same
code as :meth:`Detector.analyze`; for the public (per-frame) checkpoints each face is scored
from a zero LSTM state, so a frame's boxes and fake probabilities are those a file analysis of
the same frames gives.

Always the freshest frame: :meth:`LiveAnalyser.offer` keeps one frame waiting; one that arrives
before the waiting one was taken up replaces it, and the replaced one counts as dropped. So
when scoring is slower than the stream, frames are dropped, never queued, and the delay between
a frame's arrival and its score stays within about two frames' work. Two threads share that work:
one finds and crops the faces of a frame while the other scores the faces of the frame before.

While the stream plays, :meth:`LiveAnalyser.state` gives each person's rolling verdict over the
last ``window_s`` seconds (DEEPFAKE_LIVE_WINDOW_S), with the labels and the margin of a file's
verdict. :meth:`LiveAnalyser.finish` turns the whole stream into an :class:`AnalysisResult` of
the same shape as a file's.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TypeVar

import cv2
import numpy as np

from inference.errors import DeepfakeDetectorError, LimitExceededError, VideoError
from inference.faces.detect import Box
from inference.faces.tracking import MIN_WHOLE_FRAME_EVERY, WHOLE_FRAME_SEARCHES, PeopleTracker
from inference.pipeline import CollectedFaces, Detector, Face, faces_in_frame
from inference.result import AnalysisResult, check_finite, verdict_for
from inference.second_opinion import MAX_FRAMES, Sighting
from inference.settings import OFF
from inference.video.sampling import Frame, VideoInfo
from inference.weights.config import PER_FRAME

logger = logging.getLogger(__name__)

# VideoInfo.decoder of a live stream: its frames came to the engine decoded.
LIVE = "live"
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
# With a second opinion, BlazeFace looks for a person at every this-many-th of their scored
# frames (twice a second at 8 frames/s), as long as they have fewer than MAX_FRAMES looks; past
# that, every other look is forgotten and the step doubles, so the looks stay evenly spread.
LOOK_EVERY = 4


class LiveError(DeepfakeDetectorError):
    """The live analyser cannot go on: its scoring failed, or it was asked what it cannot do."""


@dataclass(frozen=True)
class LivePerson:
    """One person of a live stream as judged over the last seconds.

    Attributes:
        person: Number from 1, in the order people first appeared (the report keeps it).
        box: (top, right, bottom, left) in full-resolution pixels, in the latest scored frame
            that shows them.
        seen_s: That frame's timestamp, seconds.
        fake_probability: Mean of their per-frame fake probabilities over the window.
        verdict: FAKE, REAL or UNCERTAIN for that mean, with the file path's margin
            (DEEPFAKE_UNCERTAIN_MARGIN; :func:`inference.result.verdict_for`).
        message: Short text, e.g. "FAKE (0.81 over the last 3 s, 24 frames)".
        history: (timestamp_s, fake probability) of each of their scored frames in the window,
            oldest first (for a live plot).
    """

    person: int
    box: Box
    seen_s: float
    fake_probability: float
    verdict: str
    message: str
    history: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class LiveState:
    """Where a live stream stands.

    Attributes:
        elapsed_s: Stream time from the first frame received to the latest, seconds.
        received: Frames offered (or given to :meth:`LiveAnalyser.score`), dropped ones included.
        scored: Frames searched for faces and scored (a frame without a face counts too).
        dropped: Frames replaced by a fresher one before they were scored.
        people: The people seen within the window, by number.
        latency_s: Seconds from the arrival of the latest scored frame to its score.
        frame_shape: (height, width) of the latest frame received.
        scored_s: Timestamp of the latest scored frame (the window ends there); a person whose
            ``seen_s`` equals it is in that frame.
    """

    elapsed_s: float
    received: int
    scored: int
    dropped: int
    people: tuple[LivePerson, ...]
    latency_s: float | None
    frame_shape: tuple[int, int] | None
    scored_s: float | None = None


class LiveSlots:
    """The live streams a server judges at once, at most ``limit`` (DEEPFAKE_LIVE_MAX_STREAMS).

    Thread-safe. A key (a session, a visitor) holds at most one slot.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Take a slot for ``key``; True when it has one (already had, or one was free)."""
        with self._lock:
            if key not in self._held and len(self._held) >= self.limit:
                return False
            self._held.add(key)
            return True

    def give_back(self, key: str) -> None:
        """Free the slot of ``key`` (nothing happens when it holds none)."""
        with self._lock:
            self._held.discard(key)

    def active(self) -> int:
        """How many slots are taken."""
        with self._lock:
            return len(self._held)


@dataclass(frozen=True)
class _Arrival:
    """A frame received and not yet scored; ``arrived`` is its ``time.perf_counter()``."""

    index: int
    timestamp_s: float
    image_rgb: np.ndarray
    arrived: float


@dataclass(frozen=True)
class _Found:
    """A frame whose faces are found and cropped, waiting to be scored.

    Attributes:
        arrival: The frame as received.
        frame: The frame as the engine's stages take it, image (H, W, 3) uint8 BGR.
        faces: Its faces, crops finished by the profile.
        unrefined: How many boxes the profile's detector did not confirm.
        seconds: Time spent finding and cropping them.
    """

    arrival: _Arrival
    frame: Frame
    faces: list[Face]
    unrefined: int
    seconds: float


_Work = TypeVar("_Work", _Arrival, _Found)


@dataclass
class _Seen:
    """One person's scored frames: timestamps, fake probabilities, and their latest box."""

    box: Box
    times: list[float] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)


@dataclass
class _Looks:
    """BlazeFace's looks at one person for the second opinion, evenly spread (see LOOK_EVERY).

    Attributes:
        step: A look at every this-many-th appearance.
        appearances: The person's scored frames so far.
        taken: (frame index, the face BlazeFace found, or None) of each look kept, in time order.
    """

    step: int = LOOK_EVERY
    appearances: int = 0
    taken: list[tuple[int, Sighting | None]] = field(default_factory=list)

    def due(self) -> bool:
        """Count one more appearance; whether BlazeFace looks at it."""
        self.appearances += 1
        return (self.appearances - 1) % self.step == 0

    def add(self, frame_index: int, sighting: Sighting | None) -> None:
        """Keep a look, forgetting every other one when there are more than MAX_FRAMES."""
        self.taken.append((frame_index, sighting))
        if len(self.taken) > MAX_FRAMES:
            self.taken = self.taken[::2]
            self.step *= 2


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
        self._looks: dict[int, _Looks] = {}
        # Everything below is shared with the callers' threads, under _lock.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: _Arrival | None = None
        self._found: _Found | None = None
        self._closed = False
        self._failure: Exception | None = None
        self._received = self._scored = self._dropped = self._unrefined = 0
        self._first_s: float | None = None
        self._latest_s: float | None = None
        self._scored_s: float | None = None
        self._shape: tuple[int, int] | None = None
        self._started: float | None = None
        self._last_done: float | None = None
        self._faces: list[Face] = []
        self._score_of: dict[tuple[int, int], float] = {}
        self._seen: dict[int, _Seen] = {}
        self._latencies: list[float] = []
        self._spent = {"faces": 0.0, "model": 0.0, "second": 0.0}
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
        _check_frame(frame_rgb, timestamp_s, self.detector.settings.max_pixels)
        with self._wake:
            arrival = self._receive(frame_rgb, timestamp_s)
            if arrival is None:
                return
            if self._pending is not None:
                self._dropped += 1
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
        _check_frame(frame_rgb, timestamp_s, self.detector.settings.max_pixels)
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
            now = self._scored_s
            people = () if now is None else self._rolling(now)
            return LiveState(
                elapsed_s=0.0 if self._first_s is None else self._latest_s - self._first_s,
                received=self._received,
                scored=self._scored,
                dropped=self._dropped,
                people=people,
                latency_s=self._latencies[-1] if self._latencies else None,
                frame_shape=self._shape,
                scored_s=now,
            )

    def finish(self) -> AnalysisResult:
        """Stop, wait for the frame being scored, and report the whole stream like a file.

        The frame still waiting is dropped. The result is built by the code of
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
        self._stop()
        with self._scoring:
            with self._lock:
                self._raise_failure()
            if self._result is None:
                self._result = self._report()
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

    def _receive(self, frame_rgb: np.ndarray, timestamp_s: float) -> _Arrival | None:
        """Count a frame in (under ``_lock``); the arrival to score, or None when it is not scored.

        Raises:
            LiveError: If a scoring thread failed.
        """
        self._raise_failure()
        if self._closed:
            return None
        now = time.perf_counter()
        index = self._received
        self._received += 1
        self._shape = (frame_rgb.shape[0], frame_rgb.shape[1])
        if self._first_s is None:
            self._first_s, self._started = timestamp_s, now
        if self._latest_s is not None and timestamp_s < self._latest_s:
            logger.debug(
                "%s: frame at %.3f s came after one at %.3f s: dropped",
                self.name,
                timestamp_s,
                self._latest_s,
            )
            self._dropped += 1
            return None
        self._latest_s = timestamp_s
        return _Arrival(index, float(timestamp_s), frame_rgb, now)

    def _run(self, take: Callable[[], _Work | None], work: Callable[[_Work], None]) -> None:
        """A stage's thread: ``work`` on what ``take`` gives, until it gives None (closed)."""
        try:
            while (item := take()) is not None:
                work(item)
        except Exception as exc:  # raised again in the callers' thread (offer, state, finish)
            with self._wake:
                self._failure = self._failure or exc
                self._wake.notify_all()

    def _take(self) -> _Arrival | None:
        """The finder's next frame: the freshest, once the scorer has taken the last one found;
        None once closed."""
        with self._wake:
            while not self._closed and (self._pending is None or self._found is not None):
                self._wake.wait()
            if self._closed:
                return None  # what was waiting was counted as dropped by _stop
            arrival, self._pending = self._pending, None
            return arrival

    def _take_found(self) -> _Found | None:
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
            self._dropped += (self._pending is not None) + (self._found is not None)
            self._pending = self._found = None
            self._wake.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()

    def _find(self, arrival: _Arrival) -> _Found:
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
            return _Found(arrival, frame, faces, unrefined, time.perf_counter() - started)

    def _find_and_hand_over(self, arrival: _Arrival) -> None:
        found = self._find(arrival)
        with self._wake:
            if self._closed:
                self._dropped += 1
                return
            self._found = found
            self._wake.notify_all()

    def _score(self, found: _Found) -> None:
        """Score the faces of one frame and record them.

        Raises:
            NonFiniteScoreError: If the model gives NaN or infinite scores.
        """
        with self._scoring:
            with self._lock:
                # Received before finish() or close() but scored after: too late.
                late = self._closed
                self._dropped += late
            if late:
                return
            started = time.perf_counter()
            scores = self._probabilities(found.faces)
            check_finite(scores)
            scored = time.perf_counter()
            self._watch(found.frame, found.faces)
            done = time.perf_counter()
            with self._lock:
                self._record(found, scores)
                self._spent["faces"] += found.seconds
                self._spent["model"] += scored - started
                self._spent["second"] += done - scored
                self._latencies.append(done - found.arrival.arrived)
                self._last_done = done

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
        """With a second opinion: BlazeFace looks for the people due (see :class:`_Looks`)."""
        if self._second is None or not faces:
            return
        due = {face.person for face in faces if self._looks.setdefault(face.person, _Looks()).due()}
        if not due:
            return
        located = [(face.person, face.box) for face in faces]
        found = {s.person: s for s in self._second.watch(frame.image, frame.index, located, due)}
        for person in due:
            self._looks[person].add(frame.index, found.get(person))

    def _record(self, found: _Found, scores: list[float]) -> None:
        """Keep a scored frame's faces and scores (under ``_lock``)."""
        arrival, faces = found.arrival, found.faces
        self._scored += 1
        self._unrefined += found.unrefined
        self._scored_s = (
            arrival.timestamp_s if self._scored_s is None else max(self._scored_s, arrival.timestamp_s)
        )
        self._faces += faces
        for face, score in zip(faces, scores, strict=True):
            self._score_of[(face.frame_index, face.person)] = score
            seen = self._seen.setdefault(face.person, _Seen(face.box))
            seen.box = face.box
            seen.times.append(face.timestamp_s)
            seen.probabilities.append(score)

    def _rolling(self, now: float) -> tuple[LivePerson, ...]:
        """The people seen within the window that ends at ``now`` (under ``_lock``)."""
        margin = self.detector.settings.uncertain_margin
        people = []
        for person, seen in sorted(self._seen.items()):
            start = bisect.bisect_left(seen.times, now - self.window_s)
            if start == len(seen.times):
                continue
            history = tuple(zip(seen.times[start:], seen.probabilities[start:], strict=True))
            fake = float(np.mean([probability for _, probability in history]))
            count = f"{len(history)} frame{'s' if len(history) > 1 else ''}"
            verdict = verdict_for(fake, f"mean over the last {self.window_s:g} s, {count}", margin)
            message = f"{verdict.label} ({fake:.2f} over the last {self.window_s:g} s, {count})"
            people.append(
                LivePerson(person + 1, seen.box, seen.times[-1], fake, verdict.label, message, history)
            )
        return tuple(people)

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

    def _report(self) -> AnalysisResult:
        """The whole stream as a file's report (under ``_scoring``, once closed: nothing changes).

        Raises:
            VideoError: If no frame was scored.
        """
        if not self._scored:
            raise VideoError(
                f"{self.name}: no frame of the live stream was scored ({self._received} received)"
            )
        detector = self.detector
        # Numbered as on the live view (order of first appearance); DEEPFAKE_MAX_PEOPLE keeps the
        # most seen, as for a file.
        numbers = {person: person + 1 for person in detector.ranking(self._faces)}
        faces, left_out = detector.keep_most_seen(self._faces, numbers)
        raw = {new: old for old, new in numbers.items()}
        scores = np.array([self._score_of[(face.frame_index, raw[face.person])] for face in faces])
        collected = self._collected(numbers)
        second_started = time.perf_counter()
        frame_scores, people = detector.judge_people(
            faces, scores, collected, numbers, self._second, False, lambda done, total: None
        )
        timings = {"faces": self._spent["faces"], "model": self._spent["model"]}
        if self._second is not None:
            timings["second_opinion"] = self._spent["second"] + time.perf_counter() - second_started
        timings["total"] = time.perf_counter() - (self._started or 0.0)
        result = detector.build_result(
            self.name,
            collected,
            frame_scores,
            [face.crop_bgr for face in faces],
            people,
            self._detectors,
            info=self._info(),
            profile=self.profile,
            notes=self._notes(len(people)),
            dropped=left_out,
            timings=timings,
        )
        result.source = self._figures()
        return result

    def _collected(self, numbers: dict[int, int]) -> CollectedFaces:
        """The stream's faces and the second opinion's looks, as a file's analysis gathers them."""
        collected = CollectedFaces(faces=self._faces, sampled=self._scored, unrefined=self._unrefined)
        for person, looks in self._looks.items():
            if person in numbers:
                collected.looked_at[person] = len(looks.taken)
                collected.sightings += [s for _, s in looks.taken if s is not None]
        return collected

    def _info(self) -> VideoInfo:
        elapsed = (self._latest_s or 0.0) - (self._first_s or 0.0)
        height, width = self._shape or (0, 0)
        return VideoInfo(
            width=width,
            height=height,
            fps=round((self._received - 1) / elapsed, 3) if elapsed > 0 else None,
            frame_count=self._received,
            duration_s=elapsed,
            decoder=LIVE,
        )

    def _notes(self, people: int) -> list[str]:
        notes = [
            f"live stream: {self._received} frames received, {self._scored} scored, {self._dropped} "
            "dropped (only the freshest frame is scored; frames that came while one was scored were "
            "dropped)"
        ]
        if people > 1:
            notes.append("people are numbered in the order they appeared, as on the live view")
        config = self.detector.classifier.config
        if config.kind != PER_FRAME:
            notes.append(
                f"each face's fake probability is that of the window of the person's last {config.frames} "
                "faces ending at it (a file's analysis averages the windows that hold a face)"
            )
        return notes

    def _figures(self) -> dict[str, object]:
        """The live figures of the report's ``source``."""
        # From the first frame's arrival to the end of the last frame's scoring (at least one).
        busy = (self._last_done or 0.0) - (self._started or 0.0)
        latencies = np.array(self._latencies)
        return {
            "live": True,
            "frames_received": self._received,
            "frames_scored": self._scored,
            "frames_dropped": self._dropped,
            "scored_frames_per_s": round(self._scored / busy, 3),
            "latency_s": {
                "median": round(float(np.median(latencies)), 4),
                "p95": round(float(np.percentile(latencies, 95)), 4),
                "max": round(float(latencies.max()), 4),
            },
            "window_s": self.window_s,
        }


def _check_frame(frame_rgb: np.ndarray, timestamp_s: float, max_pixels: int) -> None:
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
