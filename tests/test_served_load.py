"""The served app under load: every entry point at once, and the server stays alive.

The load test runs ``python app.py`` in a process of its own, as the Space does, so that a
crash (the heap corruption two requests at once once caused) fails the test instead of pytest.
The default run has the short scenario (one round of everything at once, then a rush of 4 API
calls, 2 frames each); the long one (three rounds, a rush of 24, more than the queue, more
frames) is marked slow.
"""

from __future__ import annotations

import contextlib
import logging
import re
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import loopback
import psutil
import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, NOT_INSTALLED
from gradio_client import handle_file
from gradio_client.utils import QueueError
from loopback import api
from python_apps import PythonApps, register
from test_live_browser import camera_y4m, live_tab, reported, start_camera, stop_camera

logger = logging.getLogger(__name__)

LABELS = {"FAKE", "REAL", "UNCERTAIN", "CANNOT JUDGE"}
QUEUE = 16


def load_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Room for many requests of one visitor, and a queue of :data:`QUEUE`."""
    return {
        "DEEPFAKE_MAX_QUEUED_PER_VISITOR": "64",
        "DEEPFAKE_UPLOADS_PER_VISITOR": "64",
        "DEEPFAKE_QUEUE_SIZE": str(QUEUE),
        # The live stream runs through every round of analyses before it is stopped.
        "DEEPFAKE_LIVE_TIME_LIMIT_S": "1800",
    }


register(__name__, "server", load_env)


@pytest.fixture(scope="module")
def server(python_apps: PythonApps) -> tuple[str, subprocess.Popen, Path]:
    """This module's ``python app.py`` (see :func:`load_env`): its URL, process and log file."""
    return python_apps.get(__name__)


@dataclass(frozen=True)
class Load:
    """How much of everything at once: rounds of (live stream, page, /predict, /report with
    Explain) together, the frames each samples, the API calls of the rush after them, and the
    frames the live stream must have judged beside them."""

    rounds: int
    frames: int
    rush: int
    live_scored: int


def call(url: str, endpoint: str, clip: Path, frames: int) -> str:
    """One API call; returns the label, or "queue full" when the server said so.

    httpx's 5 s default let a busy server's config fetch time out on a loaded machine."""
    client = api(url, timeout=120)
    try:
        if endpoint == "/predict":
            return client.predict(handle_file(str(clip)), frames, api_name="/predict")["label"]
        return client.predict(handle_file(str(clip)), frames, None, True, "app", api_name="/report")[0][
            "verdict"
        ]
    except QueueError:
        return "queue full"


def everything_at_once(server, clips: tuple[Path, Path, Path], tmp_path: Path, load: Load) -> None:
    """A live camera stream, /predict, /report with Explain and the page's own event, all
    together, ``load.rounds`` times; the stream stopped and reported; then ``load.rush`` API calls
    at once, each answered or told the queue is full; the page served again; the server alive."""
    url, process, log = server
    genuine, manipulated, no_face = clips
    peak = Peak(process.pid)
    camera = camera_y4m(genuine, tmp_path)
    with peak, sync_page(url, genuine, load.frames) as page:
        with live_tab(page.playwright, url, camera) as live:
            start_camera(live)
            for _ in range(load.rounds):
                with ThreadPoolExecutor(2) as pool:
                    predicted = pool.submit(call, url, "/predict", manipulated, load.frames)
                    reported_ = pool.submit(call, url, "/report", no_face, load.frames)
                    assert page.analyse() in LABELS
                    assert predicted.result(timeout=300) in LABELS
                    assert reported_.result(timeout=300) == "CANNOT JUDGE"
            stop_camera(live)
            # Judged all along, beside the analyses.
            scored = reported(live)
            assert scored >= load.live_scored, scored
        jobs = [(("/predict", "/report")[i % 2], clips[i % 3]) for i in range(load.rush)]
        with ThreadPoolExecutor(load.rush) as pool:
            answers = list(pool.map(lambda job: call(url, *job, load.frames), jobs, timeout=900))
        assert page.analyse() in LABELS  # the page is served again once the rush is over
    assert process.poll() is None, f"the server died: {log.read_text()[-3000:]}"
    served = [a for a in answers if a != "queue full"]
    assert set(served) <= LABELS and len(served) >= min(load.rush, QUEUE // 2), answers
    for (_, clip), answer in zip(jobs, answers, strict=True):
        assert answer in ("queue full", "CANNOT JUDGE") or clip != no_face
    logger.warning(
        "live frames scored %d; %d API calls at once: %d served, %d told the queue is full; "
        "server peak RSS %.0f MB",
        scored,
        load.rush,
        len(served),
        len(answers) - len(served),
        peak.bytes / 1e6,
    )
    assert loopback.get(url, timeout=10).status_code == 200


def test_everything_at_once_keeps_the_server_alive(
    server, genuine_clip: Path, manipulated_clip: Path, no_face_clip: Path, tmp_path: Path
):
    """One round of everything at once, then a rush of 4 API calls, 2 frames each."""
    clips = (genuine_clip, manipulated_clip, no_face_clip)
    everything_at_once(server, clips, tmp_path, Load(rounds=1, frames=2, rush=4, live_scored=3))


@pytest.mark.slow
def test_every_entry_point_at_once_keeps_the_server_alive(
    server, genuine_clip: Path, manipulated_clip: Path, no_face_clip: Path, tmp_path: Path
):
    """Three rounds of everything at once, then a rush of 24 API calls (more than the queue)."""
    clips = (genuine_clip, manipulated_clip, no_face_clip)
    everything_at_once(server, clips, tmp_path, Load(rounds=3, frames=6, rush=24, live_scored=10))


class Peak:
    """The peak resident memory of a process, sampled every 0.2 s while in the ``with`` block."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(psutil.NoSuchProcess):
                self.bytes = max(self.bytes, self.process.memory_info().rss)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class Page:
    """A visitor's page with a clip uploaded and its frames set."""

    def __init__(self, page, playwright) -> None:
        self.page = page
        self.playwright = playwright  # for more browsers in the same thread

    def analyse(self) -> str:
        """Press Analyze; returns the verdict shown."""
        from playwright.sync_api import expect

        self.page.get_by_role("button", name="Analyze").click()
        verdict = self.page.get_by_test_id("label-output-value")
        expect(verdict).to_have_text(
            re.compile(r"^\s*(FAKE|REAL|UNCERTAIN|CANNOT JUDGE)\s*$"), timeout=300_000
        )
        expect(self.page.get_by_role("button", name="Analyze")).to_be_enabled(timeout=60_000)
        return verdict.inner_text().strip()


@contextlib.contextmanager
def sync_page(url: str, clip: Path, frames: int) -> Iterator[Page]:
    """A real page on ``url`` with ``clip`` uploaded and ``frames`` set; fails on any error the
    page throws."""
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        pytest.skip(NOT_INSTALLED)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.locator("input[type=file]").first.set_input_files(str(clip))
        expect(page.get_by_test_id("Video-player")).to_be_visible(timeout=60_000)
        page.get_by_text("Frames and model weights").click()
        page.get_by_label("number input for Frames to sample").fill(str(frames))
        yield Page(page, playwright)
        browser.close()
    assert errors == [], errors
