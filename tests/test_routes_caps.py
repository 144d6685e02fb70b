"""What the HTTP attack of round s3 found on the served app's routes: uncapped bodies on Gradio's
other POST routes, upload ids never freed, an escaped key past the join cap, tracebacks and 500s
for trivial requests.

The app with small upload limits on 127.0.0.1 (as in test_upload_limits); raw sockets where a
client would lie.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import loopback
import pytest
from fastapi.routing import APIRoute
from test_upload_limits import address, answer, connect, forget_all, form, head, served, settled, upload

import ui.body_reads
import ui.upload_ids
from ui.guards import Runs
from ui.route_rules import OTHER_BYTES
from ui.routes import JOIN_BYTES, McpCallers, Routes

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(hub_cache: Path) -> Iterator[tuple[str, gr.Blocks]]:
    # A long upload timeout: a slow MCP body must be ended by its rate, not by the deadline.
    with served(hub_cache, DEEPFAKE_UPLOAD_TIMEOUT_S="120") as running:
        yield running


@pytest.fixture
def empty(server: tuple[str, gr.Blocks]) -> tuple[str, gr.Blocks]:
    """The module's server with no upload held (what earlier tests stored is deleted, and what
    their refused bodies held is given back: on a busy machine a moment after their answer)."""
    settled(server[1])
    forget_all(server[1])
    assert server[1].uploads.used() == (0, 0), "uploads still held after the earlier tests"
    return server


def post_routes(routes: list[Any]) -> list[str]:
    """Every POST route of ``routes`` (FastAPI's included routers walked), with ``x`` for each path
    parameter."""
    found = []
    for route in routes:
        if hasattr(route, "original_router"):  # an APIRouter included (FastAPI 0.165)
            found += post_routes(route.original_router.routes)
        elif isinstance(route, APIRoute) and "POST" in route.methods:
            found.append(re.sub(r"\{[^}]*\}", "x", route.path))
    return found


def test_every_post_route_but_the_upload_caps_its_body(server):
    """/component_server, /reset, /vibe-edit... buffered and parsed any body: one of 100 MB took
    1.5 GB and stalled every page for 13 s. Sent with a length and chunked, a route Gradio may add
    later included."""
    url, demo = server
    routes = post_routes(demo.app.routes)
    small_routes = ["/gradio_api/component_server", "/gradio_api/reset", "/gradio_api/vibe-edit"]
    assert set(small_routes) <= set(routes), routes
    large = {"/gradio_api/upload", "/gradio_api/stream/x"}  # their own limits (8 MB for frames)
    closed = ("/gradio_api/call/v2/x", "/gradio_api/call/v2/x/")  # 404 before any byte is read
    # Every route: over the largest cap but the upload's and the frames' (joins: JOIN_BYTES).
    # Gradio's other routes and one a later Gradio may add: over the small cap.
    checks = [(path, JOIN_BYTES + 1) for path in routes if path not in large]
    checks += [(path, OTHER_BYTES + 1) for path in [*small_routes, "/gradio_api/added-later"]]
    with loopback.client(timeout=30) as client:
        for path, size in checks:
            body = b'{"data": "' + b"x" * size + b'"}'
            chunks = (body[start : start + 4096] for start in range(0, len(body), 4096))
            declared = client.post(url.rstrip("/") + path, content=body, headers=JSON)
            sent = client.post(url.rstrip("/") + path, content=chunks, headers=JSON)  # chunked
            expected = 404 if path in closed else 413
            assert (declared.status_code, sent.status_code) == (expected, expected), (path, declared.text)
        small = client.post(f"{url}gradio_api/reset", json={"event_id": "x"})
        assert small.status_code == 200, small.text
    # The upload route keeps its own limit (0.6 MB here), far above the small cap.
    assert upload(url, os.urandom(4 * OTHER_BYTES)).status_code == 200


def test_a_join_over_the_cap_is_judged_by_the_function_the_parser_sees(server):
    """An escaped key ("fn\\u005findex") named the analysis after a stream's index: the pattern on
    the raw bytes saw the stream, Gradio's parser the analysis (the last key wins): 200."""
    url, demo = server
    stream = next(index for index, fn in demo.fns.items() if fn.connection == "stream")
    other = next(index for index, fn in demo.fns.items() if fn.connection != "stream" and fn.queue)
    padding = "x" * (JOIN_BYTES + 1000)
    escaped = (
        f'{{"fn_index": {stream}, "data": ["{padding}"], "session_hash": "s3x", "fn\\u005findex": {other}}}'
    )
    as_text = json.dumps({"fn_index": str(other), "data": [padding], "session_hash": "s3y"})
    for body in (escaped, as_text):
        refused = loopback.post(
            f"{url}gradio_api/queue/join",
            content=body,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert refused.status_code == 413, refused.text[:300]

    # A stream's large join still reaches Gradio (served here by a stand-in app that answers 200).
    reached: list[bytes] = []

    async def app(scope, receive, send) -> None:
        reached.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def join(body: bytes) -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message) -> None:
            pass

        scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join", "headers": []}
        await Routes(app, blocks=demo, runs=Runs(), callers=McpCallers(0))(scope, receive, send)

    joined = json.dumps({"fn_index": stream, "data": [padding], "session_hash": "s3z"}).encode()
    asyncio.run(join(joined))
    assert reached == [joined]


def test_upload_ids_are_freed_and_long_ones_refused(empty, monkeypatch: pytest.MonkeyPatch):
    """Each upload's ?upload_id= stayed in Gradio's record for good (1500 uploads with 60 kB ids:
    +89 MB); asking for the progress of an unknown id left an entry too."""
    url, demo = empty
    monkeypatch.setattr(ui.upload_ids, "FORGET_S", 0.3)
    record = ui.upload_ids.statuses()
    ids = [f"s3-{number}" for number in range(3)]
    barrier, answers, said = threading.Barrier(len(ids)), [], []

    def send(upload_id: str) -> None:
        data, kind = form(b"x" * 1000)
        barrier.wait()
        answer = loopback.post(
            f"{url}gradio_api/upload?upload_id={upload_id}",
            content=data,
            headers={"content-type": kind},
            timeout=30,
        )
        answers.append(answer.status_code)
        said.append(answer.text)

    threads = [threading.Thread(target=send, args=(upload_id,)) for upload_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * len(ids), said
    deadline = time.monotonic() + 10
    while any(i in record._statuses or i in record._signals for i in ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(i in record._statuses or i in record._signals for i in ids)

    unknown = "s3-nobody"
    assert loopback.get(f"{url}gradio_api/upload_progress?upload_id={unknown}", timeout=30).status_code == 404
    # Freed when the request ends on the server, which a busy machine finishes after the answer.
    deadline = time.monotonic() + 10
    while unknown in record._signals and time.monotonic() < deadline:
        time.sleep(0.1)
    assert unknown not in record._signals

    data, kind = form(b"x" * 1000)
    # Long, but within what the HTTP server reads (h11: 16 kB of request line and headers; past
    # that it closes the connection, and a client still sending may see a reset, not its 400).
    long_id = "a" * 10_000
    refused = loopback.post(
        f"{url}gradio_api/upload?upload_id={long_id}",
        content=data,
        headers={"content-type": kind},
        timeout=30,
    )
    assert refused.status_code == 400 and ui.upload_ids.REFUSED in refused.text, refused.text[:200]
    assert long_id not in record._statuses and long_id not in record._signals
    asked = loopback.get(f"{url}gradio_api/upload_progress?upload_id={long_id}", timeout=30)
    assert asked.status_code == 400 and ui.upload_ids.REFUSED in asked.text, asked.text[:200]
    assert long_id not in record._signals
    assert settled(demo)[1] == 3  # the three uploads, nothing of the refused one


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"{record.getMessage()} {record.exc_info is not None}")


def test_an_unknown_queue_session_writes_no_traceback(server):
    """Each GET /queue/data?session_hash=<unknown> wrote 80 lines of traceback (uvicorn's log)."""
    url, _ = server
    records = Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(records)
    try:
        for number in range(3):
            answered = loopback.get(f"{url}gradio_api/queue/data?session_hash=s3-nope{number}", timeout=30)
            assert answered.status_code == 200
            event = json.loads(answered.text.removeprefix("data: "))
            assert event["msg"] == "unexpected_error" and event["session_not_found"] is True
    finally:
        logger.removeHandler(records)
    assert records.texts == []


def raw_upload(url: str, body: bytes, kind: str) -> tuple[int, str]:
    with connect(url) as sock:
        sock.sendall(
            head("/gradio_api/upload", {"Content-Type": kind, "Content-Length": str(len(body))}) + body
        )
        return answer(sock)


def test_odd_upload_forms_get_a_plain_400(empty):
    """A boundary over 256 characters gave a 500 and a traceback; two files (one per request is
    the rule) or a malformed part header were told "Headers exceeded maximum allowed size" (413)."""
    url, demo = empty
    body, _ = form(b"x" * 100)
    huge = "b" * 5000
    status, text = raw_upload(
        url, body.replace(b"--x", f"--{huge}".encode()), f"multipart/form-data; boundary={huge}"
    )
    assert (status, text) == (400, "Uploads must be multipart/form-data.")
    two, kind = form(b"x" * 100, files=2)
    status, text = raw_upload(url, two, kind)
    assert status == 400 and "one file per request" in text, text
    malformed = body.replace(b"--x--", b"--x") + body  # a part that starts with a second boundary
    status, text = raw_upload(url, malformed, kind)
    assert (status, text) == (400, "The upload's multipart form is malformed.")
    assert settled(demo) == (0, 0)


def held_joins(url: str, sources: list[str]) -> list[int]:
    """Statuses of joins from ``sources``, sent at the same instant, that declare 7.9 MB and send
    nothing."""
    barrier, statuses = threading.Barrier(len(sources)), []

    def join(source: str) -> None:
        with connect(url, source) as sock:
            headers = {"Content-Type": "application/json", "Content-Length": "7900000"}
            barrier.wait()
            sock.sendall(head("/gradio_api/queue/join", headers))
            statuses.append(answer(sock)[0])

    threads = [threading.Thread(target=join, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_large_join_bodies_are_read_within_a_budget(server, monkeypatch: pytest.MonkeyPatch):
    """Forty joins of one address declaring 7.9 MB and sending all but a byte held 320 MB for a
    minute: at most two per visitor (16 MB), and as many as TOTAL allows overall (two here);
    those let in end after IDLE_S without a byte (1 s here)."""
    url, _ = server
    monkeypatch.setattr(ui.body_reads, "IDLE_S", 1.0)
    assert held_joins(url, [address()] * 3) == [408, 408, 503]
    monkeypatch.setattr(ui.body_reads, "TOTAL", 16_000_000)
    assert held_joins(url, [address() for _ in range(3)]) == [408, 408, 503]


def trickled(url: str, path: str, headers: dict[str, str]) -> int:
    """The status answered to a body sent 10 bytes every 0.2 s (0 if none came within 15 s)."""
    with connect(url, address()) as sock:
        sock.sendall(head(path, headers))
        sock.settimeout(0.2)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"[" * 10)
                return int(sock.recv(100).split(b" ")[1])
            except TimeoutError:
                continue
            except OSError:  # closed by the server after its answer
                break
        return 0


def test_bodies_trickling_in_are_ended(server, monkeypatch: pytest.MonkeyPatch):
    """Two MCP posts sending a byte every 5 s kept every video call out for the whole upload
    timeout (300 s by default, 120 s here); a join's body the same for a minute. Below MIN_RATE
    after GRACE_S (0.5 s here) a body is ended."""
    url, _ = server
    monkeypatch.setattr(ui.body_reads, "GRACE_S", 0.5)
    json_post = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    assert trickled(url, "/gradio_api/queue/join", {**json_post, "Content-Length": "60000"}) == 408
    assert trickled(url, "/gradio_api/mcp/", {**json_post, "Content-Length": "200000"}) == 408
