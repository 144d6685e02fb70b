"""Visitors' uploads: links refused, deletion once nothing needs them, and the upload quota.

Moved out of ``ui/guards.py`` unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import gradio as gr
from gradio.processing_utils import hash_file
from gradio.utils import get_upload_folder
from gradio_client.utils import is_http_url_like
from starlette.types import ASGIApp, Receive, Scope, Send

from ui.guards import Runs, queued_events

logger = logging.getLogger(__name__)


class UploadedVideo(gr.Video):
    """A video input that takes uploaded files only, never a link for Gradio to download.

    Gradio fetches a URL given as a file input itself, with no size limit; links must take the
    guarded path (the links issue) or be downloaded and uploaded by the visitor.
    """

    def get_block_name(self) -> str:
        """Rendered by Gradio's own video component."""
        return "video"

    async def async_move_resource_to_block_cache(self, url_or_file_path: str | Path | None) -> str | None:
        """Refuse links, but for this server's own link to a file uploaded to it; files as usual."""
        if is_http_url_like(url_or_file_path):
            own = uploaded_file(str(url_or_file_path))
            if own is None:
                raise gr.Error(
                    "Links are not downloaded here: download the video and upload the file.",
                    title="Upload the file",
                )
            url_or_file_path = str(own)
        return await super().async_move_resource_to_block_cache(url_or_file_path)


def uploaded_file(url: str) -> Path | None:
    """The file behind this server's own link ``.../gradio_api/file=PATH`` to an upload, else None.

    MCP clients upload with Gradio's ``upload_file_to_gradio`` tool (``gradio upload-mcp``),
    which answers such a link. The file is taken from disk, never fetched, and only from the
    upload folder, so the host named in the link does not matter.
    """
    _, marker, rest = urlsplit(url).path.partition("/gradio_api/file=")
    if not marker:
        return None
    file = Path(unquote(rest)).resolve()
    folder = Path(get_upload_folder()).resolve()
    return file if file.is_relative_to(folder) and file.is_file() else None


def remove_upload(path: str | None) -> None:
    """Delete a visitor's uploaded file once its analysis has ended (only inside Gradio's upload folder)."""
    if not path:
        return
    folder = Path(get_upload_folder()).resolve()
    file = Path(path).resolve()
    if file.is_relative_to(folder) and file.is_file():
        file.unlink(missing_ok=True)
        if file.parent != folder and not any(file.parent.iterdir()):
            file.parent.rmdir()


class Uploads:
    """Deletes visitors' uploads once nothing needs them any more.

    A page keeps its video while it shows it (the visitor may analyse it again with other
    settings) and lets it go when the video is replaced or cleared or the visitor leaves; an API
    upload goes when its analysis ends; an upload nobody analyses goes after ``ttl_s``. Gradio
    stores identical files under one path (a folder named by the content's hash), so a file is
    deleted only when no page shows it, no other queued or running request names it, and it is
    not an example's copy (whose folder is kept for every visitor).
    """

    MAX_PAGES = 10_000

    def __init__(self, blocks: gr.Blocks, examples: list[Path], ttl_s: float) -> None:
        self.blocks = blocks
        self.ttl_s = ttl_s
        self.kept = {hash_file(example) for example in examples}
        self._lock = threading.Lock()
        self._pages: dict[str, str] = {}

    def hold(self, session: str, path: str) -> None:
        """Note ``path`` as the video of page ``session``, letting go of the one it had."""
        with self._lock:
            previous = self._pages.pop(session, None)
            if len(self._pages) >= self.MAX_PAGES:  # sessions that never said goodbye
                self._pages.pop(next(iter(self._pages)))
            self._pages[session] = path
        if previous not in (None, path):
            self.done(previous)

    def leave(self, session: str) -> None:
        """Page ``session`` shows no video any more (a new or cleared one, or the visitor left)."""
        with self._lock:
            previous = self._pages.pop(session, None)
        if previous is not None:
            self.done(previous)

    def shows(self, session: str, path: str) -> bool:
        """Whether page ``session`` still shows ``path``."""
        with self._lock:
            return self._pages.get(session) == path

    def done(self, path: str | None, by_request: bool = False) -> None:
        """Delete ``path`` unless an example, a page or another request needs it.

        Args:
            path: The uploaded file.
            by_request: Called from the request that used it (which the queue still holds).
        """
        if path and self._unneeded(path, 1 if by_request else 0):
            remove_upload(path)

    def sweep(self) -> None:
        """Delete uploads older than ``ttl_s`` that nothing needs (uploaded, never analysed)."""
        cutoff = time.time() - self.ttl_s
        for root, _, files in os.walk(get_upload_folder()):
            for name in files:
                path = os.path.join(root, name)
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(path).st_mtime < cutoff and self._unneeded(path, 0):
                        remove_upload(path)

    def _unneeded(self, path: str, own: int) -> bool:
        if Path(path).parent.name in self.kept:
            return False
        with self._lock:
            shown = path in self._pages.values()
        return not shown and named_in_queue(self.blocks, path) <= own


def named_in_queue(blocks: gr.Blocks, path: str) -> int:
    """How many requests waiting in or running from Gradio's queue have the file ``path`` as input."""
    return sum(path in _file_paths(getattr(event.data, "data", None)) for event in queued_events(blocks))


def _file_paths(data: Any) -> set[str]:
    """The ``path`` of every FileData in a request's inputs."""
    if isinstance(data, dict):
        found = {data["path"]} if isinstance(data.get("path"), str) else set()
        return found.union(*(_file_paths(value) for value in data.values()))
    if isinstance(data, list | tuple):
        return set().union(*(_file_paths(item) for item in data))
    return set()


def folder_bytes(folder: str | Path) -> int:
    """Total size of the files under ``folder``, bytes (0 when it does not exist)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # removed while we counted
                continue
    return total


class UploadQuota:
    """ASGI middleware: uploads within the quota, and a client's cancel stops its analysis.

    Uploads must declare their length (chunked uploads could not be checked before they are
    stored); one is refused up front when the upload folder, the uploads under way and its own
    length would pass ``quota_bytes``. Before each upload, uploads nobody analysed for a while
    are swept (:meth:`Uploads.sweep`). ``POST …/cancel`` (what ``gradio_client``'s ``cancel``
    and a closed page send) also stops that session's run: Gradio frees its worker slot, but
    cannot stop the thread that analyses.
    """

    def __init__(self, app: ASGIApp, quota_bytes: int, runs: Runs, uploads: Uploads) -> None:
        self.app = app
        self.quota_bytes = quota_bytes
        self.runs = runs
        self.uploads = uploads
        self._lock = threading.Lock()
        self._in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check uploads, note cancels, pass everything else through."""
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
        elif scope["path"].endswith("/upload"):
            await self._upload(scope, receive, send)
        elif scope["path"].endswith("/cancel"):
            await self._cancel(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is None or not length.isdigit():
            await _plain_response(send, 411, "Uploads must say their length (Content-Length).")
            return
        declared = int(length)
        self.uploads.sweep()
        used = folder_bytes(get_upload_folder())
        with self._lock:
            fits = used + self._in_flight + declared <= self.quota_bytes
            if fits:
                self._in_flight += declared
        if not fits:
            logger.warning("upload refused: %d bytes stored, %d more asked", used, declared)
            await _plain_response(
                send, 507, "The server's space for uploads is full right now; try again in a few minutes."
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._in_flight -= declared

    async def _cancel(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        with contextlib.suppress(ValueError, AttributeError):
            session = json.loads(body or b"{}").get("session_hash")
            if isinstance(session, str):
                self.runs.stop(session)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _plain_response(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
