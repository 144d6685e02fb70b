"""Rules of :class:`ui.routes.Routes` for the routes it does not serve itself: the small body cap
of every other request, the function a large join really names, unknown queue sessions."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import anyio
import orjson
from gradio.server_messages import UnexpectedErrorMessage
from starlette.types import Scope, Send

from ui.upload_quota import UPLOAD

# Every request with a body that no rule of Routes reads (Gradio's /component_server, /reset,
# /login, /stream/<id>/close, /vibe-*, and whatever route a later Gradio adds) is capped at this:
# their bodies were buffered and parsed whole on the event loop, and one of 100 MB took 1.5 GB
# and stalled every page for 13 s. None of them needs more than a few hundred bytes here.
OTHER_BYTES = 16_000
# The routes whose bodies are large by design, each with its own limits: the upload route
# (ui.upload_route: quota, size, time). MCP posts, joins, calls and stream frames are read by
# their own rules of Routes before this one.
LARGE_BODIES = frozenset({UPLOAD})
QUEUE_DATA = "/gradio_api/queue/data"


def capped_small(scope: Scope, path: str) -> bool:
    """Whether the request's body is capped at :data:`OTHER_BYTES`: any method that may carry
    one (all but GET and HEAD, whose bodies no route reads) on a route not in
    :data:`LARGE_BODIES`."""
    return scope["method"] not in ("GET", "HEAD") and path not in LARGE_BODIES


async def named_function(body: bytes) -> Any:
    """The ``fn_index`` of a join's JSON body as Gradio will see it (None if there is none).

    Parsed by the same parser as Gradio's (``json.loads``), in a worker thread (the body may be
    megabytes): a pattern on the raw bytes missed an escaped key (``"fn\\u005findex"``), which
    the parser decodes to the same name, the last one winning.
    """
    try:
        parsed = await anyio.to_thread.run_sync(json.loads, body)
    except ValueError:  # not JSON (UnicodeDecodeError is one too): Gradio refuses it anyway
        return None
    return parsed.get("fn_index") if isinstance(parsed, dict) else None


def unknown_session(scope: Scope, pending: dict[str, Any]) -> bool:
    """Whether a ``GET /gradio_api/queue/data`` names no session of the queue (``pending``):
    Gradio answers it from a stream that then raises, with 80 lines of traceback in the log."""
    if scope["method"] != "GET":
        return False
    asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash") or [None]
    return asked[0] not in pending


async def session_not_found(send: Send) -> None:
    """Gradio's own answer to an unknown session (one ``unexpected_error`` event), without the
    traceback: the page's client reads it the same way."""
    message = UnexpectedErrorMessage(message="404: Not Found", session_not_found=True)
    body = f"data: {orjson.dumps(message.model_dump(), default=str).decode()}\n\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
