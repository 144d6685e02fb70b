"""A page whose join is refused after its own check let the click through is left ready, in Chromium.

The page asks whether it may start (a quick step), then joins; a refusal at the join told as a
validator's list of messages made Gradio's JS mark the run complete with no step after it:
Analyze stayed disabled, Stop visible, "Analysing…" shown for good.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import loopback
import pytest
from served_app import cancel, completed, fn_index, join, upload
from test_browser import CHROMIUM, NOT_INSTALLED, analyze_button, idle, open_page, stop_button
from test_browser import upload as upload_in_page

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NOT_INSTALLED)


@pytest.fixture(scope="module")
def one_per_visitor(served_apps: Callable[[dict[str, str]], str]) -> str:
    """The app with one analysis per visitor (shared with any test of the session that asks for it)."""
    return served_apps({"DEEPFAKE_MAX_QUEUED_PER_VISITOR": "1"})


def test_a_join_refused_after_the_pages_check_leaves_the_page_ready(one_per_visitor: str, genuine_clip: Path):
    from playwright.sync_api import expect, sync_playwright

    url = one_per_visitor if one_per_visitor.endswith("/") else f"{one_per_visitor}/"
    api = loopback.client(timeout=60)  # the same visitor as the page: 127.0.0.1
    file = upload(api, url, genuine_clip)
    report, session, taken = fn_index(url, "report"), secrets.token_hex(8), []

    def other_analysis_first(route) -> None:
        # Between the page's check and its join, the visitor's one place is taken.
        taken.append(join(api, url, report, [file, 60, None, True, "app", None, None], session))
        route.continue_()

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser, page = open_page(playwright, url, errors)
        try:
            upload_in_page(page, genuine_clip)
            page.route("**/gradio_api/queue/join*", other_analysis_first)
            analyze_button(page).click()
            expect(page.get_by_text("You already have 1 analysis waiting")).to_be_visible()
            expect(stop_button(page)).to_be_hidden(timeout=20_000)
            idle(page)
            expect(page.get_by_text("Analysing")).to_have_count(0)
        finally:
            browser.close()
            for answer in taken:
                if answer.status_code == 200:
                    cancel(api, url, report, session, answer.json()["event_id"])
                    completed(api, url, session)
    assert [a.status_code for a in taken] == [200]
    assert errors == [], errors
