"""Guards around the served app: stopping runs, per-visitor and disk limits, strict API inputs.

Everything here protects the one worker of a free 2-vCPU Space from a visitor who leaves, a
visitor who queues many requests, uploads that fill the disk, links that Gradio would download
on its own, and API inputs of the wrong type.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import gradio as gr
from gradio.utils import get_upload_folder
from gradio_client.utils import is_http_url_like
from starlette.types import ASGIApp, Receive, Scope, Send

from inference import DeepfakeDetectorError, LimitExceededError, WeightsUnavailableError

logger = logging.getLogger(__name__)

ANALYSIS = "analysis"
"""The one concurrency group of every event that analyses a video (UI, examples, API)."""


class AnalysisStoppedError(DeepfakeDetectorError):
    """The visitor stopped the analysis, changed the video, or left the page."""


class TimeLimitError(LimitExceededError):
    """An analysis ran past the per-request time limit."""


class InputTypeError(DeepfakeDetectorError):
    """An API input has the wrong type (e.g. the string "false" for a checkbox)."""


@dataclass
class Run:
    """One analysis in progress: its visitor, its deadline and its stop signal."""

    visitor: str
    deadline: float
    limit_s: float
    stop: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Raise if the run was stopped or is past its deadline (called between frames and batches).

        Raises:
            AnalysisStoppedError: If the visitor stopped it, changed the video or left.
            TimeLimitError: If it ran longer than the per-request limit.
        """
        if self.stop.is_set():
            raise AnalysisStoppedError("the analysis was stopped")
        if time.monotonic() > self.deadline:
            raise TimeLimitError(
                f"the analysis took longer than this server's limit of {self.limit_s:g} s per request; "
                "try fewer frames, a shorter clip, or a start/end window"
            )


class Runs:
    """The runs in progress, by page session, so that Stop, a new video or leaving can end them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}

    def start(self, session: str, limit_s: float) -> Run:
        """Register a new run for ``session`` (a run it still had is stopped)."""
        run = Run(session, time.monotonic() + limit_s, limit_s)
        with self._lock:
            previous = self._runs.get(session)
            if previous is not None:
                previous.stop.set()
            self._runs[session] = run
        return run

    def finish(self, run: Run) -> None:
        """Forget ``run`` once it has ended."""
        with self._lock:
            if self._runs.get(run.visitor) is run:
                del self._runs[run.visitor]

    def stop(self, session: str) -> bool:
        """Stop the run of ``session``; returns whether one was running."""
        with self._lock:
            run = self._runs.pop(session, None)
        if run is not None:
            run.stop.set()
            logger.info("stopped the analysis of session %s", session[:8])
        return run is not None


def visitor(request: gr.Request | None) -> str:
    """Who sent a request: the first address of X-Forwarded-For (the Space's proxy), else the peer."""
    if request is None:
        return "local"
    forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
    return forwarded or (request.client.host if request.client else "unknown")


def queued_by(blocks: gr.Blocks, who: str) -> int:
    """Analyses of visitor ``who`` waiting in or running from Gradio's queue."""
    queue = getattr(blocks, "_queue", None)
    events = list(getattr(queue, "event_ids_to_events", {}).values())
    return sum(
        event.fn.concurrency_id == ANALYSIS and visitor(gr.Request(request=event.request)) == who
        for event in events
    )


def visitor_message(exc: DeepfakeDetectorError) -> str:
    """What to tell a visitor: what they can do. Operator advice (variables to set) goes to the log."""
    if isinstance(exc, WeightsUnavailableError):
        logger.error("weights unavailable: %s", exc)
        return (
            "The model weights are not available on this server right now, so nothing can be "
            "analysed. Try again later, or choose other weights under 'Frames and model weights'."
        )
    return str(exc)


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


def whole_number(value: Any, name: str) -> int | None:
    """``value`` as a whole number (None stays None); anything else is refused.

    Raises:
        InputTypeError: For booleans, strings, lists, NaN, infinity and fractions.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputTypeError(f"{name} must be a whole number, got {value!r}")
    if not math.isfinite(value) or value != int(value):
        raise InputTypeError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def flag(value: Any, name: str) -> bool:
    """``value`` as a boolean: true or false only (None is false); "false" and 1 are refused.

    Raises:
        InputTypeError: For anything but a JSON boolean or null.
    """
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InputTypeError(f"{name} must be true or false, got {value!r}")
    return value


def choice(value: Any, name: str, allowed: list[str]) -> str | None:
    """``value`` if it is one of ``allowed`` (None stays None).

    Raises:
        InputTypeError: For anything else, naming the allowed values.
    """
    if value is None or value in allowed:
        return value
    raise InputTypeError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


class StrictNumber(gr.Number):
    """A number input that passes the value as sent (no rounding), for :func:`whole_number`."""

    def get_block_name(self) -> str:
        """Rendered by Gradio's own number component."""
        return "number"

    def preprocess(self, payload: Any) -> Any:
        """The value as sent, checked by the function."""
        return payload


class StrictCheckbox(gr.Checkbox):
    """A checkbox input that passes the value as sent, for :func:`flag`."""

    def get_block_name(self) -> str:
        """Rendered by Gradio's own checkbox component."""
        return "checkbox"

    def preprocess(self, payload: Any) -> Any:
        """The value as sent, checked by the function."""
        return payload


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
    upload goes when its analysis ends. Gradio stores identical uploads under one path, so a
    file is deleted only when no page shows it and no other queued or running request names it.
    """

    def __init__(self, blocks: gr.Blocks) -> None:
        self.blocks = blocks
        self._lock = threading.Lock()
        self._pages: dict[str, str] = {}

    def hold(self, session: str, path: str) -> None:
        """Note ``path`` as the video of page ``session``, letting go of the one it had."""
        with self._lock:
            previous = self._pages.get(session)
            self._pages[session] = path
        if previous not in (None, path):
            self.done(previous)

    def leave(self, session: str) -> None:
        """Page ``session`` shows no video any more (a new or cleared one, or the visitor left)."""
        with self._lock:
            previous = self._pages.pop(session, None)
        if previous is not None:
            self.done(previous)

    def done(self, path: str | None, by_request: bool = False) -> None:
        """Delete ``path`` unless a page shows it or another request names it.

        Args:
            path: The uploaded file.
            by_request: Called from the request that used it (which the queue still holds).
        """
        if not path:
            return
        with self._lock:
            shown = path in self._pages.values()
        others = named_in_queue(self.blocks, path) - (1 if by_request else 0)
        if not shown and others <= 0:
            remove_upload(path)


def named_in_queue(blocks: gr.Blocks, path: str) -> int:
    """How many requests waiting in or running from Gradio's queue name the file ``path``."""
    queue = getattr(blocks, "_queue", None)
    events = list(getattr(queue, "event_ids_to_events", {}).values())
    return sum(path in repr(getattr(event.data, "data", None)) for event in events)


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
    """ASGI middleware: refuse uploads while Gradio's upload folder holds more than ``quota_bytes``.

    An upload is refused up front when the folder plus the upload's declared length would pass
    the quota; one without a declared length is refused once the folder is full. Uploads are
    deleted when their analysis ends, so the space comes back.
    """

    def __init__(self, app: ASGIApp, quota_bytes: int, folder: Callable[[], str] = get_upload_folder) -> None:
        self.app = app
        self.quota_bytes = quota_bytes
        self.folder = folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through but uploads that would fill the disk."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/upload"):
            headers = dict(scope.get("headers") or [])
            declared = int(headers.get(b"content-length", b"0") or 0)
            used = folder_bytes(self.folder())
            if used + declared > self.quota_bytes:
                logger.warning("upload refused: %d bytes stored, %d more asked", used, declared)
                await _plain_response(
                    send,
                    507,
                    "The server's space for uploads is full right now; try again in a few minutes.",
                )
                return
        await self.app(scope, receive, send)


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
