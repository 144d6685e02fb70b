"""A live stream past its time limit frees its slot, though its client keeps sending frames and
never asks for the report (issue 29, item 3). Real analysers on the random checkpoint."""

from __future__ import annotations

import time

import numpy as np
import pytest

from inference import Detector
from inference.stream import LiveSlots
from ui import live_streams as live
from ui.live_streams import LiveRefusedError, LiveStreams


def test_a_client_past_the_time_limit_cannot_keep_the_only_slot(
    detector: Detector, frame: np.ndarray, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(live, "QUIET_S", 0.5)  # STALE_S stays 30 s: silence is not what frees it
    streams = LiveStreams(LiveSlots(1), 1.0, live.make_analyser(detector.settings))
    try:
        assert streams.feed("hog", frame) is not None
        with pytest.raises(LiveRefusedError):
            streams.feed("other", frame)
        # The hog sends a frame now and then (more often than QUIET_S and STALE_S would notice)
        # and never runs the page's timer that reports and ends the stream.
        deadline = time.monotonic() + 1.0 + 0.5 + 0.3
        while time.monotonic() < deadline:
            streams.feed("hog", frame)
            time.sleep(0.2)
        assert streams.feed("other", frame) is not None  # the slot went to the next visitor
        assert streams.slots.active() == 1
        assert streams.feed("hog", frame) is None  # its camera's frames start nothing
    finally:
        for session in ("hog", "other"):
            streams.leave(session)
