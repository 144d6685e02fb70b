"""One Playwright driver and one Chromium (per kind of camera) for the whole test run.

A page a test opens is a new tab, closed when the test ends; the test fails on any error thrown
in its pages. Plain tabs share one browser context per Chromium, as a visitor's tabs share one
browser profile: a new context loads and compiles the page's scripts again, about 1 s of Chromium's
CPU more per tab (2.0 against 1.0 s, measured). Each tab is a Gradio session of its own either
way, and the app keeps nothing in a context (no cookies; Gradio's run history, which it would
keep in localStorage, is off in app.py): a test fails if the shared context holds cookies or
storage afterwards. A tab with options of its own (viewport, colour scheme, phone, camera
permission) gets a context of its own, and so does a third plain tab open at once: Chromium
opens at most 6 connections to one server per context, and a running page holds two or three
streams, so more tabs would queue in the browser rather than reach the server together.

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

# Debian's chromium-headless-shell (README's test set-up): the same Chromium release built for
# headless use only, the build Playwright itself runs headless. A page costs it about 30 % less
# CPU than the full browser in --headless mode (16 against 22-24 s of Chromium's CPU for six
# analyses, measured). A machine set up with the full `chromium` package runs the tests in that.
_BUILDS = (Path("/usr/bin/chromium-headless-shell"), Path("/usr/bin/chromium"))
CHROMIUM = next((path for path in _BUILDS if path.exists()), _BUILDS[0])
NOT_INSTALLED = "neither Debian's chromium-headless-shell nor chromium is installed"
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
SHARED_TABS = 2  # plain tabs open at once in the shared context; more get contexts of their own


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
        shared = None if context else self._browsers.shared_context(browser)
        if shared is not None and len(shared.pages) < SHARED_TABS:
            page = shared.new_page()
            self._pages.append(page)
        else:
            made = browser.new_context(**{"viewport": VIEWPORT, **context})
            self._contexts.append(made)
            page = made.new_page()
        page.set_default_timeout(timeout_ms)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        if url is not None:
            page.goto(url)
        return page

    def close(self) -> None:
        """Close the test's tabs and contexts, every one even when closing another fails."""
        with contextlib.ExitStack() as closing:
            for page in self._pages:
                closing.callback(page.close)
            for made in self._contexts:
                closing.callback(made.close)
            self._pages, self._contexts = [], []


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
                left = self._left_in_shared_contexts()
            finally:
                self.pause()
        assert visit.errors == [], f"errors thrown in the page: {visit.errors}"
        assert left == [], f"left in the shared browser context after the test: {left}"

    def _left_in_shared_contexts(self) -> list[str]:
        """Close tabs the test did not open itself (popups); name any cookie or stored item."""
        left = []
        for shared in self._shared.values():
            for page in shared.pages:
                page.close()
            state = shared.storage_state()
            left += [f"cookie {c['name']}" for c in state["cookies"]]
            left += [
                f"{origin['origin']} localStorage {item['name']}"
                for origin in state["origins"]
                for item in origin["localStorage"]
            ]
        return left


def running() -> Iterator[Browsers]:
    """Start the driver (skips when Chromium is absent); stop it and its browsers at the end."""
    if not CHROMIUM.exists():
        pytest.skip(NOT_INSTALLED)
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
