"""Connections to the vetted address only, within an overall deadline that a watchdog enforces.

An overall :class:`Deadline` bounds a whole fetch: socket timeouts never exceed the time left, it
is checked between reads, and a :class:`Watchdog` shuts the socket at the deadline so that a
server dripping bytes cannot hold a read open. :class:`VettedConnection` and
:class:`VettedTLSConnection` connect to the address :func:`inference.links.guard.vet_url` vetted
(the Host header, TLS SNI and the certificate check still use the host name).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.cookiejar
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable

from inference.links import guard
from inference.links.errors import (
    UPLOAD_INSTEAD,
    TimedOutError,
)

logger = logging.getLogger(__name__)


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


class Watchdog:
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


class VettedConnection(http.client.HTTPConnection):
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


class VettedTLSConnection(VettedConnection, http.client.HTTPSConnection):
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
