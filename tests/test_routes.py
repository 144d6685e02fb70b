"""Every route under the same limits, against ``python app.py``: direct calls, cancels, MCP
callers, refused values, the page's own event and Gradio's monitoring."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import loopback
import pytest
from conftest import REPO_ROOT
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from loopback import api
from python_apps import PythonApps, register
from served_app import (
    at_once,
    cancel,
    completed,
    ended,
    fn_index,
    join,
    page_busy,
    started,
    upload,
    visitor,
)

from ui.routes import READ_S

# Larger than a cancel (a few hundred bytes) or a join (a few kB) ever needs.
CANCEL_TOO_LARGE = 10_000
JOIN_TOO_LARGE = 100_000


def routes_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """One analysis per visitor (two MCP callers would lock each other out), the operator's own
    weights file, and only the first 3.5 s of a clip analysed (a note)."""
    return {
        "DEEPFAKE_MAX_QUEUED_PER_VISITOR": "1",
        "DEEPFAKE_WEIGHTS_PATH": str(request.getfixturevalue("checkpoint_file")),
        "DEEPFAKE_MAX_DURATION_S": "3.5",
    }


register(__name__, "served", routes_env)


@pytest.fixture(scope="module")
def served(python_apps: PythonApps) -> tuple[str, Path]:
    """This module's ``python app.py`` (see :func:`routes_env`): its URL and log file."""
    url, _, log = python_apps.get(__name__)
    return url, log


def test_direct_calls_skip_no_limit(served: tuple[str, Path], genuine_clip: Path):
    """/run and /api (outside the queue) are closed to the analyses; /call joins under the limits."""
    url, _ = served
    client = visitor(11)
    file = upload(client, url, genuine_clip)
    for route in ("run/report", "api/report", "run/predict"):
        answer = client.post(f"{url}gradio_api/{route}", json={"data": [file, 2, None]})
        assert answer.status_code == 404, (route, answer.status_code, answer.text[:300])
    # Gradio's simple API queues: three at once from one address, one let in (the limit is 1).
    body = {"data": [file, 60, None, True, "app", None, None]}
    answers = at_once([lambda: client.post(f"{url}gradio_api/call/report", json=body) for _ in range(3)])
    admitted = [a for a in answers if a.status_code == 200]
    assert len(admitted) == 1, [(a.status_code, a.text[:200]) for a in answers]
    event = admitted[0].json()["event_id"]
    cancel(client, url, fn_index(url, "report"), event, event)  # its session is its event id


def test_a_cancel_naming_another_session_does_nothing(served: tuple[str, Path], genuine_clip: Path):
    url, log = served
    before = len(log.read_text())
    owner = api(url)
    job = owner.submit(handle_file(str(genuine_clip)), 60, None, True, "app", api_name="/report")
    deadline = time.monotonic() + 60
    while job.status().code.name not in ("PROCESSING", "PROGRESS") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.status().code.name in ("PROCESSING", "PROGRESS"), job.status()
    # Another client knows (or guesses) the session; the event id is the server's, and unknown to it.
    fn = fn_index(url, "report")
    cancel(visitor(12), url, fn, owner.session_hash, secrets.token_hex(16))
    time.sleep(2.0)
    assert not job.done(), "another client's cancel ended the run"
    assert "stopped the analysis" not in log.read_text()[before:]
    job.cancel()  # the owner's own cancel does end it
    deadline = time.monotonic() + 30
    while "stopped the analysis" not in log.read_text()[before:] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "stopped the analysis" in log.read_text()[before:]


def test_cancel_bodies_are_capped(served: tuple[str, Path]):
    url, _ = served
    answer = loopback.post(f"{url}gradio_api/cancel", content=b"{" + b" " * CANCEL_TOO_LARGE + b"}")
    assert answer.status_code == 413


def test_unknown_routes_ending_in_cancel_are_not_cancels():
    """Only the exact cancel route is read as a cancel; any other path is capped like every route
    Routes does not name (a body of 1 MB: 413, the app never called)."""
    from ui.guards import Runs
    from ui.routes import McpCallers, Routes

    called: list[str] = []
    statuses: list[int] = []

    async def app(scope, receive, send) -> None:
        called.append(scope["path"])

    async def receive() -> dict:
        return {"type": "http.request", "body": b"x" * 1_000_000, "more_body": True}

    async def send(message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    routes = Routes(app, blocks=None, runs=Runs(), callers=McpCallers(0))  # type: ignore[arg-type]
    for path in ("/gradio_api/anything/cancel", "/cancel", "/gradio_api/cancel/x"):
        scope = {"type": "http", "method": "POST", "path": path, "headers": []}
        asyncio.run(routes(scope, receive, send))
    assert (called, statuses) == ([], [413, 413, 413])


def mcp_call(client: httpx.Client, url: str, tool: str, arguments: dict) -> dict:
    """One MCP ``tools/call`` over the streamable HTTP transport; returns its result."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    answer = client.post(f"{url}gradio_api/mcp/", json=request, headers=headers, timeout=300)
    answer.raise_for_status()
    for line in answer.text.splitlines():
        if line.startswith("data:"):
            return json.loads(line[5:])["result"]
    return answer.json()["result"]


def test_two_mcp_callers_are_two_visitors(served: tuple[str, Path], genuine_clip: Path):
    """Gradio's MCP server joins through one loopback client: each caller must still count alone.

    The first caller's analysis is running when the second calls; with one analysis per visitor
    the second was refused ("You already have 1 analyses"), or its run stopped the first's (one
    session for every MCP call)."""
    url, _ = served
    callers = {number: visitor(number) for number in (21, 22)}
    links = {}
    for number, client in callers.items():
        stored = upload(client, url, genuine_clip)["path"]
        links[number] = f"{url}gradio_api/file={quote(stored)}"
    results: dict[int, object] = {}

    def call(number: int, frames: int, explain: bool, after_s: float) -> None:
        time.sleep(after_s)  # the first caller's analysis is running when the second calls
        arguments = {"video": links[number], "frames": frames, "explain": explain}
        results[number] = mcp_call(callers[number], url, "report", arguments)

    started = time.monotonic()
    at_once([lambda: call(21, 40, True, 0.0), lambda: call(22, 4, False, 1.5)])
    assert time.monotonic() - started > 3.0, "the first analysis ended before the second call"
    for number in (21, 22):
        result = results[number]
        assert isinstance(result, dict) and not result.get("isError"), (number, result)
        assert "'verdict'" in result["content"][0]["text"], (number, result)


def test_a_refused_value_is_neither_echoed_nor_logged(served: tuple[str, Path], genuine_clip: Path):
    url, log = served
    client = api(url)
    with pytest.raises(AppError) as refused:
        client.predict(handle_file(str(genuine_clip)), 2, "x" * 50_000, api_name="/report")
    assert "checkpoint must be one of" in str(refused.value)
    assert "text of 50000 characters" in str(refused.value)
    assert "x" * 100 not in str(refused.value)
    # Larger than any join needs: refused before it is parsed, stored or logged.
    file = upload(visitor(13), url, genuine_clip)
    big = join(
        visitor(13), url, fn_index(url, "report"), [file, 2, "x" * JOIN_TOO_LARGE, None, None, None, None]
    )
    assert big.status_code == 413
    assert "x" * 100 not in log.read_text()


@pytest.mark.parametrize(
    ("frames", "explain", "message"),
    [(4, "false", "explain must be true or false"), (1.5, False, "frames must be a whole number")],
)
def test_the_pages_event_checks_its_inputs_like_the_api(
    served: tuple[str, Path], genuine_clip: Path, frames: object, explain: object, message: str
):
    """Any client can call the page's own event: it must refuse what /report refuses."""
    url, _ = served
    client = visitor(14)
    file = upload(client, url, genuine_clip)
    session = secrets.token_hex(8)
    data = [file, None, frames, None, explain, "app", "off", None]
    assert join(client, url, fn_index(url, private_inputs=8), data, session).status_code == 200
    done = completed(client, url, session)
    assert message in json.dumps(done), done


def test_monitoring_is_off_unless_the_operator_asks(served: tuple[str, Path]):
    url, _ = served
    assert loopback.get(f"{url}monitoring/summary", timeout=10).status_code == 403


def test_reports_name_no_setting_and_no_server_path(
    served: tuple[str, Path], genuine_clip: Path, checkpoint_file: Path
):
    url, _ = served
    report, html = api(url).predict(handle_file(str(genuine_clip)), 2, api_name="/report")
    assert report["notes"], report  # the clip (4 s) is longer than the 3.5 s analysed
    for text in (json.dumps(report), Path(html).read_text(encoding="utf-8")):
        assert "DEEPFAKE_" not in text
        assert str(checkpoint_file.parent) not in text
    assert report["weights"]["location"] == checkpoint_file.name


def test_mcp_errors_echo_no_value_and_name_no_inner_url(served: tuple[str, Path], genuine_clip: Path):
    """An MCP call's failure was the loopback join's error: the refused value whole, or the URL
    the MCP server reaches the app by."""
    url, _ = served
    client = visitor(23)
    stored = upload(client, url, genuine_clip)["path"]
    link = f"{url}gradio_api/file={quote(stored)}"
    result = mcp_call(client, url, "report", {"video": link, "frames": 2, "checkpoint": "x" * JOIN_TOO_LARGE})
    text = json.dumps(result)
    assert result.get("isError"), result
    assert "x" * 100 not in text and "/gradio_api/" not in text, text[:1000]
    assert url.split(":")[-1].strip("/") not in text, text[:1000]  # the port


def test_a_refused_file_names_no_server_folder(served: tuple[str, Path]):
    """Gradio refuses a file that was not uploaded with the path it resolved on the server."""
    url, _ = served
    file = {"path": "not-uploaded.mp4", "orig_name": "not-uploaded.mp4", "meta": {"_type": "gradio.FileData"}}
    answer = join(visitor(24), url, fn_index(url, "report"), [file, 2, None, None, None, None, None])
    assert answer.status_code == 400, answer.text
    assert "not-uploaded.mp4" in answer.text
    assert str(REPO_ROOT) not in answer.text and "/gradio_api/" not in answer.text, answer.text


def test_a_new_analyze_during_a_run_starts_the_new_run(served: tuple[str, Path], genuine_clip: Path):
    """Analyze (or an example) during a run: the page's quick step stops the old run, and the new
    join must be let in with one analysis per visitor (it was refused: the visitor lost both)."""
    url, _ = served
    client, session = visitor(25), secrets.token_hex(8)
    file = upload(client, url, genuine_clip)
    page = fn_index(url, private_inputs=8)
    data = [file, None, 60, None, True, "app", "off", None]
    assert join(client, url, page, data, session).status_code == 200
    messages = started(client, url, session)
    quick = {"data": [file, None], "fn_index": page_busy(url), "session_hash": session}
    said = client.post(f"{url}gradio_api/run/predict", json=quick)
    assert said.status_code == 200 and "Analysing" in said.text, said.text[:500]
    again = join(client, url, page, data, session)
    assert again.status_code == 200, again.text
    cancel(client, url, page, session, again.json()["event_id"])
    ended(messages, client, url, session, again.json()["event_id"])


def test_x_forwarded_for_from_the_loopback_is_not_a_new_visitor(served: tuple[str, Path], genuine_clip: Path):
    """uvicorn trusted X-Forwarded-For from 127.0.0.1: each header was a new visitor."""
    url, _ = served
    client = visitor(1)
    body = {"data": [upload(client, url, genuine_clip), 60, None, True, "app", None, None]}
    answers = at_once(
        [
            lambda i=i: client.post(
                f"{url}gradio_api/call/report", json=body, headers={"X-Forwarded-For": f"10.9.9.{i}"}
            )
            for i in range(3)
        ]
    )
    admitted = [a for a in answers if a.status_code == 200]
    for answer in admitted:
        event = answer.json()["event_id"]
        cancel(client, url, fn_index(url, "report"), event, event)
    assert len(admitted) == 1, [(a.status_code, a.text[:200]) for a in answers]


def test_unused_gradio_routes_are_closed(served: tuple[str, Path]):
    """/call/v2 answered a v1 body with a 500 and a long traceback; run history could use the
    host's Hugging Face token for a local request."""
    url, log = served
    client = visitor(26)
    answer = client.post(f"{url}gradio_api/call/v2/report", json={"data": [None, 2, None]})
    assert answer.status_code == 404, answer.text[:300]
    assert "Traceback" not in log.read_text()
    for route in ("runs", "run-history/buckets", "run-history/records"):
        assert client.get(f"{url}gradio_api/{route}").status_code == 404, route


@pytest.mark.slow
def test_a_join_body_that_stalls_is_ended(served: tuple[str, Path]):
    """A join's body sent a few bytes at a time held its request and buffer with no end."""
    import socket

    url, _ = served
    host, port = url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=READ_S + 30) as sock:
        head = f"POST /gradio_api/queue/join HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n"
        sock.sendall(f"{head}Content-Type: application/json\r\n\r\n{{".encode())
        assert sock.recv(200).startswith(b"HTTP/1.1 408")
