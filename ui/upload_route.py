"""The upload route (``POST /gradio_api/upload``), served here instead of by Gradio.

Gradio's own route trusts the declared length, spools files into its shared cache under a name
made of their content's hash (identical files of two visitors share a path), takes up to 1000
files per request and leaves its spool files behind when a body stops half-way. This one:

- refuses any ``Transfer-Encoding`` (411 without ``Content-Length``), and a declared length
  over one file of ``DEEPFAKE_MAX_UPLOAD_MB`` (413) before reading anything;
- counts the bytes actually received, reserving them in the quota as they arrive (507 once it
  is full), so that an idle connection holds only what it sent;
- ends a body that has not fully arrived within ``DEEPFAKE_UPLOAD_TIMEOUT_S`` (408);
- takes one file per request, within ``DEEPFAKE_MAX_UPLOADS`` files stored at once;
- stores each file at a fresh random folder of :attr:`Uploads.root`, and removes its spool
  folder whatever happens.

It answers what Gradio's answers: the JSON list of the stored paths, and it reports progress to
``/gradio_api/upload_progress`` the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from gradio import utils
from gradio.data_classes import DeveloperPath, UserProvidedPath
from gradio.exceptions import InvalidPathError
from gradio.route_utils import GradioMultiPartParser, GradioUploadFile, MultiPartException
from gradio_client.utils import strip_invalid_filename_characters
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MAX_BOUNDARY_LENGTH, parse_options_header
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from ui import upload_ids

if TYPE_CHECKING:
    from ui.uploads import Uploads

logger = logging.getLogger(__name__)

FILES_PER_REQUEST = 1
"""The page, ``gradio_client`` and Gradio's upload tool send one file per upload request."""

FORM_SLACK = 64 * 1024
"""Room for the multipart form around the file (boundaries, part headers, small fields)."""

FULL = "The server's space for uploads is full right now; try again in a few minutes."
YOURS = (
    "You have as many uploads waiting on this server as one visitor may: clear a video you uploaded "
    "(or close its tab; through the API, an upload goes once analysed), or try again in a few minutes."
)
BUSY = "You are sending too many uploads at once; wait for one to finish."
IDLE_S = 20.0
"""An upload that sends no byte for this long is ended (besides ``DEEPFAKE_UPLOAD_TIMEOUT_S``)."""


class UploadRefused(MultiPartException):
    """An upload refused while its body arrived; Gradio's parser then closes and deletes its
    spool files, as for its own refusals."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def receive_upload(
    scope: Scope,
    receive: Receive,
    send: Send,
    uploads: Uploads,
    limits: tuple[int, float],
    who: str,
) -> None:
    """Serve one upload request of visitor ``who`` (see the module's docstring).

    Args:
        limits: The largest file, bytes, and the time the body may take to arrive, seconds.
    """
    max_file_bytes, timeout_s = limits
    headers = Headers(scope=scope)
    refusal = _refused_up_front(headers, uploads, max_file_bytes)
    asked_id = upload_ids.upload_id(scope)
    if refusal is None and asked_id is not None and not upload_ids.acceptable(asked_id):
        refusal = 400, upload_ids.REFUSED
    if refusal is not None:
        await plain_response(send, *refusal)
        return
    if uploads.expired():
        await anyio.to_thread.run_sync(uploads.sweep)
    opened = uploads.open(who)
    if opened is not None:
        logger.warning("upload of %s refused: %s", who, opened[1])
        await plain_response(send, *opened)
        return
    declared = int(headers["content-length"])
    counted = _Counted(receive, uploads, declared, time.monotonic() + timeout_s, who)
    upload_id = upload_ids.upload_id(scope)
    progress = upload_ids.statuses() if upload_id else None
    if progress is not None:
        progress.track(upload_id)
    spool: Path | None = None
    refused: MultiPartException | None = None
    try:
        spool = await anyio.to_thread.run_sync(uploads.new_folder)
        parser = GradioMultiPartParser(
            headers,
            counted.chunks(),
            max_files=FILES_PER_REQUEST,
            max_fields=8,
            upload_dir=spool,
            max_file_size=max_file_bytes,
            upload_id=upload_id,
            upload_progress=progress,
        )
        form = await parser.parse()
        files = [item for item in form.getlist("files") if isinstance(item, GradioUploadFile)]
        stored = await anyio.to_thread.run_sync(_store, uploads, files, counted)
    except MultiPartException as exc:
        refused = exc
    finally:
        # Given back before answering: uploads arriving together must not all fail for want
        # of the room a refused one still held.
        if not counted.stored:
            uploads.close(counted.taken, who)
        if spool is not None:
            await anyio.to_thread.run_sync(shutil.rmtree, spool, True)
        if upload_id:
            upload_ids.forget_later(upload_id)
    if refused is None:
        await json_response(send, stored)
        return
    status, message = _refusal(refused)
    if status == 507:
        logger.warning("upload refused mid-body: quota of %d bytes reached", uploads.quota_bytes)
    if progress is not None:
        progress.set_done(upload_id)
    await plain_response(send, status, message)


def _refusal(refused: MultiPartException) -> tuple[int, str]:
    """The status and message of an upload refused while its form was parsed."""
    if hasattr(refused, "status"):
        return refused.status, refused.message
    if refused.message.startswith("Too many files"):
        return 400, f"Send one file per request (this one had more than {FILES_PER_REQUEST})."
    cause = refused.__cause__
    if isinstance(cause, MultipartParseError) and "exceeded" not in str(cause):
        # Gradio calls any error naming a header "Headers exceeded maximum allowed size".
        return 400, "The upload's multipart form is malformed."
    return (413 if "maximum allowed size" in refused.message else 400), refused.message


def _refused_up_front(headers: Headers, uploads: Uploads, max_file_bytes: int) -> tuple[int, str] | None:
    """Why the request is refused before any byte of its body is read, or None."""
    if "transfer-encoding" in headers:
        return 411, "Uploads must be sent with Content-Length, not Transfer-Encoding."
    length = headers.get("content-length", "")
    if not length.isdigit():
        return 411, "Uploads must say their length (Content-Length)."
    if int(length) > max_file_bytes + FORM_SLACK:
        return 413, f"The file is larger than this server's limit of {max_file_bytes / 1e6:g} MB."
    used, _ = uploads.used()
    if used + int(length) > uploads.quota_bytes:
        logger.warning("upload refused: %d bytes held, %s more asked", used, length)
        return 507, FULL
    kind, options = parse_options_header(headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not 0 < len(options.get(b"boundary", b"")) <= MAX_BOUNDARY_LENGTH:
        # A boundary over MAX_BOUNDARY_LENGTH made the form parser raise an error of its own: 500.
        return 400, "Uploads must be multipart/form-data."
    return None


class _Counted:
    """The request body as it arrives: every byte reserved in the quota, within the declared
    length and the deadline."""

    def __init__(self, receive: Receive, uploads: Uploads, declared: int, deadline: float, who: str) -> None:
        self.receive = receive
        self.who = who
        self.uploads = uploads
        self.declared = declared
        self.deadline = deadline
        self.taken = 0
        self.stored = False  # the ledger took back what it reserved (Uploads.keep)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks; raises :class:`UploadRefused` to end it early."""
        more = True
        while more:
            try:
                # Ended at the deadline, or after IDLE_S without a byte: a connection that sends
                # nothing must not hold its place in the file count for the whole deadline.
                async with asyncio.timeout(min(self.deadline - time.monotonic(), IDLE_S)):
                    message = await self.receive()
            except TimeoutError:
                raise UploadRefused(
                    408, "The upload took too long; try again on a faster connection."
                ) from None
            if message["type"] == "http.disconnect":
                raise UploadRefused(400, "The upload was interrupted.")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self.taken + len(body) > self.declared:
                raise UploadRefused(400, "The upload is longer than its Content-Length.")
            if not self.uploads.take(len(body), self.who):
                full = self.uploads.used()[0] + len(body) > self.uploads.quota_bytes
                raise UploadRefused(507, FULL) if full else UploadRefused(429, YOURS)
            self.taken += len(body)
            if body:
                yield body


def _store(uploads: Uploads, files: list[GradioUploadFile], counted: _Counted) -> list[str]:
    """Move the spooled file (one per request) to a folder of its own under the uploads' root;
    note it in the ledger, which takes back what it reserved while arriving in the same step.
    Returns the stored paths (Gradio's answer)."""
    who = counted.who
    stored = []
    for upload in files:
        name = (
            strip_invalid_filename_characters(Path(upload.filename or "").name)
            or f"tmp{secrets.token_hex(5)}"
        )
        folder = uploads.new_folder()
        try:
            destination = utils.safe_join(DeveloperPath(str(folder)), UserProvidedPath(name))
        except InvalidPathError:
            folder.rmdir()
            raise UploadRefused(
                400, "The file's name cannot be used; rename it and upload it again."
            ) from None
        upload.file.close()
        os.rename(upload.file.name, destination)
        size = os.path.getsize(destination)
        uploads.keep(destination, size, who, arrived=None if counted.stored else counted.taken)
        counted.stored = True
        stored.append(destination)
    return stored


async def plain_response(send: Send, status: int, text: str, close: bool = True) -> None:
    """Answer ``status`` with ``text``; ``close``: the connection is closed after it (a body may
    be left unread)."""
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def json_response(send: Send, data: Any) -> None:
    """Answer 200 with ``data`` as JSON."""
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
