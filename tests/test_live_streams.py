"""The app's live streams by page: the cap, the time limit, the report and pages that vanish.

Real analysers on the random checkpoint, real frames, real waits (the module's pauses are
shortened so that the tests take seconds).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_live import copy_of

from inference import Detector
from inference.models.classifier import Classifier
from inference.stream import LiveAnalyser, LiveSlots
from ui import live_streams as live
from ui.live_streams import LiveRefusedError, LiveStreams


def scored(streams: LiveStreams, session: str, frame: np.ndarray) -> None:
    """Feed ``frame`` until the page's stream has scored one frame (a report needs one)."""
    deadline = time.monotonic() + 60
    while streams.feed(session, frame).scored < 1:
        assert time.monotonic() < deadline, "no frame scored in 60 s"
        time.sleep(0.05)


@pytest.fixture
def streams(detector: Detector, monkeypatch: pytest.MonkeyPatch) -> LiveStreams:
    monkeypatch.setattr(live, "QUIET_S", 0.5)
    monkeypatch.setattr(live, "STALE_S", 1.5)
    made = LiveStreams(LiveSlots(1), 60.0, live.make_analyser(detector.settings))
    yield made
    for session in ("a", "b"):
        made.leave(session)


def test_a_page_over_the_cap_is_told_once_then_ignored_until_it_pauses(streams: LiveStreams, frame):
    scored(streams, "a", frame)
    with pytest.raises(LiveRefusedError, match="1 live stream"):
        streams.feed("b", frame)
    assert streams.feed("b", frame) is None  # told once; its camera's frames are ignored
    # "b"'s camera goes on sending while "a" is reported and its slot freed.
    with ThreadPoolExecutor(1) as pool:
        finished = pool.submit(streams.finish, "a")
        while not finished.done():
            assert streams.feed("b", frame) is None
            time.sleep(0.1)
    assert finished.result() is not None
    assert streams.feed("b", frame) is None  # a slot is free, but this is still the refused stream
    time.sleep(0.7)
    assert streams.feed("b", frame) is not None  # the camera was started again


def test_a_stopped_camera_is_reported_and_its_late_frames_start_nothing(streams: LiveStreams, frame):
    scored(streams, "a", frame)
    assert streams.due("a") is None
    time.sleep(0.7)
    assert streams.due("a") == "stopped"
    result = streams.finish("a")
    assert result is not None and result.source["frames_scored"] >= 1
    assert (
        result.source["frames_received"] == result.source["frames_scored"] + result.source["frames_dropped"]
    )
    assert streams.due("a") is None and streams.finish("a") is None


def test_a_stream_past_the_time_limit_is_due_and_takes_no_more_frames(detector: Detector, frame):
    streams = LiveStreams(LiveSlots(1), 5.0, live.make_analyser(detector.settings))
    started = time.monotonic()
    scored(streams, "a", frame)
    time.sleep(max(0.0, started + 5.1 - time.monotonic()))
    assert streams.feed("a", frame) is None
    assert streams.due("a") == "time"
    assert streams.finish("a").source["frames_scored"] >= 1
    assert streams.feed("a", frame) is None  # the camera still runs: ignored, not a new stream


def test_a_page_gone_silent_frees_its_slot(streams: LiveStreams, frame):
    streams.feed("a", frame)
    with pytest.raises(LiveRefusedError):
        streams.feed("b", frame)
    time.sleep(1.7)  # "a" neither sends nor is reported: its page is gone
    assert streams.feed("b", frame) is not None
    assert streams.slots.active() == 1 and streams.finish("a") is None


def test_a_frame_still_on_its_way_when_the_page_left_starts_nothing(streams: LiveStreams, frame):
    scored(streams, "a", frame)
    streams.leave("a")
    assert streams.feed("a", frame) is None  # a frame sent just before the page reloaded
    assert streams.slots.active() == 0
    assert streams.feed("b", frame) is not None  # the reloaded page (another session) may stream


class HeldClassifier(Classifier):
    """Scores like the real one once :attr:`free` is set, as a machine held up by other work."""

    free = threading.Event()

    def fake_probabilities(self, crops_bgr, done=None, threads=None):
        assert self.free.wait(timeout=60)
        return super().fake_probabilities(crops_bgr, done, threads)


def test_a_stream_keeps_its_slot_until_it_is_reported(detector: Detector, frame):
    """A stream that ends before its first frame is scored is reported once that frame is
    (LiveAnalyser.finish): meanwhile its two threads still work, and no other stream may start."""
    held = Detector(copy_of(detector.classifier, HeldClassifier), detector.settings)
    streams = LiveStreams(LiveSlots(1), 60.0, lambda profile: LiveAnalyser(held, profile=profile))
    HeldClassifier.free.clear()
    streams.feed("a", frame)
    with ThreadPoolExecutor(1) as pool:
        finished = pool.submit(streams.finish, "a")
        try:
            time.sleep(0.3)
            with pytest.raises(LiveRefusedError, match="1 live stream"):
                streams.feed("b", frame)
            assert not finished.done()  # still waiting for the first frame's score
        finally:
            HeldClassifier.free.set()
        assert finished.result(timeout=60).frames_sampled == 1
    streams.leave("b")
