"""Downloading a vetted answer into a private folder: capped, hashed, and sniffed for a video.

:func:`download` streams a response body (:func:`inference.links.fetch.open_url`) into a private
folder, counting bytes against a cap (whether or not the server sends Content-Length), hashing as
it goes, and refusing at once what its first bytes show is not a video (a web page, a playlist,
text, an image).
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import http.cookiejar
import logging
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from inference.links.connection import Deadline
from inference.links.errors import (
    UPLOAD_INSTEAD,
    NotAVideoError,
    TooLargeError,
    UnreachableError,
)
from inference.links.fetch import NO_VIDEO, SOCKET_TIMEOUT_S, Response, open_url, shown_url

logger = logging.getLogger(__name__)

# Enough of the start of a file to tell a web page or an image from a video.
SNIFF_BYTES = 512
# ASCII digits only (\d alone also matches other scripts' digits); at most 19 of them (int64).
_CONTENT_RANGE = re.compile(r"bytes\s+(\d{1,19})-(\d{1,19})/(\d{1,19}|\*)", re.IGNORECASE | re.ASCII)


# --- what the first bytes say -------------------------------------------------------------------

_IMAGE_BRANDS = (b"avif", b"heic", b"heix", b"mif1")


def container_extension(head: bytes) -> str | None:
    """The file extension of the video container ``head`` starts, or None when not recognised."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return ".mov" if brand == b"qt  " else ".3gp" if brand.startswith(b"3g") else ".mp4"
    if head[4:8] in (b"moov", b"mdat", b"free", b"wide", b"skip"):
        return ".mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm" if b"webm" in head[:64] else ".mkv"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return ".avi"
    if head.startswith(b"FLV"):
        return ".flv"
    if head.startswith(b"OggS"):
        return ".ogv"
    if head.startswith(b"\x00\x00\x01\xba"):
        return ".mpg"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return ".wmv"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return ".gif"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return ".ts"
    return None


def not_a_video(head: bytes) -> str | None:
    """What ``head`` shows the file is, when clearly not a video (a page, a playlist, an image), or None.

    Files not recognised either way return None: probing the whole file decides.
    """
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "an image (AVIF/HEIC), not a video"
    for magic, kind in (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
    ):
        if head.startswith(magic):
            return f"{kind}, not a video"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image, not a video"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"#extm3u"):
        return f"a streaming playlist (HLS, .m3u8), which is not downloaded here; {UPLOAD_INSTEAD}"
    if text.startswith((b"<!doctype html", b"<html")) or any(tag in text for tag in (b"<head", b"<body")):
        return (
            "a web page, not a video file. Pages of the video sites yt-dlp knows are read, but a "
            "video shown in any other page is not searched for: paste the link of the video file "
            f"itself, or {UPLOAD_INSTEAD}"
        )
    if text.startswith(b"<"):
        kind = "a DASH manifest (.mpd)" if b"<mpd" in text else "an XML or HTML document"
        return f"{kind}, not a video file; {UPLOAD_INSTEAD}"
    if text.startswith((b"{", b"[")):
        return "a JSON document, not a video file"
    if head and b"\x00" not in head:
        try:
            # Incremental: a character cut at the end of the sniffed bytes is not an error.
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return None
        return "text, not a video file"
    return None


# --- downloading into a folder ---------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """A file downloaded by :func:`download`.

    Attributes:
        path: The file, inside the folder given to :func:`download`.
        final_url: The URL the bytes came from, after redirects.
        size_bytes: Its size.
        sha256: Hex sha256 of its bytes.
    """

    path: Path
    final_url: str
    size_bytes: int
    sha256: str


class _Sink:
    """Writes the body to a file, counting bytes against the cap and sniffing its first bytes."""

    def __init__(self, file: BinaryIO, max_bytes: int) -> None:
        """Write to ``file``, refusing more than ``max_bytes`` in all."""
        self.file = file
        self.max_bytes = max_bytes
        self.size = 0
        self.head = b""
        self.sniffed = False
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        """Count, sniff (once the first bytes are in), hash and write ``data``.

        Raises:
            TooLargeError: If the total passes the cap (nothing of ``data`` is written).
            NotAVideoError: If the first bytes show something that is not a video.
        """
        self.size += len(data)
        if self.size > self.max_bytes:
            raise _too_large(self.max_bytes)
        if not self.sniffed:
            self.head += data[: SNIFF_BYTES - len(self.head)]
            if len(self.head) >= SNIFF_BYTES:
                self.sniff()
        self.digest.update(data)
        self.file.write(data)

    def sniff(self) -> None:
        """Refuse the body if its first bytes show it is not a video (see :func:`not_a_video`)."""
        self.sniffed = True
        problem = not_a_video(self.head)
        if problem is not None:
            raise NotAVideoError(f"the link gives {problem}")


def _too_large(max_bytes: int) -> TooLargeError:
    """The error for a file over ``max_bytes``."""
    return TooLargeError(
        f"the video is larger than the {max_bytes / 1e6:g} MB limit; pick a shorter or smaller "
        "version of the clip and upload it"
    )


def download(
    url: str,
    folder: Path,
    *,
    max_bytes: int,
    deadline: Deadline,
    allow_private: bool = False,
    headers: Mapping[str, str] | None = None,
    cookiejar: http.cookiejar.CookieJar | None = None,
    chunk_bytes: int | None = None,
    name: str = "video",
    socket_timeout: float = SOCKET_TIMEOUT_S,
) -> Download:
    """Stream ``url`` into ``folder/name<ext>``, the extension taken from the file's first bytes.

    A file that is not finished (too large, timed out, not a video) is left in ``folder`` as
    ``name.part``: the caller owns the folder and deletes it.

    Args:
        url: An http or https link to the file.
        folder: Where to write (a private temporary folder).
        max_bytes: Largest size accepted; known from Content-Length before reading, else counted.
        deadline: The overall time limit.
        allow_private: Allow non-public addresses (tests against a local server only).
        headers: Extra request headers (a video site's, for its media URLs).
        cookiejar: Cookies to send and store.
        chunk_bytes: When set, fetch in ranges of this many bytes, one request each (some sites
            slow down whole-file requests); a server that ignores ranges sends it all at once.
        name: File name, without extension.
        socket_timeout: Longest wait for any one network operation, seconds.

    Raises:
        TooLargeError: If the file is larger than ``max_bytes``.
        NotAVideoError: If its first bytes show a web page, playlist, text or image.
        UnreachableError: If the server answers with an error status or the download breaks off.
        TimedOutError, AddressNotAllowedError, UnsupportedLinkError: See :func:`open_url`.
    """
    part = folder / f"{name}.part"
    final_url = url
    with part.open("xb") as file:
        sink = _Sink(file, max_bytes)
        start = 0
        while True:
            fields = dict(headers or {})
            if chunk_bytes:
                fields["Range"] = f"bytes={start}-{start + chunk_bytes - 1}"
            with open_url(
                url,
                deadline=deadline,
                allow_private=allow_private,
                headers=fields,
                cookiejar=cookiejar,
                socket_timeout=socket_timeout,
            ) as response:
                final_url = response.url
                ranged = _check_answer(response, start, sink.size, max_bytes, bool(chunk_bytes))
                received = 0
                while data := response.read_some():
                    received += len(data)
                    sink.write(data)
            start += received
            if not ranged or received == 0 or received < (chunk_bytes or 0) or start >= ranged:
                break
        if not sink.sniffed:
            sink.sniff()
    if sink.size == 0:
        raise NotAVideoError("the link gives an empty file (0 bytes)")
    extension = container_extension(sink.head) or _link_extension(final_url) or ".video"
    path = part.rename(folder / f"{name}{extension}")
    logger.info("downloaded %d bytes from %s", sink.size, shown_url(final_url))
    return Download(path, final_url, sink.size, sink.digest.hexdigest())


def _check_answer(response: Response, start: int, have: int, max_bytes: int, ranged: bool) -> int:
    """Refuse an error status or an announced size over the cap.

    Returns:
        The whole file's size when this is a partial (206) answer to a range request, else 0.
    """
    if response.status == 206 and ranged:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if match is None or int(match.group(1)) != start:
            raise UnreachableError("the server answered a range request with the wrong range")
        total = int(match.group(3)) if match.group(3) != "*" else 0
        if total > max_bytes:
            raise _too_large(max_bytes)
        return total or (1 << 62)
    if response.status != 200:
        raise UnreachableError(_status_message(response))
    if have:
        raise UnreachableError("the server sent the whole file again instead of the rest of it")
    length = response.content_length
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    return 0


def _status_message(response: Response) -> str:
    """What to tell a person about an error status: the code and advice, never the reason phrase."""
    status = response.status
    advice = (
        "the file is not public"
        if status in (401, 403)
        else "the file is not there; check the link"
        if status in (404, 410)
        else "the server is busy; try again later"
        if status == 429
        else "the server failed; try again later"
        if status >= 500
        else "this is not a downloadable file"
    )
    logger.info("%s answered %d %r", shown_url(response.url), status, response.reason)
    # The status is a number http.client parsed (three digits); the reason phrase is the server's.
    return f"{NO_VIDEO} (HTTP {status}): {advice}"


_VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".flv", ".ts", ".mpg", ".mpeg", ".wmv"}


def _link_extension(url: str) -> str | None:
    """The link's own extension when it names a video container (used only when sniffing cannot)."""
    suffix = PurePosixPath(urllib.parse.urlsplit(url).path).suffix.lower()
    return suffix if suffix in _VIDEO_EXTENSIONS else None
