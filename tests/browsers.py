"""One Playwright driver and one Chromium (per kind of camera) for the whole test run.

A page a test opens is a new tab, closed when the test ends; the test fails on any error thrown
in its pages. Plain tabs share one browser context per Chromium, as a visitor's tabs share one
browser profile: a new context loads and compiles the page's scripts again, about 1 s of Chromium's
CPU more per tab (2.0 against 1.0 s, measured). The app keeps nothing in a context (no cookies, no
storage): each tab is a Gradio session of its own either way. A tab with options of its own
(viewport, colour scheme, phone, camera permission) gets a context of its own.

Playwright's sync API marks its event loop as the thread's running loop after every call, and
then ``asyncio.run`` (the race tests) and another ``sync_playwright()`` (tests that start their own
browser) refuse to run in that thread. The driver is therefore marked running only while a test
uses it (:meth:`Browsers.visiting`), and paused between tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
# Chromium's own test camera (a moving pattern, no face) stands in for a webcam; with
# --use-file-for-fake-video-capture it plays a .y4m file instead.
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
TIMEOUT_MS = 120_000
VIEWPORT = {"width": 1300, "height": 1400}


class Visit:
    """The pages one test opens; see :meth:`Browsers.visiting`."""

    def __init__(self, browsers: Browsers) -> None:
        self._browsers = browsers
        self._contexts: list[Any] = []
        self._pages: list[Any] = []
        self.errors: list[str] = []

    def open(
        self, url: str | None, camera: Path | bool = False, timeout_ms: int = TIMEOUT_MS, **context: Any
    ):
        """A new tab on ``url`` (None: a blank one); returns the page. Keyword arguments
        (Playwright's ``new_context``: viewport, color_scheme, is_mobile, ...) give the tab a context
        of its own; without them it opens in the browser's shared context.

        ``camera``: True for Chromium's test pattern as the webcam, a .y4m file for that file.
        """
        from playwright.sync_api import expect

        expect.set_options(timeout=timeout_ms)
        browser = self._browsers.chromium(camera if isinstance(camera, Path) else None)
        if camera:
            context["permissions"] = ["camera", "microphone"]
        if context:
            made = browser.new_context(**{"viewport": VIEWPORT, **context})
            self._contexts.append(made)
            page = made.new_page()
        else:
            page = self._browsers.shared_context(browser).new_page()
            self._pages.append(page)
        page.set_default_timeout(timeout_ms)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        if url is not None:
            page.goto(url)
        return page

    def close(self) -> None:
        while self._pages:
            self._pages.pop().close()
        while self._contexts:
            self._contexts.pop().close()


class Browsers:
    """The run's Playwright driver and its Chromium browsers, launched when first asked for."""

    def __init__(self, playwright: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.playwright = playwright
        self._loop = loop
        self._launched: dict[str, Any] = {}
        self._shared: dict[int, Any] = {}

    def chromium(self, camera: Path | None = None):
        """The Chromium whose camera plays ``camera`` (a .y4m), or the test pattern when None."""
        key = str(camera or "")
        if key not in self._launched:
            args = CHROMIUM_ARGS + FAKE_CAMERA
            if camera is not None:
                args = [*args, f"--use-file-for-fake-video-capture={camera}"]
            self._launched[key] = self.playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        return self._launched[key]

    def shared_context(self, browser: Any):
        """The context that plain tabs of ``browser`` share (made at the first ask)."""
        if id(browser) not in self._shared:
            self._shared[id(browser)] = browser.new_context(viewport=VIEWPORT)
        return self._shared[id(browser)]

    def resume(self) -> None:
        asyncio.events._set_running_loop(self._loop)

    def pause(self) -> None:
        asyncio.events._set_running_loop(None)

    @contextlib.contextmanager
    def visiting(self) -> Iterator[Visit]:
        """Pages for one test; afterwards closes them and fails on any error thrown in them."""
        self.resume()
        visit = Visit(self)
        try:
            yield visit
        finally:
            try:
                visit.close()
            finally:
                self.pause()
        assert visit.errors == [], f"errors thrown in the page: {visit.errors}"


def running() -> Iterator[Browsers]:
    """Start the driver (skips when Chromium is absent); stop it and its browsers at the end."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    loop = asyncio.events._get_running_loop()
    assert loop is not None, "Playwright's sync API no longer marks its loop as running"
    browsers = Browsers(playwright, loop)
    browsers.pause()
    try:
        yield browsers
    finally:
        browsers.resume()
        try:
            for browser in browsers._launched.values():
                browser.close()
        finally:
            playwright.stop()
