"""Guarded HTTP: every request vetted, connected to the vetted address, bounded in bytes and time.

:func:`open_url` sends one request and follows redirects itself, vetting each hop with
:func:`inference.links.guard.vet_url` and connecting to the address that was vetted
(:mod:`inference.links.connection`, within its :class:`~inference.links.connection.Deadline`).
:mod:`inference.links.download` streams the answer to disk.

Messages never repeat what a server sent (a status line, a reason phrase, a header) nor the
address a name resolved to: they are fixed sentences a person can act on, and the details go to
the log. Numbers in headers are read as ASCII digits only, and a header that does not parse is a
:class:`~inference.links.errors.LinkError`, never a bare ``ValueError``.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import itertools
import logging
import socket
import ssl
import urllib.parse
import urllib.request
from collections.abc import Mapping
from types import TracebackType

from inference.links import guard
from inference.links.connection import Deadline, VettedConnection, VettedTLSConnection, Watchdog
from inference.links.errors import (
    LinkError,
    TimedOutError,
    UnreachableError,
    UnsupportedLinkError,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0
SOCKET_TIMEOUT_S = 20.0
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
USER_AGENT = "Mozilla/5.0 (compatible; deepfake-video-detector link fetcher)"
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Headers that must not follow a redirect to another origin (scheme, host or port).
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
_BODY_HEADERS = ("content-type", "content-length", "content-encoding", "transfer-encoding")
# The fixed messages (details go to the log, never to the person).
_NOT_REACHED = "could not reach the site; check the link or try again later"
NO_VIDEO = "the server did not answer with a video"
_NOT_A_VIDEO_ANSWER = f"{NO_VIDEO}; check the link"
_BROKE_OFF = "the download broke off; try again later"


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
        connection: VettedConnection,
        raw: http.client.HTTPResponse,
        sock: socket.socket,
        watchdog: Watchdog,
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
    kind = VettedTLSConnection if target.scheme == "https" else VettedConnection
    connection = kind(target, deadline, timeout)
    watchdog = Watchdog(deadline)
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
