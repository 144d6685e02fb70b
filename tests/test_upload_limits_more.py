"""Holes the review of issues 29 and 35 found in the upload and MCP limits (findings A, B, D, E, F, H).

The served app on 127.0.0.1 with small limits; visitors are told apart by their loopback source
address (127.0.0.x), as the app tells visitors apart by address.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import gradio.mcp
import loopback
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from starlette.requests import Request
from test_upload_limits import address, answer, connect, data_uri, head, mcp_post, served, settled, upload

from ui.routes import McpCallers


@pytest.fixture(scope="module")
def server(hub_cache: Path) -> Iterator[tuple[str, gr.Blocks]]:
    with served(hub_cache, DEEPFAKE_UPLOADS_PER_VISITOR="2") as running:
        yield running


@pytest.fixture
def empty(server: tuple[str, gr.Blocks]) -> tuple[str, gr.Blocks]:
    url, demo = server
    for path in demo.uploads.paths():
        demo.uploads.done(path)
    assert settled(demo) == (0, 0)
    return url, demo


def tool(url: str) -> str:
    return next(
        t["name"] for t in loopback.get(f"{url}gradio_api/mcp/schema").json() if t["name"].endswith("predict")
    )


def test_other_paths_under_the_mcp_mount_are_refused(empty):
    """A: Gradio's streamable handler serves any path ending in /gradio_api/mcp/; such a path
    wrote a data: video to Gradio's MCP cache past every limit."""
    url, _ = empty
    cache = Path(gradio.mcp.DEFAULT_TEMP_DIR)
    before = {p for p in cache.rglob("*") if p.is_file()} if cache.is_dir() else set()
    video = {"video": data_uri(os.urandom(1000)), "frames": 1}
    for route in ("gradio_api/mcp/x/gradio_api/mcp/", "gradio_api/mcp/zz/http"):
        assert mcp_post(url, tool(url), video, route).status_code == 404
    assert ({p for p in cache.rglob("*") if p.is_file()} if cache.is_dir() else set()) == before


def test_sse_posts_for_no_session_store_nothing(empty):
    """B: a post to /messages/ naming no live session left its data: video for the TTL."""
    url, demo = empty
    video = {"video": data_uri(os.urandom(1000)), "frames": 1}
    route = f"gradio_api/mcp/messages/?session_id={uuid.uuid4().hex}"
    assert mcp_post(url, tool(url), video, route).status_code == 404
    assert settled(demo) == (0, 0)


def test_an_sse_call_refused_before_its_join_releases_its_file(empty):
    """B: a live SSE session's tool call that fails its schema check never reached an analysis,
    and its stored data: video waited for the TTL."""
    url, demo = empty

    async def call() -> str:
        async with sse_client(f"{url}gradio_api/mcp/sse") as streams, ClientSession(*streams) as session:
            await session.initialize()
            result = await session.call_tool(
                tool(url), {"video": data_uri(os.urandom(1000)), "frames": "many"}
            )
            return str(result)

    assert "validation error" in asyncio.run(call())
    deadline = time.monotonic() + 5
    while demo.uploads.used() != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert demo.uploads.used() == (0, 0)


def test_one_visitor_cannot_hold_every_upload(empty):
    """D: one address filled the file count for the TTL; now it holds its share (2 here)."""
    url, demo = empty
    mine = address()
    assert [upload(url, b"x", source=mine).status_code for _ in range(3)] == [200, 200, 429]
    assert upload(url, b"x").status_code == 200  # another visitor
    assert settled(demo)[1] == 3


def test_idle_connections_of_one_visitor_do_not_block_others(empty):
    """E: four connections that sent headers only held DEEPFAKE_MAX_UPLOADS=4 until the upload
    timeout: every other visitor got 507. Sent at the same instant; at most 2 arrive per visitor."""
    url, _ = empty
    idle, statuses = address(), []
    barrier = threading.Barrier(4)
    sockets = [connect(url, idle) for _ in range(4)]
    form = head(
        "/gradio_api/upload", {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": "9999"}
    )

    def send(sock) -> None:
        barrier.wait()
        sock.sendall(form)

    threads = [threading.Thread(target=send, args=(sock,)) for sock in sockets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.3)
    try:
        statuses.append(upload(url, b"other visitor").status_code)
    finally:
        for sock in sockets:
            sock.close()
    assert statuses == [200]


def test_a_flood_of_mcp_tokens_keeps_other_callers_tokens():
    """F: every MCP request got a token and at most the oldest went: 10 000 cheap requests from
    one address pushed out another caller's token (its join then counted for the loopback)."""
    callers = McpCallers(0)
    mine = callers.issue("10.0.0.1")
    for _ in range(McpCallers.MOST):
        callers.issue("10.0.0.2")
    headers = [(McpCallers.HEADER.encode(), mine.encode())]
    assert (
        callers.who(Request({"type": "http", "headers": headers, "client": ("127.0.0.1", 1)})) == "10.0.0.1"
    )


def test_an_upload_gradio_deleted_first_leaves_no_empty_folder(empty):
    """H: when Gradio's delete_cache removed a file first, its token folder stayed, empty."""
    url, demo = empty
    stored = Path(upload(url, b"x").json()[0])
    stored.unlink()  # what Gradio's delete_cache does to old files
    demo.uploads.done(str(stored))
    assert not stored.parent.exists()


def test_one_visitor_reads_one_large_mcp_body_at_a_time(empty):
    """C: any number of MCP bodies (up to a video's base64 each) were read into memory at once.
    Two large posts of one address at the same instant that send no body: one is refused at
    once, the other ends at the upload timeout (2 s here)."""
    url, _ = empty
    source, barrier, statuses = address(), threading.Barrier(2), []
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Content-Length": "300000"}

    def post() -> None:
        with connect(url, source) as sock:
            barrier.wait()
            sock.sendall(head("/gradio_api/mcp/", headers))
            statuses.append(answer(sock)[0])

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [408, 503]
