"""Address policy: which links may be fetched, decided before any connection is made.

A link is vetted in four steps: it must be ``http`` or ``https`` with a host and no user name or
password; its port must be a web port (:data:`ALLOWED_PORTS`); its host is resolved once (an IP
literal is not resolved); and every address the host resolves to must be a public one. The vetted
addresses travel with the :class:`Target`, and the downloader connects to one of them, never
resolving the name again, so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot slip a private address through.

"Public" does not depend on the Python version: :attr:`ipaddress.IPv4Address.is_global` changed
between patch releases (3.11, 3.12.4, 3.13), so on top of it a fixed denylist of special-purpose
ranges (:data:`DENIED_NETWORKS`) is checked, after unwrapping the IPv4 address that an IPv4-mapped,
6to4 or NAT64 address carries.

``allow_private`` (``DEEPFAKE_ALLOW_PRIVATE_URLS``) is the test-only setting: it lifts the address
denylist but for the unspecified and multicast addresses, and the port rule but for port 0, so that
tests can fetch from a local server on a random port. It is never for a public server.

Messages never name the address a host resolved to, nor repeat text from a server (a redirect's
target): they are fixed sentences, and the details go to the log.

Tests patch the resolver (``socket.getaddrinfo``), never this policy.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inference.links.errors import (
    UPLOAD_INSTEAD,
    AddressNotAllowedError,
    TimedOutError,
    UnreachableError,
    UnsupportedLinkError,
)

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
# Ports a link, a redirect or a request of yt-dlp may use (any but 0 with allow_private, for tests).
ALLOWED_PORTS = frozenset({80, 443, 8080, 8443})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses the host resolves to, as text.
Resolver = Callable[[str, int], Sequence[str]]


def _networks(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    """``(network, what it is)`` pairs from their text."""
    return tuple((ipaddress.ip_network(text), what) for text, what in rows)


# Never connected to, whatever ipaddress.is_global says in this Python (IANA's special-purpose
# registries, plus the cloud platform addresses that is_global cannot know about).
DENIED_NETWORKS = _networks(
    ("0.0.0.0/8", "the 'this network' range"),
    ("10.0.0.0/8", "a private network address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("127.0.0.0/8", "the loopback address of this server"),
    ("169.254.0.0/16", "a link-local address (cloud metadata services live there)"),
    ("172.16.0.0/12", "a private network address"),
    ("192.0.0.0/24", "an IETF protocol assignment (192.0.0.0/24)"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "the 6to4 relay anycast range"),
    ("192.168.0.0/16", "a private network address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("168.63.129.16/32", "the Azure platform's host address (its metadata and DNS)"),
    ("::/8", "a reserved IPv6 address (loopback, unspecified, IPv4-compatible)"),
    ("100::/64", "the IPv6 discard range"),
    ("2001::/23", "an IETF protocol assignment (Teredo, ORCHID, benchmarking ...)"),
    ("2001:db8::/32", "an IPv6 documentation address"),
    ("3fff::/20", "an IPv6 documentation address"),
    ("fc00::/7", "an IPv6 unique local (private) address"),
    ("fe80::/10", "an IPv6 link-local address"),
    ("fec0::/10", "an IPv6 site-local address"),
    ("ff00::/8", "an IPv6 multicast address"),
    ("64:ff9b:1::/48", "an IPv6 local-use NAT64 address"),
)
# NAT64's well-known prefix (RFC 6052) embeds an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Characters allowed as they are in a request target; anything else is percent-encoded.
_TARGET_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))


@dataclass(frozen=True)
class Target:
    """A vetted link: where to connect and what to ask for.

    Attributes:
        url: The link as given.
        scheme: "http" or "https".
        host: The host name (IDNA-encoded) or IP literal, used for the Host header and TLS (SNI and
            certificate check).
        port: TCP port.
        addresses: The vetted addresses of ``host``, in the resolver's order; connections go only
            to these.
        request_target: Path and query to send (``/`` when the link has none).
    """

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    request_target: str

    @property
    def host_header(self) -> str:
        """The Host header: the host, bracketed when IPv6, with the port when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def looks_like_link(text: str) -> bool:
    """Whether ``text`` is meant as a link (starts with http:// or https://), not a file path."""
    return text.strip().lower().startswith(("http://", "https://"))


def parse_link(url: str) -> tuple[str, str, int, str]:
    """Split a link into scheme, host, port and request target, refusing what cannot be fetched.

    Returns:
        ``(scheme, host, port, request_target)``; the host is lower-case, IDNA-encoded, unbracketed.

    Raises:
        UnsupportedLinkError: If the scheme is not http or https, there is no host, the link holds
            a user name or password, spaces or control characters, or its port is not a number or 0.
        The messages do not repeat the link (it may be a server's redirect target).
    """
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise UnsupportedLinkError("the link contains spaces or control characters; paste the link alone")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        logger.info("link refused: not a valid link (%s)", exc)
        raise UnsupportedLinkError("this is not a valid link; check it") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        logger.info("link refused: scheme %r", scheme)
        raise UnsupportedLinkError("only http:// and https:// links can be fetched")
    if parts.username is not None or parts.password is not None:
        raise UnsupportedLinkError("links with a user name or password in them are not accepted")
    host = parts.hostname
    if not host:
        raise UnsupportedLinkError("the link has no host name")
    if _ip(host) is None:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            logger.info("link refused: host %r is not a valid domain name (%s)", host, exc)
            raise UnsupportedLinkError("the link's host name is not a valid domain name") from exc
    if port == 0:
        raise UnsupportedLinkError("the link names port 0, which no web site uses; check the link")
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    port = DEFAULT_PORTS[scheme] if port is None else port
    return scheme, host, port, urllib.parse.quote(target, safe=_TARGET_SAFE)


def resolve(host: str, port: int) -> list[str]:
    """The IPv4 and IPv6 addresses of ``host``, as the system resolver gives them, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = (info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6))
    return list(dict.fromkeys(found))


def address_problem(address: IPAddress, allow_private: bool = False) -> str | None:
    """Why ``address`` may not be connected to, or None when it may.

    IPv4 addresses carried inside IPv6 ones (IPv4-mapped, 6to4, NAT64) are judged as the IPv4
    address they carry, so that ``::ffff:127.0.0.1`` counts as loopback. An address must be
    global to :mod:`ipaddress` and outside :data:`DENIED_NETWORKS`, so that the answer does not
    depend on the Python patch level. With ``allow_private`` (tests only) only the unspecified
    and multicast addresses are refused.
    """
    inner = _embedded_ipv4(address)
    if inner is not None:
        return address_problem(inner, allow_private)
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if allow_private:
        return None
    for network, what in DENIED_NETWORKS:
        if address.version == network.version and address in network:
            return what
    if not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, 6to4 or NAT64 (64:ff9b::/96) address carries, or None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    inner = address.ipv4_mapped or address.sixtofour
    if inner is None and address in _NAT64:
        inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return inner


def check_address(text: str, host: str, allow_private: bool = False) -> IPAddress:
    """Parse ``text`` as an IP address and refuse it unless it is public (or ``allow_private``).

    Raises:
        AddressNotAllowedError: If the address is not public. The message is fixed: it names
            neither the host nor the address (the log does).
    """
    address = _ip(text)
    if address is None:
        logger.warning("link refused: %s resolves to %r, which is not an IP address", host, text)
        raise AddressNotAllowedError(_NOT_PUBLIC)
    problem = address_problem(address, allow_private)
    if problem is not None:
        logger.warning("link refused: %s is %s, %s", host, text, problem)
        raise AddressNotAllowedError(_NOT_PUBLIC)
    return address


_NOT_PUBLIC = (
    "the link points to a non-public address; only public internet addresses are fetched. "
    f"Use a link to a public web site, or {UPLOAD_INSTEAD}"
)
_NOT_A_WEB_PORT = (
    "the link points to a port other than the web's (80, 443, 8080, 8443); only links on those "
    f"ports are fetched. Use a link to a public web site, or {UPLOAD_INSTEAD}"
)


def vet_url(
    url: str,
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    timeout_s: float | None = None,
) -> Target:
    """Check a link and its host's addresses; the returned target is what may be connected to.

    Args:
        url: An http or https link.
        allow_private: Also allow loopback, private, link-local and other non-public addresses,
            and any port but 0 (the test-only setting, for a local server on a random port).
        resolver: Resolves a host name; :func:`resolve` (the system resolver) by default.
        timeout_s: The longest the name lookup may take, seconds; None waits for the resolver.

    Raises:
        UnsupportedLinkError: If the link itself cannot be fetched (see :func:`parse_link`).
        AddressNotAllowedError: If the port is not in :data:`ALLOWED_PORTS`, or any address of
            the host is not public (checked in that order: a bad port needs no lookup).
        UnreachableError: If the host name does not resolve.
        TimedOutError: If the lookup takes longer than ``timeout_s``.
    """
    scheme, host, port, request_target = parse_link(url)
    if not allow_private and port not in ALLOWED_PORTS:
        logger.warning("link refused: %s uses port %d", host, port)
        raise AddressNotAllowedError(_NOT_A_WEB_PORT)
    if _ip(host) is not None:
        texts: Sequence[str] = [host]
    else:
        texts = _lookup(host, port, resolver or resolve, timeout_s)
        if not texts:
            logger.info("lookup of %s gave no address", host)
            raise UnreachableError("the site's host name has no address; check the link")
    # Every address must pass, not only the one used: the resolver's order is not ours to trust.
    addresses = tuple(str(check_address(text, host, allow_private)) for text in texts)
    return Target(url, scheme, host, port, addresses, request_target)


def _lookup(host: str, port: int, resolver: Resolver, timeout_s: float | None) -> Sequence[str]:
    """Resolve ``host`` within ``timeout_s`` (the system resolver cannot be interrupted, so it runs
    in a daemon thread that is abandoned at the deadline)."""
    found: list[Sequence[str]] = []
    failed: list[Exception] = []

    def run() -> None:
        """Resolve, keeping the answer or the failure."""
        try:
            found.append(resolver(host, port))
        # socket.gaierror and friends; UnicodeError (a ValueError) for a name the codec refuses.
        except (OSError, ValueError) as exc:
            failed.append(exc)

    if timeout_s is None:
        run()
    else:
        worker = threading.Thread(target=run, name=f"resolve {host}", daemon=True)
        worker.start()
        worker.join(max(0.0, timeout_s))
        if worker.is_alive():
            logger.info("lookup of %s took longer than %.1f s", host, timeout_s)
            raise TimedOutError("looking up the site's host name took too long; try again later")
    if failed or not found:
        cause = failed[0] if failed else None
        logger.info("lookup of %s failed: %s", host, cause)
        raise UnreachableError("the site's host name could not be found; check the link for typos") from cause
    return found[0]


def _ip(text: str) -> IPAddress | None:
    """``text`` as an IP address, or None when it is a host name."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
