"""ASGI middleware on Gradio's routes: cancels that stop runs, capped request bodies, MCP callers.

Every request body is capped: the routes named here at their own sizes, every other one at
:data:`ui.route_rules.OTHER_BYTES` but the upload route's (:data:`ui.route_rules.LARGE_BODIES`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from typing import Any

import gradio as gr
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui import body_reads
from ui.body_reads import ReadBudget, wait_s
from ui.guards import Runs, visitor
from ui.limits import LOG_CHARS
from ui.mcp_hooks import Handler, wrap_tool_calls
from ui.public import public_text
from ui.route_path import route_of, stamp_arrival
from ui.route_rules import (
    OTHER_BYTES,
    QUEUE_DATA,
    capped_small,
    named_function,
    session_not_found,
    unknown_session,
)
from ui.upload_ids import UPLOAD_PROGRESS, progress_route

logger = logging.getLogger(__name__)

API = "/gradio_api"
CANCEL = f"{API}/cancel"
MCP = f"{API}/mcp"
# Gradio's /call/v2 routes: the app uses none, and a v1 body there failed with a 500 and a long
# traceback in the log for each request.
CALL_V2 = f"{API}/call/v2/"
# A cancel names a session, an event and a function: a few hundred bytes.
CANCEL_BYTES = 4_096
# A join of an analysis carries its settings, a link (at most 2000 characters) and a file's
# reference, never the file: a few kB.
JOIN_BYTES = 64_000
# A live stream's join and each of its frames carry a camera frame as a JPEG data URL.
FRAME_BYTES = 8_000_000
# A capped body must have arrived within this many seconds (a frame or a join is at most a few
# MB): a client sending a byte now and then held the request, and its buffer, for good. It must
# also keep arriving (ui.body_reads: an idle limit, a minimum rate).
READ_S = 60.0
# The routes that run an event function: joins of the queue, Gradio's simple API, direct calls.
_JOIN = re.compile(rf"{API}/(queue/join|call/(v2/)?[^/]+|run/[^/]+|api/[^/]+)/?")
_FRAME = re.compile(rf"{API}/stream/[^/]+")


class TooLargeError(Exception):
    """A request body is larger than its route allows."""


class McpCallers:
    """Who called the MCP server, for the joins its loopback client makes on their behalf.

    Gradio's MCP server calls the app through one ``gradio_client`` of its own, from the
    loopback, with the caller's headers copied: every MCP caller would be one visitor. Each MCP
    post is given a random token in a header (one the caller sent is removed); the loopback
    join that carries it is counted for the address that made the MCP request. One address
    holds at most ``PER_CALLER`` tokens (its oldest goes first), so that nobody can push out
    the tokens of others by asking for many.
    """

    HEADER = "x-deepfake-mcp-caller"
    KEEP_S = 900.0
    MOST = 10_000
    PER_CALLER = 32

    def __init__(self, trusted_proxies: int) -> None:
        self.trusted_proxies = trusted_proxies
        self._lock = threading.Lock()
        self._issued: OrderedDict[str, tuple[str, float]] = OrderedDict()  # oldest first
        self._by_who: dict[str, deque[str]] = {}

    def issue(self, who: str) -> str:
        """A new token for an MCP request of visitor ``who``."""
        token = secrets.token_hex(16)
        now = time.monotonic()
        with self._lock:
            while self._issued and now - next(iter(self._issued.values()))[1] >= self.KEEP_S:
                self._drop(*self._issued.popitem(last=False))
            mine = self._by_who.setdefault(who, deque())
            if len(mine) >= self.PER_CALLER:
                self._issued.pop(mine.popleft(), None)
            elif len(self._issued) >= self.MOST:
                self._drop(*self._issued.popitem(last=False))
                mine = self._by_who.setdefault(who, deque())
            self._issued[token] = (who, now)
            mine.append(token)
        return token

    def _drop(self, token: str, entry: tuple[str, float]) -> None:
        """Forget ``token`` in its caller's list (under the lock)."""
        mine = self._by_who.get(entry[0])
        if mine is not None:
            with contextlib.suppress(ValueError):
                mine.remove(token)
            if not mine:
                del self._by_who[entry[0]]

    def who(self, request: Any) -> str:
        """The visitor of a join: the MCP caller it was made for, else :func:`ui.guards.visitor`."""
        token = request.headers.get(self.HEADER)
        peer = request.client.host if request.client else ""
        if token and _loopback(peer):
            with self._lock:
                entry = self._issued.pop(token, None)
                if entry is not None:
                    self._drop(token, entry)
            if entry is not None:
                return entry[0]
        return visitor(request, self.trusted_proxies)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Routes:
    """ASGI middleware: exact-route cancels, capped bodies of the routes that run functions, MCP.

    - ``POST /gradio_api/cancel`` (what ``gradio_client``'s cancel sends) also stops the run of
      the event it names: the run keyed by that event id, or the page's run of that event. The
      event id is the server's, told only to the client that joined. Bodies over
      ``CANCEL_BYTES`` get 413.
    - Joins and calls get 413 over ``JOIN_BYTES`` (a live stream's join, and its frames, over
      ``FRAME_BYTES``): a refused value must not be megabytes to echo or log.
    - MCP requests get a caller token (:class:`McpCallers`).
    - Any other request with a body gets 413 over ``OTHER_BYTES``, but the upload route's
      (:mod:`ui.route_rules`); a queue stream of an unknown session and upload progress are
      answered without a traceback or a lasting entry (:mod:`ui.upload_ids`).

    Args:
        app: The ASGI app.
        blocks: The Gradio app (its queue's table of events, its functions, its MCP server).
        runs: The runs in progress.
        callers: The MCP callers.
    """

    def __init__(self, app: ASGIApp, blocks: gr.Blocks, runs: Runs, callers: McpCallers) -> None:
        self.app = app
        self.blocks = blocks
        self.runs = runs
        self.callers = callers
        self._mcp_guarded = False
        self.budget = ReadBudget()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the routes above; pass everything else through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stamp_arrival(scope)
        path = route_of(scope)
        post = scope["method"] == "POST"
        if path == MCP or path.startswith(f"{MCP}/"):
            if not self._mcp_guarded:
                self._mcp_guarded = public_mcp_errors(self.blocks)
            # Only posts carry tool calls (both transports); a GET (the SSE stream, the schema)
            # gets no token, so that cheap requests cannot push out callers' tokens.
            await self.app(self._with_caller(scope) if post else scope, receive, send)
            return
        if path.startswith(CALL_V2):
            await _not_found(send)
        elif post and path == CANCEL:
            await self._cancel(scope, receive, send)
        elif post and _JOIN.fullmatch(path):
            await self._join(scope, receive, send, path.startswith(f"{API}/queue/join"))
        elif post and _FRAME.fullmatch(path):
            await self._capped(scope, receive, send, FRAME_BYTES)
        elif path == QUEUE_DATA and unknown_session(scope, self.blocks._queue.pending_messages_per_session):
            await session_not_found(send)
        elif path == UPLOAD_PROGRESS and scope["method"] == "GET":
            await progress_route(self.app, scope, receive, send)
        elif capped_small(scope, path):
            await self._capped(scope, receive, send, OTHER_BYTES)
        else:
            await self.app(scope, receive, send)

    def _with_caller(self, scope: Scope) -> Scope:
        header = McpCallers.HEADER.encode()
        who = visitor(Request(scope), self.callers.trusted_proxies)
        headers = [(k, v) for k, v in scope.get("headers") or [] if k.lower() != header]
        headers.append((header, self.callers.issue(who).encode()))
        return {**scope, "headers": headers}

    async def _cancel(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._read(scope, receive, send, CANCEL_BYTES)
        if body is None:
            return
        try:
            asked = json.loads(body or b"{}")
        except ValueError:
            asked = None
        session, event = (
            (asked.get("session_hash"), asked.get("event_id")) if isinstance(asked, dict) else (None, None)
        )
        queued = self.blocks._queue.event_ids_to_events.get(event) if isinstance(event, str) else None
        if queued is None or not isinstance(session, str) or queued.session_hash != session:
            # Not an event of that session now: nothing to cancel. Gradio's own cancel would
            # still end whatever task runs for the session it names, whoever names it.
            await _json_response(send, {"success": True})
            return
        self.runs.cancel(session, event)
        await self.app(scope, _replay(body, receive), send)

    async def _join(self, scope: Scope, receive: Receive, send: Send, queue_join: bool) -> None:
        body = await self._read(scope, receive, send, FRAME_BYTES if queue_join else JOIN_BYTES)
        if body is None:
            return
        if len(body) > JOIN_BYTES and not await self._stream_join(body):
            await _too_large(send, JOIN_BYTES)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _stream_join(self, body: bytes) -> bool:
        """Whether ``body`` joins a live stream: the "fn_index" Gradio will read is a stream's
        (a plain integer: Gradio's model would also take "17" or true)."""
        index = await named_function(body)
        fn = self.blocks.fns.get(index) if type(index) is int else None
        return fn is not None and fn.connection == "stream"

    async def _capped(self, scope: Scope, receive: Receive, send: Send, most: int) -> None:
        body = await self._read(scope, receive, send, most)
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _read(self, scope: Scope, receive: Receive, send: Send, most: int) -> bytes | None:
        """The whole body, or None once a refusal was sent: over ``most`` bytes, declared or
        sent (413); a large body past the reading budget (503); too slow (408, :mod:`ui.body_reads`)."""
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > most:
            await _too_large(send, most)
            return None
        reserved = int(declared) if declared.isdigit() else most
        large = reserved > JOIN_BYTES  # within the reading budget (ui.body_reads)
        who = visitor(Request(scope), self.callers.trusted_proxies) if large else ""
        if large and not self.budget.take(who, reserved):
            await _plain(send, 503, "The server is busy reading other large requests; try again shortly.")
            return None
        try:
            return await self._read_within(receive, send, most)
        finally:
            if large:
                self.budget.give(who, reserved)

    async def _read_within(self, receive: Receive, send: Send, most: int) -> bytes | None:
        chunks: list[bytes] = []
        size, more, started = 0, True, time.monotonic()
        while more:
            try:
                async with asyncio.timeout(wait_s(started, size, started + READ_S, body_reads.IDLE_S)):
                    message = await receive()
            except TimeoutError:
                await _plain(send, 408, "The request's body arrived too slowly; send it in one go.")
                return None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > most:
                await _too_large(send, most)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the client sends (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _too_large(send: Send, most: int) -> None:
    await _plain(send, 413, f"This request is too large for this route (at most {most} bytes).")


async def _plain(send: Send, status: int, message: str) -> None:
    text = message.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})


async def _not_found(send: Send) -> None:
    await _plain(send, 404, "Not found: this server offers /gradio_api/call/<api>, not /call/v2.")


async def _json_response(send: Send, data: Any) -> None:
    text = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(text)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": text})


def public_mcp_errors(blocks: gr.Blocks) -> bool:
    """Make the MCP server's error results say no server path, inner URL or long refused value.

    Gradio's MCP tools fail with the text of whatever went wrong: a join's HTTP error naming the
    inner URL of the app, a file's path in the upload folder, a refused argument echoed whole by
    the schema check. Returns whether the MCP server was there to guard.
    """

    def public(told: Handler) -> Handler:
        async def call(request: Any) -> Any:
            result = await told(request)
            answer = getattr(result, "root", result)
            if getattr(answer, "isError", False):
                for block in answer.content:
                    if getattr(block, "type", None) == "text":
                        logger.info("an MCP call failed: %s", block.text[:LOG_CHARS])
                        block.text = public_text(block.text)
            return result

        return call

    return wrap_tool_calls(blocks, public)
