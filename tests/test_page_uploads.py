"""A page's upload is the page's from the moment it arrives: clearing it or closing the tab gives
the visitor's upload back at once, analysed or not (the page says so under the video)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

# One upload per visitor: the second upload is refused unless the first was given back.
ONE_UPLOAD = {"DEEPFAKE_UPLOADS_PER_VISITOR": "1", "DEEPFAKE_SECOND_OPINION": "off"}


@pytest.fixture
def one_upload_url(served_apps) -> str:
    return served_apps(ONE_UPLOAD)


def uploaded(page, clip: Path) -> None:
    """Upload ``clip`` as a visitor does and wait until the player shows it."""
    from playwright.sync_api import expect

    page.locator("input[type=file]").first.set_input_files(str(clip))
    expect(page.get_by_test_id("Video-player")).to_have_attribute(
        "src", re.compile(re.escape(clip.name) + "$")
    )


def uploaded_once_given_back(page, clip: Path, within_s: float = 30) -> None:
    """Upload ``clip`` where the visitor's one upload was just given back, trying again as a
    visitor told to wait does: the page's clear or unload event reaches the server a moment after
    the page moves on (seconds on a busy machine). An upload not given back stays held for the
    TTL (10 minutes), and this fails."""
    from playwright.sync_api import expect

    player, shown = page.get_by_test_id("Video-player"), re.compile(re.escape(clip.name) + "$")
    files = page.locator("input[type=file]")
    deadline = time.monotonic() + within_s
    files.first.set_input_files(str(clip))
    while True:
        try:
            expect(player).to_have_attribute("src", shown, timeout=2_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if files.count():  # refused (a slow upload still going has no file input): again
            files.first.set_input_files(str(clip))


def cleared(page) -> None:
    from playwright.sync_api import expect

    page.locator(".block", has=page.get_by_test_id("video")).last.get_by_role(
        "button", name="Clear", exact=True
    ).click()
    expect(page.get_by_test_id("Video-player")).to_have_count(0)


def test_clearing_an_upload_never_analysed_gives_it_back(
    pages, one_upload_url, genuine_clip, manipulated_clip
):
    page = pages.open(one_upload_url)
    uploaded(page, genuine_clip)
    for clip in (manipulated_clip, genuine_clip, manipulated_clip):
        cleared(page)
        uploaded_once_given_back(page, clip)


def test_a_new_upload_counts_while_the_last_one_is_unanswered(
    pages, one_upload_url, genuine_clip, manipulated_clip
):
    """A busy server answers the page's upload event late: the next upload's event must still be
    sent (Gradio's default trigger mode drops it), or that upload is shown by no page and stays
    the visitor's for the TTL, and their next upload is refused."""
    page = pages.open(one_upload_url)
    late: list[tuple[object, object]] = []

    def answer_late(route) -> None:
        # The server handles the request now; the page sees its answer only when released.
        if genuine_clip.name in (route.request.post_data or ""):
            late.append((route, route.fetch(timeout=120_000)))
        else:
            route.continue_()

    page.route("**/gradio_api/run/**", answer_late)
    # The test before leaves this visitor's one upload to its page, until that page's unload
    # event arrives.
    uploaded_once_given_back(page, genuine_clip)
    deadline = time.monotonic() + 30
    while not late and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert late, "the page never sent its upload event"
    cleared(page)
    uploaded_once_given_back(page, manipulated_clip)
    cleared(page)
    for route, response in late:
        route.fulfill(response=response)
    page.unroute("**/gradio_api/run/**", answer_late)
    uploaded_once_given_back(page, genuine_clip)


def test_closing_the_tab_gives_its_upload_back(pages, served_apps, genuine_clip, manipulated_clip):
    # An app of its own: the other test's last upload is its page's until that page's unload
    # event arrives, which a busy machine may deliver after this test has begun.
    url = served_apps({**ONE_UPLOAD, "DEEPFAKE_UPLOAD_TTL_S": "599"})
    first = pages.open(url)
    uploaded(first, genuine_clip)
    first.close()  # Gradio's unload event follows: the page's upload goes with it
    uploaded_once_given_back(pages.open(url), manipulated_clip)
