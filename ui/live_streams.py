"""The Live tab's streams, by page session: the cap on streams at once, their time limit, their
report, pages that vanish; and the live path warmed up at start-up.

Each stream is the engine's :class:`LiveAnalyser` (``inference/stream/``), which keeps only the
freshest frame and scores it in its own thread. The tab itself (layout, frames in, verdicts out)
is ``ui/live_tab.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inference import AnalysisResult, DeepfakeDetectorError, Detector, Settings
from inference.faces import profiles
from inference.stream import LiveAnalyser, LiveSlots, LiveState

logger = logging.getLogger(__name__)

# No frame for this long: the camera was stopped (or the stream ended), so the report is due.
QUIET_S = 4.0
# A stream with no frame and no report for this long lost its page: it is closed, its slot freed.
STALE_S = 30.0
# Streams beyond the cap that are answered (refused) rather than kept waiting in Gradio's queue.
REFUSED_AT_ONCE = 8
# Frames judged at start-up: the first two cost seconds each, the next ones a fraction of that.
WARM_UP_FRAMES = 3


class LiveRefusedError(DeepfakeDetectorError):
    """A live stream was refused: the server judges as many streams at once as it may."""


@dataclass
class _Stream:
    """One page's live stream: its analyser, when it started and when its latest frame came."""

    analyser: LiveAnalyser
    started: float
    latest: float


class LiveStreams:
    """The live streams of the served app, by page session: at most ``slots.limit`` at once.

    Thread-safe: Gradio calls :meth:`feed` from its workers and the timer's :meth:`due` from
    others.

    Args:
        slots: The cap on concurrent streams (DEEPFAKE_LIVE_MAX_STREAMS).
        time_limit_s: How long one stream is judged (DEEPFAKE_LIVE_TIME_LIMIT_S).
        make: Builds the analyser of a new stream for a crop profile (loads the weights on first use).
    """

    def __init__(
        self, slots: LiveSlots, time_limit_s: float, make: Callable[[str | None], LiveAnalyser]
    ) -> None:
        self.slots = slots
        self.time_limit_s = time_limit_s
        self._make = make
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        # Pages whose stream was refused or reported while their camera still sends, with the time
        # of its latest frame: those frames are ignored until the camera pauses for QUIET_S.
        self._ended: dict[str, float] = {}
        # Pages whose stream is being reported: it keeps its slot until its threads are done.
        self._finishing: set[str] = set()

    def feed(self, session: str, frame_rgb: np.ndarray, profile: str | None = None) -> LiveState | None:
        """Hand the page's latest camera frame, (H, W, 3) uint8 RGB, to its stream's analyser.

        A new stream crops faces with ``profile`` (default: the server's); a running one keeps its own.

        Returns:
            The stream's state after the frames scored so far (the new one is scored later), or
            None for a frame of a stream that was refused, reported or ran out of time.

        Raises:
            LiveRefusedError: Once per stream, when every slot is taken.
            DeepfakeDetectorError: If the weights cannot load or the frame is refused.
        """
        now = time.monotonic()
        if self._still_ended(session, now):
            return None
        stream = self._stream(session, now, profile)
        if stream is None or now - stream.started > self.time_limit_s:
            # Ignored frames keep nothing alive: the timer reports the stream, and one whose
            # page never asks for its report is closed by the next stream that needs a slot.
            return None
        stream.latest = now
        try:
            stream.analyser.offer(frame_rgb, now - stream.started)
        except DeepfakeDetectorError:
            self.leave(session)  # a refused frame ends the stream, and frees its slot at once
            raise
        return stream.analyser.state()

    def _still_ended(self, session: str, now: float) -> bool:
        """Whether this frame belongs to a stream that ended (a pause of QUIET_S starts a new one)."""
        with self._lock:
            ended = self._ended.get(session)
            if ended is None:
                return False
            if now - ended > QUIET_S:
                del self._ended[session]
                return False
            self._ended[session] = now
            return True

    def due(self, session: str) -> str | None:
        """Why the page's stream is over, or None while it goes on (or when it has none).

        Returns:
            "stopped" when no frame came for QUIET_S (the camera was stopped), "time" when it ran
            for DEEPFAKE_LIVE_TIME_LIMIT_S.
        """
        with self._lock:
            stream = self._streams.get(session)
        if stream is None:
            return None
        now = time.monotonic()
        if now - stream.started > self.time_limit_s:
            return "time"
        return "stopped" if now - stream.latest > QUIET_S else None

    def finish(self, session: str) -> AnalysisResult | None:
        """End the page's stream and report it whole; None when it has none.

        Frames the camera still sends after this (it ran out of time, or its frames came too
        slowly to tell from a stopped camera) are ignored until it pauses for QUIET_S.

        Raises:
            DeepfakeDetectorError: If no frame was scored, or the scoring failed.
        """
        # The slot is given back once the stream's threads are done: finishing may still score
        # its first frame (LiveAnalyser.finish), and no stream may start on the slot meanwhile.
        with self._lock:
            stream = self._streams.pop(session, None)
            if stream is None:
                return None
            self._ended[session] = time.monotonic()
            self._finishing.add(session)
        try:
            try:
                return stream.analyser.finish()
            finally:
                stream.analyser.close()
        finally:
            with self._lock:
                self._finishing.discard(session)
                self.slots.give_back(session)

    def leave(self, session: str) -> None:
        """The page left: end its stream, if any, without a report.

        A frame of its camera still on its way is ignored: it must not start a stream for a page
        that is gone (its reloaded page is another session).
        """
        with self._lock:
            self._ended[session] = time.monotonic()
        stream = self._end(session)
        if stream is not None:
            stream.analyser.close()

    def _stream(self, session: str, now: float, profile: str | None) -> _Stream | None:
        """The page's stream, or a new one (None while its last one is still being reported)."""
        with self._lock:
            stream = self._streams.get(session)
            if stream is not None or session in self._finishing:
                return stream
            stale = self._stale(now)
            taken = self.slots.take(session)
            if not taken:
                self._ended[session] = now
        # Closing waits for a frame being scored: never under the lock every page's frames take.
        for old in stale:
            old.analyser.close()
        if not taken:
            raise LiveRefusedError(
                f"This server judges {self.slots.limit} live stream(s) at once, and that many are "
                "running now. Stop the camera and try again in a minute, or upload a recording."
            )
        try:
            made = _Stream(self._make(profile), now, now)
        except BaseException:
            self.slots.give_back(session)
            raise
        with self._lock:
            # Two frames of one page can both get here: the first analyser stays, the other goes.
            stream = self._streams.setdefault(session, made)
        if stream is not made:
            made.analyser.close()
            return stream
        logger.info("live stream of session %s started (%d running)", session[:8], self.slots.active())
        return stream

    def _stale(self, now: float) -> list[_Stream]:
        """Take out the streams of pages that went without a word (under ``_lock``); close them after.

        A page reports its stream within seconds of its last frame, and says when it leaves; a
        stream silent for STALE_S lost its page (a crashed tab, a dropped network), and must not
        hold a slot and two threads for good.
        """
        # Past its time limit, a stream's page has QUIET_S to fetch the report; a client that
        # never does (it need not run the page's timer) must not keep the slot.
        over = self.time_limit_s + QUIET_S
        stale = [
            session
            for session, stream in self._streams.items()
            if now - stream.latest > STALE_S or now - stream.started > over
        ]
        for session in stale:
            self.slots.give_back(session)
            self._ended[session] = now  # its camera's later frames start nothing until it pauses
            logger.info(
                "live stream of session %s closed: its page went silent or ran out of time", session[:8]
            )
        self._ended = {session: t for session, t in self._ended.items() if now - t <= STALE_S}
        return [self._streams.pop(session) for session in stale]

    def _end(self, session: str) -> _Stream | None:
        with self._lock:
            stream = self._streams.pop(session, None)
        if stream is not None:
            self.slots.give_back(session)
        return stream


def make_analyser(settings: Settings) -> Callable[[str | None], LiveAnalyser]:
    """A factory of live analysers on the server's checkpoint, for a crop profile, second opinion off."""

    def make(profile: str | None) -> LiveAnalyser:
        return LiveAnalyser(Detector.from_settings(settings), name="live-camera", profile=profile)

    return make


def warm_up(detector: Detector, clip: Path) -> None:
    """Judge the first frames of ``clip`` on the live path, so that a first stream starts at full speed.

    The first frames a process judges cost seconds (the face finder's and the network's first
    runs); a visitor's camera should not wait for them. Every crop profile is warmed.

    Args:
        detector: The server's engine, its weights loaded.
        clip: A short video with a face (an example's).
    """
    capture = cv2.VideoCapture(str(clip))
    try:
        frames = [frame for ok, frame in (capture.read() for _ in range(WARM_UP_FRAMES)) if ok]
    finally:
        capture.release()
    try:
        for name in profiles.PROFILES:
            with LiveAnalyser(detector, name="warm-up", profile=name, threaded=False) as analyser:
                for index, frame_bgr in enumerate(frames):
                    analyser.score(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), index / 25)
    except DeepfakeDetectorError as exc:
        logger.warning("the live path was not warmed up: %s", exc)
