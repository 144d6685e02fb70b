"""The upload ledger's pages: which page's video each upload is, so that Clear, a new video or
leaving deletes it, and no caller can push other visitors' videos out."""

from __future__ import annotations

import time

import gradio as gr

from ui.uploads import Uploads


def ledger() -> Uploads:
    return Uploads(gr.Blocks(), ttl_s=600, quota_bytes=10**9, max_files=10)


def upload(uploads: Uploads, name: str) -> str:
    path = uploads.new_folder() / name
    path.write_bytes(b"x" * 10)
    uploads.keep(str(path), 10, "visitor")
    return str(path)


def test_a_new_video_lets_the_old_upload_go_and_an_example_holds_nothing():
    uploads = ledger()
    first, second = upload(uploads, "a.mp4"), upload(uploads, "b.mp4")
    uploads.hold("page", first)
    uploads.hold("page", second)
    assert not uploads.holds(first) and uploads.shows("page", second)
    uploads.hold("page", "/srv/app/examples/genuine.mp4")  # an example: not an upload
    assert not uploads.holds(second)
    assert not uploads.shows("page", "/srv/app/examples/genuine.mp4")


def test_made_up_sessions_cannot_push_a_visitors_video_out():
    uploads = ledger()
    theirs, mine = upload(uploads, "theirs.mp4"), upload(uploads, "mine.mp4")
    uploads.hold("visitor-page", theirs)
    for number in range(Uploads.MAX_PAGES + 10):  # one caller's own upload under fresh names
        uploads.hold(f"made-up-{number}", mine)
    assert uploads.shows("visitor-page", theirs) and uploads.holds(theirs)
    assert uploads.shows(f"made-up-{Uploads.MAX_PAGES + 9}", mine)
    assert not uploads.shows("made-up-0", mine)  # an upload is one page's: the last to show it


def test_a_request_the_page_sent_before_its_last_change_changes_nothing():
    """A busy server can run a page's requests out of the order the page sent them: an upload's
    event after the page's later Clear, example or upload; a Clear after the page's next upload
    (it deleted the new upload the page showed); the first step of an Analyze after the page
    left (it held the upload for a page that was gone)."""
    uploads = ledger()
    first, second = upload(uploads, "a.mp4"), upload(uploads, "b.mp4")
    sent = [time.monotonic() + step for step in range(4)]  # when each request arrived
    assert uploads.leave("page", arrived=sent[1])  # the Clear, sent after the first upload's event
    assert not uploads.hold("page", first, arrived=sent[0])  # that event, run late: stale
    assert uploads.hold("page", second, arrived=sent[3])  # the next upload's event
    assert not uploads.leave("page", arrived=sent[2])  # a Clear sent before it, run late
    assert uploads.shows("page", second) and uploads.holds(second)
    uploads.leave("gone")  # the tab closed (its unload runs now)
    assert not uploads.hold("gone", first, arrived=time.monotonic() - 1)  # its Analyze, run late
    assert not uploads.shows("gone", first)


def test_a_clear_sent_before_a_new_upload_does_not_let_the_new_upload_go():
    """The page cleared its old video and then took a new one; the Clear arrived before the new
    upload's event but ran after it was stored: the new upload is the page's."""
    uploads = ledger()
    sent = time.monotonic()  # the Clear arrives
    path = upload(uploads, "b.mp4")  # the next upload is stored before the Clear runs
    assert uploads.leave("page", arrived=sent)
    assert uploads.hold("page", path, arrived=time.monotonic())
    assert uploads.shows("page", path) and uploads.holds(path)


def test_an_upload_event_read_after_a_later_clear_changes_nothing():
    """The page showed its upload and cleared it at once; the server's event loop, held up
    meanwhile, read the Clear before the upload's event (both waited in the kernel): the Clear
    arrived first by the stamps, yet the event is stale (and the page's step lets the upload go)."""
    uploads = ledger()
    path = upload(uploads, "a.mp4")  # stored before the page could send its event
    cleared = time.monotonic()
    assert uploads.leave("page", arrived=cleared)
    assert not uploads.hold("page", path, arrived=cleared + 0.001, first_shown=True)
    assert not uploads.shows("page", path)
    # A request that does not show the video first (the page's Analyze) is ordered by arrival.
    assert uploads.hold("page", path, arrived=cleared + 0.002)
    assert uploads.shows("page", path)


def test_a_deleted_upload_is_gone_and_other_videos_are_not():
    """An Analyze of an upload that was let go says so (ui/file_events.py), not "cannot be read"."""
    uploads = ledger()
    path = upload(uploads, "a.mp4")
    assert not uploads.gone(path)
    uploads.hold("page", path)
    uploads.leave("page")  # cleared: deleted
    assert uploads.gone(path)
    assert not uploads.gone("/srv/app/examples/genuine.mp4")  # not an upload: the engine says why
