"""Visitors' uploads: links refused, the ledger that counts them (quota, file count) and deletes
them once nothing needs them, and the middleware that puts every way in for a file (the upload
route, MCP ``data:`` URIs, Gradio's screen-recording route) under those limits.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder
from gradio_client.utils import is_http_url_like

from ui.guards import PAGES_KEPT
from ui.queued_files import named_in_queue, uploaded_file
from ui.upload_route import BUSY, FULL, YOURS

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


def remove_upload(path: str | None) -> None:
    """Delete a visitor's uploaded file once its analysis has ended (only inside Gradio's upload folder)."""
    if not path:
        return
    folder = Path(get_upload_folder()).resolve()
    file = Path(path).resolve()
    if not file.is_relative_to(folder) or file.is_dir():
        return
    file.unlink(missing_ok=True)  # already gone when Gradio's delete_cache came first
    if file.parent != folder and file.parent.is_dir() and not any(file.parent.iterdir()):
        file.parent.rmdir()  # the upload's own token folder, not to pile up empty


BLOCK = 4096
"""Each stored upload costs at least this many bytes of the quota, and whole blocks: a file
takes disk blocks and an inode, so empty files are not free."""


def cost(size: int) -> int:
    """What a stored file of ``size`` bytes costs of the quota: whole blocks, at least one."""
    return max(1, -(-size // BLOCK)) * BLOCK


class Uploads:
    """Visitors' uploads: counted as they arrive, kept apart from outputs, deleted once unneeded.

    Every upload is stored under :attr:`root` (a private folder of this app in Gradio's upload
    folder, removed at exit) at ``<random token>/<name>``: identical files of two visitors never
    share a path, and nobody can name another's upload without being told its path. The quota
    counts what this ledger holds plus the bytes of uploads still arriving, never Gradio's
    cache, which also holds every output (reports, images, live previews).

    A page keeps its video while it shows it (the visitor may analyse it again with other
    settings) and lets it go when the video is replaced or cleared or the visitor leaves; an API
    upload goes when its analysis ends; an upload nobody analyses goes after ``ttl_s``. Only
    files of the ledger are ever deleted (never an example's copy or an output), and only when
    no page shows it and no other queued or running request names it.
    """

    MAX_PAGES = PAGES_KEPT

    def __init__(self, blocks: gr.Blocks, ttl_s: float, quota_bytes: int, max_files: int) -> None:
        self.blocks = blocks
        self.ttl_s = ttl_s
        self.quota_bytes = quota_bytes
        self.max_files = max_files
        folder = Path(get_upload_folder())
        folder.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="uploads-", dir=folder.resolve()))
        atexit.register(shutil.rmtree, self.root, True)
        self._lock = threading.Lock()
        self._pages: dict[str, str] = {}
        # Page session: when the request that last changed its video arrived (monotonic).
        self._changed: dict[str, float] = {}
        # path: (cost, when stored (monotonic), the visitor it came from)
        self._stored: dict[str, tuple[int, float, str]] = {}
        self._arriving_bytes = 0
        self._arriving_files = 0
        self._arriving_by: dict[str, list[int]] = {}  # visitor: [bytes, files] still arriving
        self.visitor_files = max_files
        self.visitor_bytes = quota_bytes
        self._sweeper: threading.Thread | None = None
        self._pending: set[str] = set()  # uploads whose last requests may have ended together
        self.mcp_reading: set[str] = set()  # visitors whose large MCP body is being read

    def limit_visitors(self, files: int, share: float) -> None:
        """Let one visitor hold at most ``files`` uploads and ``share`` of the quota (stored and
        arriving), so that one visitor cannot fill the space everyone shares for ``ttl_s``."""
        self.visitor_files = files
        self.visitor_bytes = int(self.quota_bytes * share)

    # ---- the quota: stored uploads plus the bytes of those arriving ---------------------------

    def used(self) -> tuple[int, int]:
        """Bytes (by :func:`cost`) and files held: stored and arriving."""
        with self._lock:
            stored = sum(entry[0] for entry in self._stored.values())
            return stored + self._arriving_bytes, len(self._stored) + self._arriving_files

    def arriving(self) -> tuple[int, int]:
        """Bytes and files of the uploads still arriving."""
        with self._lock:
            return self._arriving_bytes, self._arriving_files

    def paths(self) -> list[str]:
        """The stored uploads."""
        with self._lock:
            return list(self._stored)

    def open(self, who: str = "", files: int = 1) -> tuple[int, str] | None:
        """Count ``files`` uploads of visitor ``who`` as arriving; returns None, or why not (the
        file count, or the visitor's share of it: stored and arriving, so that connections of one
        visitor that idle hold no more than that visitor may)."""
        with self._lock:
            mine = self._arriving_by.setdefault(who, [0, 0])
            held = sum(entry[2] == who for entry in self._stored.values())
            if held + mine[1] + files > self.visitor_files:
                refusal = (429, YOURS if held else BUSY)
            elif len(self._stored) + self._arriving_files + files > self.max_files:
                refusal = (507, FULL)
            else:
                mine[1] += files
                self._arriving_files += files
                return None
            if mine == [0, 0]:
                del self._arriving_by[who]
            return refusal

    def take(self, size: int, who: str = "") -> bool:
        """Reserve ``size`` more bytes for an upload of ``who`` arriving, unless that passes the
        quota or the visitor's share of it."""
        with self._lock:
            stored = sum(entry[0] for entry in self._stored.values())
            if stored + self._arriving_bytes + size > self.quota_bytes:
                return False
            mine = sum(entry[0] for entry in self._stored.values() if entry[2] == who)
            arriving = self._arriving_by.setdefault(who, [0, 0])
            if mine + arriving[0] + size > self.visitor_bytes:
                return False
            arriving[0] += size
            self._arriving_bytes += size
            return True

    def close(self, size: int, who: str = "", files: int = 1) -> None:
        """An arriving upload ended (refused, or stored by :meth:`keep`): give back its ``size``
        bytes and files."""
        with self._lock:
            self._give_back(size, who, files)

    def _give_back(self, size: int, who: str, files: int) -> None:
        self._arriving_bytes -= size
        self._arriving_files -= files
        mine = self._arriving_by.setdefault(who, [0, 0])
        mine[0] -= size
        mine[1] -= files
        if mine == [0, 0]:
            del self._arriving_by[who]

    def keep(self, path: str, size: int, who: str = "", arrived: int | None = None) -> None:
        """Note the stored upload ``path`` of ``size`` bytes from ``who``.

        ``arrived``: the bytes it reserved while arriving (:meth:`take`), given back with its
        file in the same step, so that a burst of uploads never sees it counted twice (stored
        and arriving: others were refused for room that was not taken); the caller then does
        not :meth:`close` it. None: the caller closes it after.
        """
        with self._lock:
            self._stored[os.path.realpath(path)] = (cost(size), time.monotonic(), who)
            if arrived is not None:
                self._give_back(arrived, who, 1)

    def new_folder(self) -> Path:
        """A new private folder for one upload, under :attr:`root` (blocking: call in a thread)."""
        folder = self.root / secrets.token_hex(16)
        folder.mkdir(mode=0o700)
        return folder

    def gone(self, path: str) -> bool:
        """Whether ``path`` was an upload of this ledger that is deleted now (replaced, cleared,
        given back, or past ``ttl_s``): an analysis of it could only say the file is missing."""
        key = os.path.realpath(path)
        with self._lock:
            stored = key in self._stored
        return not stored and Path(key).is_relative_to(self.root) and not os.path.isfile(key)

    def holds(self, path: str) -> bool:
        """Whether ``path`` is an upload this ledger holds."""
        with self._lock:
            return os.path.realpath(path) in self._stored

    # ---- pages, requests and deletion ----------------------------------------------------------

    def hold(self, session: str, path: str, arrived: float | None = None, first_shown: bool = False) -> bool:
        """Note ``path`` as the video of page ``session``, letting go of the one it had.

        Only uploads of this ledger are held (another video, an example, just lets go of the
        page's upload), each by one page at most (the last to show it): pages held this way
        number no more than the uploads, whatever session names callers make up.

        Args:
            session: The page.
            path: The video it shows now.
            arrived: When the page's request arrived (monotonic; None: now). A request that
                arrived before the page's last change (a busy server ran the page's requests out
                of the order the page sent them) changes nothing.
            first_shown: The request is the page's first with ``path`` (its upload or recording
                event). A change of the page that arrived after the file was stored came after
                this request too, whatever their arrival times: the page sends the event once
                the upload is in, and a server whose event loop was held up reads the requests
                that waited meanwhile in any order.

        Returns:
            Whether the page's video changed (False: the request was overtaken).
        """
        evicted, key = None, os.path.realpath(path)
        with self._lock:
            stored = self._stored.get(key)
            if not self._changes(session, arrived, stored[1] if stored and first_shown else None):
                return False
            previous = self._pages.pop(session, None)
            if stored is not None:
                for other in [other for other, held in self._pages.items() if held == path]:
                    del self._pages[other]
                if len(self._pages) >= self.MAX_PAGES:  # sessions that never said goodbye
                    evicted = self._pages.pop(next(iter(self._pages)))
                self._pages[session] = path
        for old in (previous, evicted):
            if old not in (None, path):
                self.done(old)
        return True

    def leave(self, session: str, arrived: float | None = None) -> bool:
        """Page ``session`` shows no video any more (cleared, or the visitor left); ``arrived``
        and the result as for :meth:`hold`."""
        with self._lock:
            if not self._changes(session, arrived):
                return False
            previous = self._pages.pop(session, None)
        if previous is not None:
            self.done(previous)
        return True

    def _changes(self, session: str, arrived: float | None, sent_after: float | None = None) -> bool:
        """Under ``_lock``: note the page's change by a request that arrived at ``arrived`` and
        was sent after ``sent_after`` (monotonic; None: unknown), unless the page changed
        since (a request that arrived later, or any change after ``sent_after``)."""
        when = time.monotonic() if arrived is None else arrived
        last = self._changed.get(session, -math.inf)
        if when < last or (sent_after is not None and sent_after < last):
            return False
        self._changed.pop(session, None)
        self._changed[session] = when
        if len(self._changed) > self.MAX_PAGES:  # made-up sessions: the oldest goes
            del self._changed[next(iter(self._changed))]
        return True

    def shows(self, session: str, path: str) -> bool:
        """Whether page ``session`` still shows ``path``."""
        with self._lock:
            return self._pages.get(session) == path

    def done(self, path: str | None, by_request: bool = False) -> None:
        """Delete the upload ``path`` unless a page or another request needs it.

        Args:
            path: The uploaded file (anything that is not an upload of this ledger is left alone).
            by_request: Called from the request that used it (which the queue still holds).
        """
        if not (path and self.holds(path)):
            return
        if self._unneeded(path, 1 if by_request else 0):
            self._forget(path)
        elif by_request:
            # Two requests on one upload that end together each see the other still queued:
            # the sweeper looks again in a few seconds rather than after the TTL.
            with self._lock:
                self._pending.add(os.path.realpath(path))

    def expired(self) -> bool:
        """Whether an upload is older than ``ttl_s`` (cheap: no disk access)."""
        cutoff = time.monotonic() - self.ttl_s
        with self._lock:
            return any(entry[1] < cutoff for entry in self._stored.values())

    def sweep(self) -> None:
        """Delete uploads older than ``ttl_s`` that nothing needs (uploaded, never analysed), and
        forget those already gone (Gradio's own clean-up). Blocking: call it in a thread."""
        cutoff = time.monotonic() - self.ttl_s
        with self._lock:
            old = [path for path, entry in self._stored.items() if entry[1] < cutoff]
        for path in old:
            if not os.path.isfile(path) or self._unneeded(path, 0):
                self._forget(path)

    def sweep_often(self) -> None:
        """Sweep in a background thread every few seconds, not only when someone uploads: files
        left by MCP calls must go even if nobody uploads again (idempotent)."""
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeper = threading.Thread(target=self._sweep_loop, name="upload-sweep", daemon=True)
        self._sweeper.start()

    def _sweep_loop(self) -> None:
        seen_running = False
        while not (seen_running and not self.blocks.is_running):  # ends when the app is closed
            seen_running = seen_running or self.blocks.is_running
            time.sleep(min(10.0, max(1.0, self.ttl_s / 4)))
            with self._lock:
                pending, self._pending = self._pending, set()
            for path in pending:
                self.done(path)
            if self.expired():
                try:
                    self.sweep()
                except OSError:
                    logger.exception("sweeping expired uploads failed; trying again later")

    def _forget(self, path: str) -> None:
        key = os.path.realpath(path)
        with contextlib.suppress(FileNotFoundError, OSError):
            remove_upload(key)
        with self._lock:
            self._stored.pop(key, None)

    def _unneeded(self, path: str, own: int) -> bool:
        with self._lock:
            shown = path in self._pages.values()
        return not shown and named_in_queue(self.blocks, path) <= own
