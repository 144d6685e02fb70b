"""MCP tool calls that carry a video as a ``data:`` URI, under the same limits as uploads.

Gradio's MCP server writes every ``data:`` URI it is given as a file argument to its cache
(``GradioMCPServer.convert_strings_to_filedata`` calls ``processing_utils.save_base64_to_cache``
into ``gradio.mcp.DEFAULT_TEMP_DIR``), before any quota or size check, and never deletes it; its
loopback client then uploads a second copy. Here the MCP request is read first (at most the
base64 of one file of ``DEEPFAKE_MAX_UPLOAD_MB``), each such URI is stored as an upload (same
ledger, quota, file count and size limit as ``/gradio_api/upload``) and replaced by this
server's own link to it, which the video input reads from disk. The file is deleted when its
analysis ends: when the MCP request does (streamable HTTP: the request lasts as long as the
tool call), when the tool call ends (:func:`release_after_calls`, both transports), or at once
when the MCP transport does not accept the message (an SSE post for no live session is not
even read). Only the routes Gradio's MCP server is meant to serve are let through
(:func:`served`): its streamable handler answers any path that ends like its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote
from uuid import UUID

import anyio
import gradio as gr
from starlette.datastructures import Headers
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.body_reads import wait_s
from ui.mcp_hooks import Handler, wrap_tool_calls
from ui.upload_route import FULL, IDLE_S, UploadRefused, json_response, plain_response

if TYPE_CHECKING:
    from ui.uploads import Uploads

logger = logging.getLogger(__name__)

MCP = "/gradio_api/mcp"
STREAMABLE = {MCP, f"{MCP}/", f"{MCP}/http", f"{MCP}/http/"}
"""Streamable HTTP: the POST's answer ends when the tool call does."""
MESSAGES = f"{MCP}/messages/"
"""The SSE transport's posts: answered at once, the call runs on in the SSE stream."""
MESSAGE_SLACK = 1_000_000
OTHERS = {f"{MCP}/sse", f"{MCP}/schema"}
READING_AT_ONCE = 2
SMALL = 64_000
LATE_S = 30.0
"""An SSE message's files that no queued request names this long after it was accepted go."""
"""MCP bodies over ``SMALL`` (up to one video's base64 each) read into memory at once, one per
visitor; more are refused (503), so that memory stays bounded."""


def is_mcp(route: str) -> bool:
    """Whether ``route`` is under Gradio's MCP mount."""
    return route == MCP or route.startswith(f"{MCP}/")


def served(route: str) -> bool:
    """Whether ``route`` is one Gradio's MCP server is meant to serve; any other is refused."""
    return route in STREAMABLE or route in OTHERS or route == MESSAGES


def is_mcp_post(route: str) -> bool:
    """Whether ``route`` (a POST) carries MCP messages."""
    return route in STREAMABLE or route == MESSAGES


def live_session(blocks: gr.Blocks, scope: Scope) -> bool:
    """Whether an SSE message post names a session the MCP server's SSE transport has open."""
    transport = _sse_transport(blocks)
    asked = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id") or [""])[0]
    try:
        session = UUID(hex=asked)
    except ValueError:
        return False
    return transport is not None and session in getattr(transport, "_read_stream_writers", {})


def _sse_transport(blocks: gr.Blocks) -> Any:
    """The SSE transport Gradio mounted at ``/gradio_api/mcp/messages/`` (its handler's owner)."""
    for route in getattr(getattr(blocks, "server_app", None), "routes", []):
        if isinstance(route, Mount) and route.path == MCP:
            for inner in route.routes:
                if isinstance(inner, Mount) and inner.path == MESSAGES.rstrip("/"):
                    return getattr(inner.app, "__self__", None)
    return None


def release_after_calls(blocks: gr.Blocks, uploads: Uploads) -> bool:
    """Delete, when each MCP tool call ends however it ends, the uploads its arguments link to
    (unless a page or another request needs them). Returns whether the MCP server was there."""
    from ui.queued_files import uploaded_file

    def releasing(told: Handler) -> Handler:
        async def call(request: Any) -> Any:
            try:
                return await told(request)
            finally:
                links = _strings(getattr(getattr(request, "params", None), "arguments", None))
                for link in links:
                    file = uploaded_file(link) if "/gradio_api/file=" in link else None
                    if file is not None:
                        await anyio.to_thread.run_sync(uploads.done, str(file), True)

        return call

    return wrap_tool_calls(blocks, releasing)


def _release(uploads: Uploads, paths: list[str]) -> None:
    for path in paths:
        uploads.done(path)


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for value in data.values() for s in _strings(value)]
    if isinstance(data, list | tuple):
        return [s for item in data for s in _strings(item)]
    return []


async def mcp_call(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    blocks: gr.Blocks,
    uploads: Uploads,
    limits: tuple[int, float],
    caller: tuple[str, bool],
) -> None:
    """Serve one MCP POST of a visitor: its ``data:`` files stored as uploads first (see
    the module).

    Args:
        limits: The largest file, bytes, and the time the body may take to arrive, seconds.
        caller: The visitor, and whether the post is streamable HTTP (its answer ends with the
            call), not an SSE message.
    """
    who, streamable = caller
    if not streamable and not live_session(blocks, scope):
        await app(scope, receive, send)  # the transport refuses it, before any file is written
        return
    max_file_bytes = limits[0]
    body = await _read_guarded(scope, receive, send, uploads, limits, who)
    if body is None:
        return
    stored: list[str] = []
    accepted = False
    try:
        body, error = await anyio.to_thread.run_sync(
            _store_data_uris, body, blocks, uploads, (max_file_bytes, who), stored
        )
        if error is not None:
            await json_response(send, error)
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"transfer-encoding")]
        headers.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def answer(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "http.response.start":
                accepted = message["status"] == 202
            await send(message)

        await app({**scope, "headers": headers}, replay, answer)
    finally:
        # The call has ended (or was refused): its files go unless a page or a request holds
        # them. An SSE message the transport accepted runs on after its post; its files go
        # when its tool call ends (release_after_calls).
        if streamable or not accepted:
            for path in stored:
                await anyio.to_thread.run_sync(uploads.done, path)
        elif stored:
            # A message the session never runs as a tool call (sent before the session was
            # initialised, say) must not hold its files for the TTL: once LATE_S has passed,
            # they go unless a queued request or a page names them.
            loop = asyncio.get_running_loop()
            loop.call_later(LATE_S, lambda: loop.run_in_executor(None, _release, uploads, stored))


async def _read_guarded(
    scope: Scope, receive: Receive, send: Send, uploads: Uploads, limits: tuple[int, float], who: str
) -> bytes | None:
    """The body of an MCP post, or None once a refusal was sent: past the quota by its declared
    length (507, before reading), or a large body while ``READING_AT_ONCE`` are read or one of
    ``who``'s is (503)."""
    max_file_bytes, timeout_s = limits
    length = Headers(scope=scope).get("content-length", "")
    if length.isdigit() and uploads.used()[0] + int(length) * 3 // 4 > uploads.quota_bytes:
        await plain_response(send, 507, FULL)
        return None
    large = not length.isdigit() or int(length) > SMALL
    reading = uploads.mcp_reading  # visitors whose large MCP body is being read: one each
    if large and (len(reading) >= READING_AT_ONCE or who in reading):
        await plain_response(send, 503, "The server is busy reading other requests; try again shortly.")
        return None
    if large:
        reading.add(who)
    try:
        cap = int(max_file_bytes * 4 / 3) + MESSAGE_SLACK
        body, refusal = await _read_body(scope, receive, cap, timeout_s)
    finally:
        if large:
            reading.discard(who)
    if refusal is not None:
        await plain_response(send, *refusal)
        return None
    return body


async def _read_body(
    scope: Scope, receive: Receive, cap: int, timeout_s: float
) -> tuple[bytes, tuple[int, str] | None]:
    """The whole body (at most ``cap`` bytes, within ``timeout_s``), or why it was refused."""
    length = Headers(scope=scope).get("content-length", "")
    if length.isdigit() and int(length) > cap:
        return b"", (413, "The request is larger than this server's limit for one video.")
    chunks: list[bytes] = []
    size, more, started = 0, True, time.monotonic()
    while more:
        try:
            # As for uploads: a body that stops sending ends after IDLE_S, not the whole deadline;
            # one trickling in ends once it falls below MIN_RATE (two held every video call out).
            with anyio.fail_after(wait_s(started, size, started + timeout_s, IDLE_S)):
                message = await receive()
        except TimeoutError:
            return b"", (408, "The request took too long to arrive.")
        if message["type"] == "http.disconnect":
            return b"", (400, "The request was interrupted.")
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
        if size > cap:
            return b"", (413, "The request is larger than this server's limit for one video.")
    return b"".join(chunks), None


def _store_data_uris(
    body: bytes, blocks: gr.Blocks, uploads: Uploads, limit: tuple[int, str], stored: list[str]
) -> tuple[bytes, dict[str, Any] | None]:
    """The body with every ``data:`` file argument of a tool call stored and replaced by its link
    (blocking: run in a thread); or a JSON-RPC error for the first one refused.

    Args:
        limit: The largest file, bytes, and the visitor the files count for.
    """
    try:
        messages = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body, None  # not JSON: the MCP server answers it
    changed = False
    for message in messages if isinstance(messages, list) else [messages]:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            continue
        params = message.get("params")
        if not isinstance(params, dict):
            continue
        arguments = params.get("arguments")
        for position in _file_positions(blocks, params.get("name")):
            value = _at(arguments, position)
            if not (isinstance(value, str) and value.startswith("data:")):
                continue
            try:
                path = _store_one(value, uploads, *limit)
            except UploadRefused as exc:
                error = {"code": -32602 if exc.status not in (429, 507) else -32000, "message": exc.message}
                return body, {"jsonrpc": "2.0", "id": message.get("id"), "error": error}
            stored.append(path)
            _put(arguments, position, f"http://127.0.0.1/gradio_api/file={quote(path)}")
            changed = True
    return (json.dumps(messages).encode() if changed else body), None


def _file_positions(blocks: gr.Blocks, tool: Any) -> list[list[str | int]]:
    """Where the tool ``tool`` takes files, as Gradio's MCP server finds them."""
    server = getattr(blocks, "mcp_server_obj", None)
    if server is None or not isinstance(tool, str):
        return []
    try:
        return server.get_input_schema(tool)[1]
    except (ValueError, KeyError):  # an unknown tool: the MCP server refuses it
        return []


def _at(data: Any, position: list[str | int]) -> Any:
    for key in position:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _put(data: Any, position: list[str | int], value: str) -> None:
    for key in position[:-1]:
        data = data[key]
    data[position[-1]] = value


def _store_one(uri: str, uploads: Uploads, max_file_bytes: int, who: str) -> str:
    """Decode the ``data:`` URI ``uri`` into a new upload, within the size limit and the quota.

    Raises:
        UploadRefused: Too large (413), not base64 (400), the quota or file count is full (507),
            or the visitor's share of them (429).
    """
    header, _, encoded = uri.partition(",")
    if not header.endswith(";base64"):
        raise UploadRefused(400, "A file given as a data: URI must be base64-encoded.")
    if len(encoded) * 3 // 4 > max_file_bytes + 2:
        raise UploadRefused(
            413, f"The file is larger than this server's limit of {max_file_bytes / 1e6:g} MB."
        )
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UploadRefused(400, "The data: URI is not valid base64.") from None
    if len(data) > max_file_bytes:
        raise UploadRefused(
            413, f"The file is larger than this server's limit of {max_file_bytes / 1e6:g} MB."
        )
    opened = uploads.open(who)
    if opened is not None:
        raise UploadRefused(*opened)
    if not uploads.take(len(data), who):
        uploads.close(0, who)
        raise UploadRefused(507, FULL)
    kept = False
    try:
        kind = header.removeprefix("data:").split(";")[0]
        name = "video" + (f".{kind.split('/')[1]}" if kind.startswith("video/") and "/" in kind else ".mp4")
        path = Path(uploads.new_folder()) / "".join(c for c in name if c.isalnum() or c in "._-")
        path.write_bytes(data)
        uploads.keep(str(path), len(data), who, arrived=len(data))
        kept = True
        return os.path.realpath(path)
    finally:
        if not kept:
            uploads.close(len(data), who)
