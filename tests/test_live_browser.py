"""The Live tab in a real browser: Chromium's fake camera plays a shared clip with a face.

The clip is turned into a .y4m at test time (ffmpeg) and fed to Chromium as its camera
(``--use-file-for-fake-video-capture``). Fails on any page error and on any output left pending.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import loopback
import numpy as np
import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, FAKE_CAMERA, NOT_INSTALLED
from conftest import shared_clip
from test_browser import PENDING, shot

from ui.live_tab import COLOURS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NOT_INSTALLED)

CAMERA_CLIP = "polimi-ispl__icpr2020dfdc__ffpp-youtube-519.mp4"  # 640x480, a news anchor facing the camera
VERDICT_NOW = re.compile(r"^\s*(FAKE|REAL|UNCERTAIN) \d\.\d\d\s*$")
SHOWN_WITHIN_MS = 10_000


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared clip with a face as Chromium's fake camera (skips when the clip is absent)."""
    return camera_y4m(shared_clip(CAMERA_CLIP), tmp_path_factory.mktemp("camera"))


def camera_y4m(clip: Path, folder: Path) -> Path:
    """``clip`` as a raw .y4m, 4 s at 15 frames a second, for ``--use-file-for-fake-video-capture``
    (Chromium plays it in a loop)."""
    path = folder / "camera.y4m"
    command = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-t", "4", "-vf", "fps=15"]
    subprocess.run([*command, "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@contextlib.contextmanager
def live_tab(playwright, url: str, camera: Path | None) -> Iterator:
    """The app's Live tab in a Chromium of its own whose camera plays ``camera`` (None: Chromium's
    test pattern), for tests that drive Playwright themselves (the tests here share the run's
    Chromium: :func:`open_live_tab`). Fails on any error the page throws.
    """
    fake = list(FAKE_CAMERA)
    if camera is not None:
        fake.append(f"--use-file-for-fake-video-capture={camera}")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + fake)
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1300, "height": 1400}, permissions=["camera", "microphone"])
    page.set_default_timeout(60_000)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.get_by_role("tab", name="Live camera").click()
    yield page
    browser.close()
    assert errors == [], f"errors thrown in the page: {errors}"


def open_live_tab(pages, url: str, camera: Path):
    """The app's Live tab in a new tab of the run's Chromium whose camera plays ``camera``."""
    page = pages.open(url, camera=camera, timeout_ms=60_000)
    page.get_by_role("tab", name="Live camera").click()
    return page


@pytest.fixture
def live_page(pages, app_url: str, camera_file: Path):
    return open_live_tab(pages, app_url, camera_file)


def start_camera(page) -> float:
    """Open the camera and start streaming; the time streaming started."""
    camera = page.locator("#live-camera")
    camera.get_by_text("Click to Access Webcam").click()
    camera.locator("button", has_text="Record").click()
    return time.monotonic()


def stop_camera(page) -> None:
    page.locator("#live-camera").locator("button", has_text="Stop").click()


def reported(page) -> int:
    """Wait for the stream's report after the camera stopped; the frames it scored.

    Checks the verdict, the JSON file and the HTML report's download, the counts (received =
    scored + dropped) and that nothing is left pending.
    """
    from playwright.sync_api import expect

    expect(page.locator("#live-status")).to_contain_text(re.compile("Stopped:|Ended:"), timeout=30_000)
    expect(page.get_by_test_id("label-output-value")).to_have_text(
        re.compile(r"^\s*(FAKE|REAL|UNCERTAIN|CANNOT JUDGE)\s*$")
    )
    expect(page.locator("#live-report").get_by_test_id("download-link")).to_have_attribute(
        "href", re.compile(r"\.json$")
    )
    expect(page.locator("#live-report-html")).to_be_visible()  # the HTML report beside it
    status = page.locator("#live-status").inner_text()
    received, scored, dropped = (
        int(n) for n in re.findall(r"(\d+) (?:frames received|scored|dropped)", status)
    )
    assert received == scored + dropped, status
    expect(page.locator(PENDING)).to_have_count(0, timeout=30_000)
    return scored


def boxes_drawn(page, app_url: str) -> int:
    """Pixels of the preview in one of the verdict colours (the boxes and their labels)."""
    source = page.locator("#live-preview img").get_attribute("src")
    url = source if source.startswith("http") else app_url.rstrip("/") + source
    assert url.startswith("http://127.0.0.1:"), url
    data = np.frombuffer(loopback.get(url, timeout=30).content, np.uint8)
    picture = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(int)
    near = [np.abs(picture - np.array(colour)).sum(axis=2) < 60 for colour in COLOURS.values()]
    return int(np.logical_or.reduce(near).sum())


def test_live_camera_shows_a_verdict_and_a_box_then_a_report(live_page, app_url: str, tmp_path: Path):
    from playwright.sync_api import expect

    page = live_page
    started = start_camera(page)
    rows = page.locator("#live-now tbody tr")
    expect(rows.first).to_be_visible(timeout=SHOWN_WITHIN_MS)
    expect(rows.first.locator("td").nth(1)).to_have_text(VERDICT_NOW, timeout=1_000)
    assert time.monotonic() - started < SHOWN_WITHIN_MS / 1000
    expect(page.locator("#live-preview img")).to_be_visible()
    assert boxes_drawn(page, app_url) > 200, "no box in a verdict's colour on the preview"
    expect(page.locator("#live-status")).to_contain_text("frames received")
    shot(page, tmp_path, "live-running")
    stop_camera(page)
    scored = reported(page)
    assert scored >= 1
    expect(page.locator("#live-people tbody tr").first).to_be_visible()
    # The whole-stream table fits the 1300 px page: no hint to scroll it sideways.
    expect(page.locator(".scroll-hint:visible")).to_have_count(0)
    shot(page, tmp_path, "live-report")


@pytest.fixture(scope="module")
def short_live_url(hub_cache: Path) -> Iterator[str]:
    """The app with one live stream at a time, of at most 4 s."""
    from conftest import serve

    from inference import Settings

    yield from serve(Settings.from_env({"DEEPFAKE_LIVE_MAX_STREAMS": "1", "DEEPFAKE_LIVE_TIME_LIMIT_S": "4"}))


# Counts the notices a page shows, also one that is gone again by the time it is read.
COUNT_TOASTS = """() => {
    window.__toasts = 0;
    let shown = 0;
    const count = () => {
        const now = document.querySelectorAll(".toast-body").length;
        if (now > shown) window.__toasts += now - shown;
        shown = now;
    };
    new MutationObserver(count).observe(document.body, {subtree: true, childList: true});
    count();
}"""


def test_the_stream_cap_and_time_limit_are_explained(
    pages, short_live_url: str, camera_file: Path, tmp_path: Path
):
    from playwright.sync_api import expect

    first = open_live_tab(pages, short_live_url, camera_file)
    second = open_live_tab(pages, short_live_url, camera_file)
    second.evaluate(COUNT_TOASTS)
    start_camera(first)
    expect(first.locator("#live-status")).to_contain_text("frames received")
    start_camera(second)
    # Told in the page, and once as a notice; the camera's later frames are ignored.
    refused = re.compile(r"judges 1 live stream\(s\) at once")
    expect(second.locator("#live-status")).to_contain_text(refused)
    expect(second.locator(".toast-body")).to_have_count(1)
    shot(second, tmp_path, "live-refused")
    # The first stream runs out of time: told why, then reported without pressing Stop.
    assert reported(first) >= 1
    expect(first.locator("#live-status")).to_contain_text("judged for at most 4 s on this server")
    # The camera still runs: its frames neither start a new stream nor take the free slot.
    first.wait_for_timeout(2_000)
    expect(first.locator("#live-status")).to_contain_text("judged for at most 4 s on this server")
    expect(second.locator("#live-status")).to_contain_text(refused)
    # All along (seconds of the second camera's frames, since before the first was reported): one notice.
    assert second.evaluate("window.__toasts") == 1
    shot(first, tmp_path, "live-time-limit")
