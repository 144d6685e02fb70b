"""Upload ids (``?upload_id=``) in Gradio's record of upload progress, checked and freed.

Gradio keeps an entry per id for ``/gradio_api/upload_progress`` and frees it only when that
route's stream ends; an id's event (``_signals``) is never freed, and asking for progress of an
unknown id makes one. An upload that nobody followed left its entry for good: 1500 uploads with
60 kB ids took 89 MB. Here an id is at most :data:`MOST_CHARS` plain characters (the page's are
about a dozen), and its entry is freed :data:`FORGET_S` after its upload ended (time enough for
the page's progress stream to read "done"), or when a progress request for an id no upload
tracks ends.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

MOST_CHARS = 64
FORGET_S = 30.0
UPLOAD_PROGRESS = "/gradio_api/upload_progress"
REFUSED = f"An upload_id is 1 to {MOST_CHARS} letters, digits, '-' or '_'."
_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MOST_CHARS}}}")


def upload_id(scope: Scope) -> str | None:
    """The request's ``upload_id`` query parameter, or None."""
    return (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("upload_id") or [None])[0]


def acceptable(value: str) -> bool:
    """Whether ``value`` may be an upload id (:data:`REFUSED` says which are)."""
    return _ID.fullmatch(value) is not None


def statuses() -> Any:
    """Gradio's record of upload progress, which its ``/gradio_api/upload_progress`` reads."""
    from gradio.routes import file_upload_statuses

    return file_upload_statuses


def forget(value: str) -> None:
    """Free the record's entry and event of ``value``."""
    record = statuses()
    record.stop_tracking(value)
    record._signals.pop(value, None)


def forget_later(value: str) -> None:
    """Free ``value``'s entry :data:`FORGET_S` from now (on the running event loop)."""
    asyncio.get_running_loop().call_later(FORGET_S, forget, value)


async def progress_route(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve ``GET /gradio_api/upload_progress`` by Gradio, refusing bad ids (400) and freeing
    the event Gradio made for an id that no upload tracks once the request ends."""
    from ui.upload_route import plain_response

    value = upload_id(scope)
    if value is not None and not acceptable(value):
        await plain_response(send, 400, REFUSED, close=False)
        return
    try:
        await app(scope, receive, send)
    finally:
        if value is not None and value not in statuses()._statuses:
            statuses()._signals.pop(value, None)
