"""The page's events handled out of order by a busy server, against ``python app.py`` (the
server of tests/test_routes.py): a page's requests go out in order, but a server whose event
loop or workers are held up handles them in any order. Each later request wins: an upload event,
a Clear or a Stop that came before the page's next step changes nothing after it."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import test_routes
from python_apps import PythonApps
from served_app import (
    cancel,
    completed,
    ended,
    fn_index,
    join,
    page_busy,
    page_new_video,
    page_stop,
    started,
    upload,
    visitor,
)

ROUTE = "gradio_api/run/predict"
SKIPPED = {"__type__": "update"}  # an output the step left as the page shows it
STATUS = 8  # the status line among the page steps' outputs


@pytest.fixture(scope="module")
def served(python_apps: PythonApps) -> tuple[str, Path]:
    """The ``python app.py`` of tests/test_routes.py (its routes_env): its URL and log file."""
    url, _, log = python_apps.get(test_routes.__name__)
    return url, log


def verdict_of(done: dict) -> str | None:
    """The verdict label of a completed page analysis; None when it left the verdict as it was."""
    assert done["success"], done
    verdict = done["output"]["data"][0]
    assert isinstance(verdict, dict), verdict
    return None if verdict == SKIPPED else verdict.get("label")


def later_body(client: httpx.Client, url: str, body: dict, meanwhile: Callable[[], None]) -> httpx.Response:
    """Post ``body`` to a page step so that the server notes its arrival now but reads its body
    (and runs the step) only after ``meanwhile()`` has run; returns the step's answer."""
    data = json.dumps(body).encode()
    arrived, done = threading.Event(), threading.Event()

    def slowly() -> Iterator[bytes]:
        yield data[:10]
        arrived.set()
        done.wait(timeout=60)
        yield data[10:]

    kind = {"content-type": "application/json"}
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(client.post, f"{url}{ROUTE}", content=slowly(), headers=kind)
        assert arrived.wait(timeout=60)
        time.sleep(1.0)  # the headers are in: the server has noted when it arrived
        try:
            meanwhile()
        finally:
            done.set()
        return late.result(timeout=60)


def test_a_clear_handled_after_a_link_analysis_leaves_it_alone(served: tuple[str, Path]):
    """The page says "clear the video to check the link": a Clear that came before the link's
    Analyze, handled after it, ended the link's run (the Analyze of a link noted no change of
    the page's video)."""
    url, _ = served
    client, session = visitor(30), secrets.token_hex(8)
    clear = {"data": [None], "fn_index": page_new_video(url), "session_hash": session}
    link = {
        "data": [None, "http://127.0.0.1:9/clip.mp4"],
        "fn_index": page_busy(url),
        "session_hash": session,
    }

    def analyse_the_link() -> None:
        said = client.post(f"{url}{ROUTE}", json=link)
        assert said.status_code == 200 and "Analysing" in said.text, said.text[:300]

    answer = later_body(client, url, clear, analyse_the_link)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["data"][STATUS] == SKIPPED, answer.text[:500]


def test_a_stop_for_an_earlier_analysis_leaves_the_next_alone(served: tuple[str, Path], genuine_clip: Path):
    """A double-click's second Stop, handled after the visitor's next Analyze, ended that new
    analysis: the page said "Stopped." and never showed its verdict. A Stop names the analysis
    the page showed when it was clicked."""
    url, _ = served
    client, session = visitor(31), secrets.token_hex(8)
    file = upload(client, url, genuine_clip)
    quick = {"data": [file, None], "fn_index": page_busy(url), "session_hash": session}
    earlier = client.post(f"{url}{ROUTE}", json=quick).json()["data"][-1]
    latest = client.post(f"{url}{ROUTE}", json=quick).json()["data"][-1]
    assert earlier and latest and earlier != latest
    data = [file, None, 4, None, False, "app", "off", None]
    assert join(client, url, fn_index(url, private_inputs=8), data, session).status_code == 200
    stop = {"data": [earlier], "fn_index": page_stop(url), "session_hash": session}
    answer = client.post(f"{url}{ROUTE}", json=stop)
    assert answer.status_code == 200 and answer.json()["data"][STATUS] == SKIPPED, answer.text[:500]
    assert verdict_of(completed(client, url, session)) in ("FAKE", "REAL", "UNCERTAIN")
    # The Stop for the analysis the page shows still stops it.
    assert client.post(f"{url}{ROUTE}", json={**stop, "data": [latest]}).json()["data"][STATUS] == "Stopped."


def test_a_stop_before_its_analysis_joins_the_queue_stops_it(served: tuple[str, Path], genuine_clip: Path):
    """The page holds an analysis's join back until its previous analysis has ended (an example
    clicked during a run): a Stop clicked meanwhile found nothing to stop, said "Stopped.", and
    the analysis then ran. The page's next analysis is not stopped by it."""
    url, _ = served
    client, session = visitor(32), secrets.token_hex(8)
    file = upload(client, url, genuine_clip)
    quick = {"data": [file, None], "fn_index": page_busy(url), "session_hash": session}
    page = fn_index(url, private_inputs=8)
    for stopped in (True, False):
        token = client.post(f"{url}{ROUTE}", json=quick).json()["data"][-1]
        data = [file, None, 4, None, False, "app", "off", token]
        if stopped:
            stop = {"data": [token], "fn_index": page_stop(url), "session_hash": session}
            assert client.post(f"{url}{ROUTE}", json=stop).json()["data"][STATUS] == "Stopped."
        assert join(client, url, page, data, session).status_code == 200
        # Stopped: it ended as it started, its outputs left as the page shows them ("Stopped.").
        expected = (None,) if stopped else ("FAKE", "REAL", "UNCERTAIN")
        assert verdict_of(completed(client, url, session)) in expected


def test_an_analysis_the_page_was_told_did_not_start_never_runs(served: tuple[str, Path], genuine_clip: Path):
    """The page holds an analysis's join back while its previous one ends, and sends it later: an
    Analyze the page had answered "Not started" (the visitor's limit) then ran, and showed its
    verdict under that line with no Stop (visitor s9)."""
    url, _ = served
    client, first, second = visitor(33), secrets.token_hex(8), secrets.token_hex(8)
    file = upload(client, url, genuine_clip)
    page = fn_index(url, private_inputs=8)
    running = join(client, url, page, [file, None, 60, None, True, "app", "off", None], first)
    assert running.status_code == 200
    messages = started(client, url, first)
    quick = {"data": [file, None], "fn_index": page_busy(url), "session_hash": second}
    said = client.post(f"{url}{ROUTE}", json=quick).json()["data"]
    assert "Not started" in said[STATUS], said[STATUS]
    cancel(client, url, page, first, running.json()["event_id"])
    ended(messages, client, url, first, running.json()["event_id"])
    held_back = [file, None, 4, None, False, "app", "off", said[-1]]  # sent once the first ended
    assert join(client, url, page, held_back, second).status_code == 200
    assert verdict_of(completed(client, url, second)) is None


def test_an_upload_event_that_arrives_after_analyze_leaves_the_run_alone(
    served: tuple[str, Path], genuine_clip: Path
):
    """On a busy server the page's upload event can reach it after its Analyze click's steps (both
    go out at once): it ended the run the click had just started, and the page showed nothing."""
    url, _ = served
    client, session = visitor(26), secrets.token_hex(8)
    file = upload(client, url, genuine_clip)
    quick = {"data": [file, None], "fn_index": page_busy(url), "session_hash": session}
    assert "Analysing" in client.post(f"{url}{ROUTE}", json=quick).text
    data = [file, None, 4, None, False, "app", "off", None]
    assert join(client, url, fn_index(url, private_inputs=8), data, session).status_code == 200
    late = {"data": [file], "fn_index": page_new_video(url), "session_hash": session}
    assert client.post(f"{url}{ROUTE}", json=late).status_code == 200
    assert verdict_of(completed(client, url, session)) in ("FAKE", "REAL", "UNCERTAIN")


def test_an_upload_event_overtaken_by_clear_gives_the_upload_back(
    served: tuple[str, Path], genuine_clip: Path
):
    """On a busy server the page's Clear could run before the upload event the page sent before
    it: that late event held the upload for a page that no longer showed it, until the visitor
    left (with one upload per visitor, every later upload was refused). Here the upload event
    arrives first and its body is held back until the Clear has run."""
    url, _ = served
    client, session = visitor(27), secrets.token_hex(8)
    file = upload(client, url, genuine_clip)
    body = {"fn_index": page_new_video(url), "session_hash": session}

    def clear() -> None:
        assert client.post(f"{url}{ROUTE}", json={**body, "data": [None]}).status_code == 200

    assert later_body(client, url, {**body, "data": [file]}, clear).status_code == 200
    assert not Path(file["path"]).exists()  # given back: deleted at once, as Clear deletes it


def test_an_upload_event_read_after_the_clear_gives_the_upload_back(
    served: tuple[str, Path], genuine_clip: Path
):
    """A server whose event loop is held up reads the requests that waited meanwhile in any
    order: the page's Clear could be read, and stamped, before the upload event the page sent
    before it. The event then held the upload for a page that showed nothing (seen in a full
    run: the visitor's next uploads refused for the 10-minute TTL). Here the Clear is sent first."""
    url, _ = served
    client, session = visitor(28), secrets.token_hex(8)
    file = upload(client, url, genuine_clip)
    step, route = page_new_video(url), f"{url}{ROUTE}"
    for shown in (None, file):  # the Clear, then the upload's event
        answer = client.post(route, json={"data": [shown], "fn_index": step, "session_hash": session})
        assert answer.status_code == 200, answer.text[:300]
    assert not Path(file["path"]).exists()  # given back: deleted at once, as Clear deletes it
    # The page's next upload is its video; the stale event sent again changes nothing.
    other = upload(client, url, genuine_clip)
    for shown in (other, file):
        answer = client.post(route, json={"data": [shown], "fn_index": step, "session_hash": session})
        assert answer.status_code == 200, answer.text[:300]
    assert Path(other["path"]).is_file()


def test_an_upload_after_a_clear_is_the_pages(served: tuple[str, Path], genuine_clip: Path):
    """The other side of the test above: a Clear, then an upload and its event (the page picks
    another video) keep the new upload for the page."""
    url, _ = served
    client, session = visitor(29), secrets.token_hex(8)
    step, route = page_new_video(url), f"{url}{ROUTE}"
    body = {"fn_index": step, "session_hash": session}
    assert client.post(route, json={**body, "data": [None]}).status_code == 200  # the Clear
    file = upload(client, url, genuine_clip)
    assert client.post(route, json={**body, "data": [file]}).status_code == 200
    assert Path(file["path"]).is_file()
    assert client.post(route, json={**body, "data": [None]}).status_code == 200  # cleared again: gone
    assert not Path(file["path"]).exists()
