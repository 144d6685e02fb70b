"""A person's visit in a real browser: headless Chromium driven by Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


@pytest.fixture
def page(app_url: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        page.set_default_timeout(120_000)
        page.goto(app_url)
        yield page
        browser.close()


def test_upload_analyze_and_see_why(page, manipulated_clip: Path, tmp_path: Path):
    from playwright.sync_api import expect

    page.locator("input[type=file]").first.set_input_files(str(manipulated_clip))
    expect(page.get_by_test_id("Video-player")).to_be_visible()
    page.get_by_label("number input for Frames to sample").fill("12")
    page.get_by_role("button", name="Analyze").click()
    expect(page.get_by_test_id("label-output-value")).to_have_text(re.compile(r"^\s*(FAKE|REAL)\s*$"))
    expect(page.locator(".thumbnail-item")).to_have_count(12)
    expect(page.get_by_text(re.compile(r"over 12 of 12 sampled frames with a face"))).to_be_visible()
    expect(page.locator(".vega-embed canvas, .vega-embed svg").first).to_be_visible()
    expect(page.get_by_test_id("download-link")).to_have_attribute("href", re.compile(r"\.json$"))
    page.screenshot(path=str(tmp_path / "analysed.png"), full_page=True)
    assert (tmp_path / "analysed.png").stat().st_size > 10_000


def test_no_face_example_in_one_click(page, tmp_path: Path):
    from playwright.sync_api import expect

    page.get_by_role("button", name="No face").click()
    expect(page.get_by_test_id("label-output-value")).to_have_text(re.compile(r"CANNOT JUDGE"))
    expect(page.get_by_text(re.compile(r"face found in 0 of 20 sampled frames"))).to_be_visible()
    expect(page.locator(".thumbnail-item")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "no_face.png"), full_page=True)
