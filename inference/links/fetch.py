"""Guarded HTTP: every request vetted, connected to the vetted address, bounded in bytes and time.

:func:`open_url` sends one request and follows redirects itself, vetting each hop with
:func:`inference.links.guard.vet_url` and connecting to the address that was vetted (the Host
header, TLS SNI and the certificate check still use the host name). An overall :class:`Deadline`
bounds everything: socket timeouts never exceed the time left, it is checked between reads, and a
watchdog shuts the socket at the deadline so that a server dripping bytes cannot hold a read open.

:func:`download` streams a response body into a private folder, counting bytes against a cap
(whether or not the server sends Content-Length), hashing as it goes, and refusing at once what
its first bytes show is not a video (a web page, a playlist, text, an image).

Messages never repeat what a server sent (a status line, a reason phrase, a header) nor the
address a name resolved to: they are fixed sentences a person can act on, and the details go to
the log. Numbers in headers are read as ASCII digits only, and a header that does not parse is a
:class:`~inference.links.errors.LinkError`, never a bare ``ValueError``.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import hashlib
import http.client
import http.cookiejar
import ipaddress
import itertools
import logging
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import BinaryIO

from inference.links import guard
from inference.links.errors import (
    UPLOAD_INSTEAD,
    LinkError,
    NotAVideoError,
    TimedOutError,
    TooLargeError,
    UnreachableError,
    UnsupportedLinkError,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0
SOCKET_TIMEOUT_S = 20.0
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
# Enough of the start of a file to tell a web page or an image from a video.
SNIFF_BYTES = 512
USER_AGENT = "Mozilla/5.0 (compatible; deepfake-video-detector link fetcher)"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Headers that must not follow a redirect to another origin (scheme, host or port).
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
_BODY_HEADERS = ("content-type", "content-length", "content-encoding", "transfer-encoding")
# ASCII digits only (\d alone also matches other scripts' digits); at most 19 of them (int64).
_CONTENT_RANGE = re.compile(r"bytes\s+(\d{1,19})-(\d{1,19})/(\d{1,19}|\*)", re.IGNORECASE | re.ASCII)
# The fixed messages (details go to the log, never to the person).
_NOT_REACHED = "could not reach the site; check the link or try again later"
_NO_VIDEO = "the server did not answer with a video"
_NOT_A_VIDEO_ANSWER = f"{_NO_VIDEO}; check the link"
_BROKE_OFF = "the download broke off; try again later"


class Deadline:
    """An overall time limit on the monotonic clock, and the caller's own stop check.

    Attributes:
        stopped: What ``stop`` raised, kept so that the fetch ends with it even where yt-dlp
            wrapped it in an error of its own.
    """

    def __init__(self, seconds: float, stop: Callable[[], None] | None = None) -> None:
        """Start the clock: the deadline is ``seconds`` from now. ``stop``, called at every
        :meth:`check` (between requests and chunks), raises to end the fetch early."""
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self._stop = stop
        self.stopped: BaseException | None = None

    def remaining(self) -> float:
        """Seconds left (0 when passed)."""
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return time.monotonic() >= self.end

    def error(self) -> TimedOutError:
        """The error to raise when the deadline has passed."""
        return TimedOutError(
            f"fetching the link took longer than the {self.seconds:g} s limit (the server may be slow "
            f"or sending very slowly); try again later, or {UPLOAD_INSTEAD}"
        )

    def check(self) -> None:
        """Raise :class:`TimedOutError` if the deadline has passed, or what ``stop`` raises."""
        if self._stop is not None:
            try:
                self._stop()
            except Exception as exc:
                self.stopped = exc
                raise
        if self.expired():
            raise self.error()


class _Watchdog:
    """Shuts a socket down when the deadline passes, ending any read blocked on it."""

    def __init__(self, deadline: Deadline) -> None:
        """Start a daemon timer that fires when ``deadline`` passes (cancel it with :meth:`cancel`)."""
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline.remaining(), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        """Watch ``sock``: shut it down at the deadline (at once when already passed)."""
        with self._lock:
            self._sock = sock
            fired = self.fired
        if fired:
            self._shutdown(sock)

    def _fire(self) -> None:
        """The timer's action: mark the deadline passed and shut the watched socket down."""
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        """Shut ``sock`` down for reading and writing (nothing when it is already closed)."""
        # The plain socket's shutdown, also on a TLS socket: the blocked read sees the end of the
        # stream at once (SSLSocket.shutdown would also tear down TLS state under the reader).
        with contextlib.suppress(OSError):  # already closed
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        """Stop the timer (its thread ends at once); safe to call more than once."""
        self._timer.cancel()


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    """Open a TCP connection to the IP ``address`` (already vetted; no name lookup happens here)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((address, port))
    except OSError:
        sock.close()
        raise
    return sock


class _VettedConnection(http.client.HTTPConnection):
    """An HTTP connection to one of a target's vetted addresses, never to a fresh lookup of its name."""

    def __init__(self, target: guard.Target, deadline: Deadline, timeout: float) -> None:
        """A connection (not yet open) to ``target``'s vetted addresses, within ``deadline``."""
        super().__init__(target.host, target.port, timeout=timeout)
        self._vetted(target, deadline)

    def _vetted(self, target: guard.Target, deadline: Deadline) -> None:
        """Keep the target and deadline, and route the socket's opening to :meth:`_connect_vetted`."""
        self.target = target
        self.deadline = deadline
        # http.client's connect() opens its socket through this attribute (set in CPython's
        # __init__ so that it can be replaced); the rest of connect(), TLS included, is kept.
        self._create_connection = self._connect_vetted

    def _connect_vetted(
        self, _address: tuple[str, int], timeout: float, _source: tuple[str, int] | None = None
    ) -> socket.socket:
        """Replaces socket.create_connection: try the vetted addresses in turn until one connects.

        The address http.client passes (the host name) is ignored: no name lookup happens here.
        """
        failure: OSError | None = None
        for address in self.target.addresses:
            if self.deadline.expired():
                break
            try:
                return _connect(address, self.target.port, max(0.01, min(timeout, self.deadline.remaining())))
            except OSError as exc:
                failure = exc
        raise failure or TimeoutError("the deadline passed while connecting")


class _VettedTLSConnection(_VettedConnection, http.client.HTTPSConnection):
    """HTTPS to a vetted address; SNI and the certificate check use the host name."""

    def __init__(self, target: guard.Target, deadline: Deadline, timeout: float) -> None:
        """A TLS connection (not yet open) to ``target``'s vetted addresses, checked for its host name."""
        http.client.HTTPSConnection.__init__(
            self, target.host, target.port, timeout=timeout, context=_tls_context()
        )
        self._vetted(target, deadline)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """A verifying TLS context (certifi's roots when installed, else the system's), made once."""
    try:
        import certifi
    except ImportError:  # the system's roots serve without it
        logger.warning("certifi is not installed: site certificates are checked against the system's store")
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class Response:
    """An open response to a vetted request; read it with :meth:`read_some`, then close it.

    Attributes:
        url: The URL this answer came from (after redirects).
        status: HTTP status code.
        reason: HTTP reason phrase.
        headers: The response headers.
        raw: The underlying :class:`http.client.HTTPResponse`.
    """

    def __init__(
        self,
        url: str,
        connection: _VettedConnection,
        raw: http.client.HTTPResponse,
        sock: socket.socket,
        watchdog: _Watchdog,
        deadline: Deadline,
        socket_timeout: float,
    ) -> None:
        """Wrap the answer ``raw`` on ``connection`` (``sock`` is its socket, watched by ``watchdog``)."""
        self.url = url
        self.status = raw.status
        self.reason = raw.reason
        self.headers = raw.headers
        self.raw = raw
        self._connection = connection
        self._sock = sock
        self._watchdog = watchdog
        self._deadline = deadline
        self._socket_timeout = socket_timeout

    @property
    def content_length(self) -> int | None:
        """The Content-Length header as a number, or None when absent.

        Raises:
            UnreachableError: If it is not a number written in ASCII digits.
        """
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        value = value.strip()
        # str.isdigit() alone accepts "²" and other digits int() refuses or reads differently.
        if not (value.isascii() and value.isdigit()):
            logger.info("%s: malformed Content-Length %r", shown_url(self.url), value)
            raise UnreachableError(_NOT_A_VIDEO_ANSWER)
        try:
            return int(value)
        except ValueError as exc:  # more digits than int() reads from text
            logger.info("%s: Content-Length of %d digits", shown_url(self.url), len(value))
            raise UnreachableError(_NOT_A_VIDEO_ANSWER) from exc

    def read_some(self, size: int = CHUNK_BYTES) -> bytes:
        """Read at most ``size`` bytes of the body with one system call; ``b""`` at its end.

        Raises:
            TimedOutError: If the deadline passes, or the server sends nothing for a socket timeout.
            UnreachableError: If the connection breaks or the body ends before its announced length.
        """
        if self._watchdog.fired:
            raise self._deadline.error()
        self._deadline.check()
        try:
            self._sock.settimeout(max(0.01, min(self._socket_timeout, self._deadline.remaining())))
            data = self.raw.read1(size)
        except TimeoutError as exc:
            if self._watchdog.fired or self._deadline.expired():
                raise self._deadline.error() from exc
            raise TimedOutError(
                f"the server sent nothing for {self._socket_timeout:g} s; try again later"
            ) from exc
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if self._watchdog.fired:
                raise self._deadline.error() from exc
            # The text may quote the server (a bad chunk size line): logged, not shown.
            logger.info("%s: the download broke off: %r", shown_url(self.url), exc)
            raise UnreachableError(_BROKE_OFF) from exc
        # A shut-down socket reads as a clean end of stream: tell it from a real end.
        if self._watchdog.fired:
            raise self._deadline.error()
        if not data and size and self.raw.length:
            logger.info("%s: the body ended %d bytes early", shown_url(self.url), self.raw.length)
            raise UnreachableError(_BROKE_OFF)
        return data

    def close(self) -> None:
        """Close the connection and stop its watchdog."""
        self._watchdog.cancel()
        self.raw.close()
        self._connection.close()

    def __enter__(self) -> Response:
        """The response itself, closed when the ``with`` block ends."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Close the response, whatever ended the block."""
        self.close()


def open_url(
    url: str,
    *,
    deadline: Deadline,
    allow_private: bool = False,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    cookiejar: http.cookiejar.CookieJar | None = None,
    max_redirects: int = MAX_REDIRECTS,
    socket_timeout: float = SOCKET_TIMEOUT_S,
) -> Response:
    """Send one request, following up to ``max_redirects`` redirects, each hop vetted first.

    Error statuses are returned, not raised: the caller decides what a 404 means.

    Args:
        url: An http or https link.
        deadline: The overall time limit, shared by every hop.
        allow_private: Allow non-public addresses (tests against a local server only).
        method: HTTP method; a 301/302 on POST and a 303 become GET, as browsers do.
        headers: Request headers; a User-Agent is added when absent. Authorization, Cookie and
            Proxy-Authorization are dropped at the first redirect to another scheme, host or port.
        body: Request body (307/308 resend it; other redirects drop it).
        cookiejar: Cookies to send and to store (per hop), or None for none.
        max_redirects: Redirects followed before giving up.
        socket_timeout: Longest wait for any one network operation, seconds.

    Raises:
        UnsupportedLinkError, AddressNotAllowedError: If a hop's link, port or address is
            refused; nothing is sent to that hop.
        UnreachableError: If a host cannot be reached, its certificate is not valid, or there
            are too many redirects.
        TimedOutError: If the deadline passes.
    """
    current = url
    fields = _merged({"User-Agent": USER_AGENT, "Accept": "*/*"}, headers or {})
    origin: tuple[str, str, int] | None = None
    for hop in itertools.count():
        deadline.check()
        target = guard.vet_url(current, allow_private=allow_private, timeout_s=deadline.remaining())
        here = (target.scheme, target.host, target.port)
        if origin is not None and here != origin:
            # Credentials were meant for the first origin: not for another host, another port
            # (another service), nor plain http after https.
            fields = {k: v for k, v in fields.items() if k.lower() not in _CREDENTIAL_HEADERS}
        origin = here
        sent = dict(fields)
        if cookiejar is not None and not any(name.lower() == "cookie" for name in sent):
            cookie = _cookie_header(cookiejar, current)
            if cookie:
                sent["Cookie"] = cookie
        response = _send(target, method, sent, body, deadline, socket_timeout)
        try:
            if cookiejar is not None:
                cookiejar.extract_cookies(response.raw, urllib.request.Request(current))
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            if hop == max_redirects:
                raise UnreachableError(f"the link redirects more than {max_redirects} times; check the link")
            following = _redirect_target(current, location)
        except BaseException:
            response.close()
            raise
        response.close()
        logger.info("redirect %d: %s -> %s", response.status, shown_url(current), shown_url(following))
        # As browsers do: 303 turns anything but HEAD into GET, and 301/302 turn POST into GET.
        status = response.status
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method, body = "GET", None
            fields = {k: v for k, v in fields.items() if k.lower() not in _BODY_HEADERS}
        current = following
    raise RuntimeError("itertools.count() ended")  # pragma: no cover (for type checkers)


def _redirect_target(current: str, location: str) -> str:
    """The absolute URL a Location header points to, relative to ``current``.

    Raises:
        UnsupportedLinkError: If the Location cannot be read as a link (it is not repeated).
    """
    try:
        return urllib.parse.urljoin(current, location.strip())
    except ValueError as exc:  # "Invalid IPv6 URL" and the like
        logger.info("%s: unreadable redirect target %r", shown_url(current), location)
        raise UnsupportedLinkError("the site redirects to something that is not a valid link") from exc


def _send(
    target: guard.Target,
    method: str,
    headers: Mapping[str, str],
    body: bytes | None,
    deadline: Deadline,
    socket_timeout: float,
) -> Response:
    """One request to a vetted target (no redirects).

    Whatever interrupts the request (an error, KeyboardInterrupt), the watchdog's timer is
    cancelled and the connection closed before the exception goes on.
    """
    timeout = max(0.01, min(socket_timeout, deadline.remaining()))
    kind = _VettedTLSConnection if target.scheme == "https" else _VettedConnection
    connection = kind(target, deadline, timeout)
    watchdog = _Watchdog(deadline)
    # Ours win over the caller's: the Host is the vetted one, and bodies are read as they are sent.
    ours = {"Host": target.host_header, "Accept-Encoding": "identity", "Connection": "close"}
    fields = _merged(headers, ours)
    try:
        connection.request(method, target.request_target, body=body, headers=fields)
        sock = connection.sock
        if sock is None:  # request() connects it; an OSError so that it is reported as such
            raise ConnectionError("no socket after sending the request")
        watchdog.watch(sock)
        sock.settimeout(max(0.01, min(socket_timeout, deadline.remaining())))
        raw = connection.getresponse()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        watchdog.cancel()
        connection.close()
        raise _network_error(exc, target, watchdog.fired or deadline.expired(), deadline) from exc
    except BaseException:
        watchdog.cancel()
        connection.close()
        raise
    return Response(target.url, connection, raw, sock, watchdog, deadline, socket_timeout)


def _network_error(exc: BaseException, target: guard.Target, late: bool, deadline: Deadline) -> LinkError:
    """The error to report for a failed connection or request: a fixed message, details logged.

    The exception's text may quote the server (a bad status line) or name the address connected
    to, so it goes to the log only.
    """
    if late:
        return deadline.error()
    logger.info("request to %s:%d failed: %r", target.host, target.port, exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return UnreachableError("the site's certificate is not valid, so the link is not fetched")
    if isinstance(exc, TimeoutError):
        return TimedOutError("the site did not answer in time; try again later")
    if isinstance(exc, http.client.HTTPException):  # it answered, but not in HTTP
        return UnreachableError(_NOT_A_VIDEO_ANSWER)
    return UnreachableError(_NOT_REACHED)


def _merged(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` updated with ``extra``, header names compared without regard to case."""
    names = {name.lower() for name in extra}
    return {**{k: v for k, v in base.items() if k.lower() not in names}, **extra}


def _cookie_header(cookiejar: http.cookiejar.CookieJar, url: str) -> str | None:
    """The Cookie header ``cookiejar`` sends to ``url``, or None when it has no cookie for it."""
    request = urllib.request.Request(url)
    cookiejar.add_cookie_header(request)
    return request.get_header("Cookie")


def shown_url(url: str) -> str:
    """A link for the logs, without its query (which may hold signatures or tokens)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


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
    return f"{_NO_VIDEO} (HTTP {status}): {advice}"


_VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".flv", ".ts", ".mpg", ".mpeg", ".wmv"}


def _link_extension(url: str) -> str | None:
    """The link's own extension when it names a video container (used only when sniffing cannot)."""
    suffix = PurePosixPath(urllib.parse.urlsplit(url).path).suffix.lower()
    return suffix if suffix in _VIDEO_EXTENSIONS else None
