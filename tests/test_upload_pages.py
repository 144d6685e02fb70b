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


def test_an_upload_event_overtaken_by_a_clear_sent_after_it_holds_nothing():
    """A page's events can run in another order than the page sent them (a busy server): its
    Clear, sent after the upload was stored, runs before the upload's own event; that late event
    must not hold the upload for a page that no longer shows it."""
    uploads = ledger()
    path = upload(uploads, "a.mp4")
    uploads.leave("page", arrived=time.monotonic())  # the Clear: arrived after the upload
    assert not uploads.hold("page", path, unless_let_go=True)
    assert not uploads.shows("page", path)


def test_a_clear_sent_before_a_new_upload_does_not_let_the_new_upload_go():
    """The page cleared its old video and then took a new one; the Clear arrived before the new
    upload was stored but ran after it (a busy server): the new upload is the page's."""
    uploads = ledger()
    sent = time.monotonic()  # the Clear arrives
    path = upload(uploads, "b.mp4")  # the next upload is stored before the Clear runs
    uploads.leave("page", arrived=sent)
    assert uploads.hold("page", path, unless_let_go=True)
    assert uploads.shows("page", path) and uploads.holds(path)
