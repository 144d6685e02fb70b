"""Fetching links (inference.links), offline: a local HTTP server on the loopback stands in for the web.

No test may send a packet anywhere but 127.0.0.1 or ::1. Two autouse fixtures make sure of it:
``loopback_only`` wraps ``socket.socket.connect`` and fails the test on any other address, and
``fake_dns`` replaces the resolver (``socket.getaddrinfo``), so that test names (``allowed.test``
...) resolve to made-up addresses and any other name fails without a DNS query. Where a test needs
a public-looking host that answers, ``route_public`` sends the connection for that one made-up
public address to the local server instead; the guard itself is never patched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import gzip
import hashlib
import http.client
import http.server
import ipaddress
import json
import logging
import random
import socket
import socketserver
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from inference.errors import DeepfakeDetectorError, LimitExceededError, VideoError
from inference.links import (
    AddressNotAllowedError,
    Fetched,
    LinkError,
    NoSuitableFormatError,
    NotAVideoError,
    SiteRefusedError,
    TimedOutError,
    TooLargeError,
    TooLongError,
    UnreachableError,
    UnsupportedLinkError,
    connection,
    download,
    fetch,
    fetch_link,
    guard,
    looks_like_link,
    sites,
    ytdlp_options,
    ytdlp_requests,
)

CLIP = Path(__file__).resolve().parents[1] / "examples" / "genuine_astronaut.mp4"
CLIP_BYTES = CLIP.read_bytes()
LOOPBACK = ("127.0.0.1", "::1")
# Made-up answers of the fake resolver. PUBLIC is a public-looking address nobody connects to:
# route_public sends connections for it to the local server.
PUBLIC = "93.184.216.34"
FAKE_DNS = {
    "allowed.test": [PUBLIC],
    "rebind.test": [PUBLIC],
    "private.test": ["10.1.2.3"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": [PUBLIC, "127.0.0.1"],
    "ula6.test": ["fd00::1"],
    "localhost": ["127.0.0.1", "::1"],
}
MEDIASITE_ID = "0123456789abcdef0123456789abcdef"
MEDIASITE_ID_2 = "fedcba9876543210fedcba9876543210"
CATALOG_ID = "00112233445566778899aabbccddeeff"
MB = 1_000_000


# --- network fences --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every TCP connection made during the test; any not to the loopback fails the test."""
    made: list[tuple[str, int]] = []
    refused: list[object] = []
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            assert isinstance(address, tuple)
            made.append((address[0], address[1]))
            if address[0] not in LOOPBACK:
                refused.append(address)
                raise AssertionError(f"a test connected to {address!r}: only the loopback is allowed")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        raise AssertionError(f"connect_ex({address!r}) is not expected in these tests")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield made
    # Also caught when the code under test swallowed the AssertionError.
    assert not refused, f"connections outside the loopback: {refused}"


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the resolver: test names get FAKE_DNS's answers, IP literals themselves, others fail."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(
        host: str, port: object, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple]:
        asked.append(host)
        if host in FAKE_DNS:
            answers = []
            for text in FAKE_DNS[host]:
                v6 = ipaddress.ip_address(text).version == 6
                address = (text, port, 0, 0) if v6 else (text, port)
                answers.append(
                    (socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM, 6, "", address)
                )
            return answers
        try:  # numeric hosts only: never a DNS query
            return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: not a test name (no DNS in tests)") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


# --- the local server ------------------------------------------------------------------------------

Route = Callable[["Handler"], None]


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A threaded HTTP server on the loopback whose answers are set per path by each test."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.stopping = threading.Event()
        super().__init__((host, 0), Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's name (getfqdn); skip it: no lookups in tests.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """A link to ``path``: on the loopback with this server's port; for a made-up public host,
        on the default port (route_public sends it here, and only web ports pass the guard)."""
        if host not in LOOPBACK:
            return f"http://{host}{path}"
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path for _, path, _, _ in self.seen]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def handle_one(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers.items()), body))
        self.body = body
        self.close_connection = True
        route = self.server.routes.get(urllib.parse.urlsplit(self.path).path)
        if route is None:
            self.send_error(404)
            return
        # The client may hang up mid-answer, as it should on a refused download.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)

    do_GET = do_POST = do_HEAD = handle_one

    def log_message(self, format: str, *args: object) -> None:
        logging.getLogger("test-server").debug(format, *args)

    def send(self, body: bytes, ctype: str = "application/octet-stream", length: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[Server]:
    """The local server on 127.0.0.1, with a few common routes."""
    srv = Server()
    srv.routes.update(
        {
            "/clip.mp4": serve_file(CLIP_BYTES),
            "/page.html": lambda h: h.send(
                b'<!DOCTYPE html><html><head><title>clip</title></head><body>\n<video src="/clip.mp4" '
                b"controls></video></body></html>",
                "text/html",
            ),
            "/redirect": redirect_to_query,
        }
    )
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.stopping.set()
    srv.shutdown()
    srv.server_close()


def serve_file(data: bytes, length: bool = True, chunked: bool = False) -> Route:
    """A route serving ``data``, with or without Content-Length (then chunked or until close), and ranges."""

    def route(h: Handler) -> None:
        wanted = h.headers.get("Range")
        if wanted:
            first, last = (int(part) for part in wanted.removeprefix("bytes=").split("-"))
            part = data[first : last + 1]
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {first}-{first + len(part) - 1}/{len(data)}")
            h.send_header("Content-Length", str(len(part)))
            h.end_headers()
            h.wfile.write(part)
            return
        if not chunked:
            h.send(data, "video/mp4", length=length)
            return
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for start in range(0, len(data), 65536):
            piece = data[start : start + 65536]
            h.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    return route


def redirect_to_query(h: Handler) -> None:
    """/redirect?to=URL answers 302 to URL."""
    target = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)["to"][0]
    h.send_response(302)
    h.send_header("Location", target)
    h.send_header("Content-Length", "0")
    h.end_headers()


@pytest.fixture
def route_public(monkeypatch: pytest.MonkeyPatch, server: Server) -> Server:
    """Connections to the made-up PUBLIC address reach the local server instead (any port)."""
    real = connection._connect

    def connect(address: str, port: int, timeout: float) -> socket.socket:
        if address == PUBLIC:
            return real("127.0.0.1", server.port, timeout)
        return real(address, port, timeout)

    monkeypatch.setattr(connection, "_connect", connect)
    return server


def left_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


# --- the address policy ----------------------------------------------------------------------------


NON_PUBLIC_ADDRESSES = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "fe80::1",
    "100.64.0.1",
    "100.127.255.254",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "0.0.0.0",
    "::",
    "fd00::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "192.0.2.1",
    "2001:db8::1",
    "198.18.0.1",
    # is_global says "public" for these in some Python versions (3.11 among them):
    "192.0.0.192",
    "192.0.0.8",
    "168.63.129.16",  # Azure's platform address (metadata, DNS)
    "fec0::1",
    "3fff::1",
    "64:ff9b:1::1",
    "192.88.99.1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2002:c000:0c0::1",  # 6to4 around 192.0.0.192
]


@pytest.mark.parametrize("address", NON_PUBLIC_ADDRESSES)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert guard.address_problem(ipaddress.ip_address(address)) is not None
    with pytest.raises(AddressNotAllowedError, match="only public internet addresses"):
        guard.check_address(address, "host.test")


def test_the_policy_does_not_rest_on_is_global(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if this Python's ipaddress called everything global: the fixed denylist still refuses.
    for kind in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        monkeypatch.setattr(kind, "is_global", property(lambda self: True))
    for address in NON_PUBLIC_ADDRESSES:
        assert guard.address_problem(ipaddress.ip_address(address)) is not None, address
    assert guard.address_problem(ipaddress.ip_address(PUBLIC)) is None


def test_the_message_names_no_resolved_address(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="inference.links"),
        pytest.raises(AddressNotAllowedError) as caught,
    ):
        fetch_link("http://private.test/clip.mp4", max_bytes=MB, temp_dir=tmp_path)
    assert "10.1.2.3" not in str(caught.value)
    assert "private.test" not in str(caught.value)
    assert "10.1.2.3" in caplog.text  # the log has the details


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", PUBLIC, "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_pass(address: str) -> None:
    assert guard.address_problem(ipaddress.ip_address(address)) is None


def test_allow_private_lifts_only_the_private_rule() -> None:
    for address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1"):
        assert guard.address_problem(ipaddress.ip_address(address), allow_private=True) is None
    for address in ("0.0.0.0", "::", "224.0.0.1"):
        assert guard.address_problem(ipaddress.ip_address(address), allow_private=True) is not None


def test_vet_url_resolves_once_and_keeps_the_addresses(fake_dns: list[str]) -> None:
    target = guard.vet_url("https://allowed.test/a/b?c=d%20e")
    assert (target.scheme, target.host, target.port, target.addresses) == (
        "https",
        "allowed.test",
        443,
        (PUBLIC,),
    )
    assert target.request_target == "/a/b?c=d%20e"
    assert target.host_header == "allowed.test"
    assert fake_dns == ["allowed.test"]
    assert guard.vet_url("http://[::1]:8080/", allow_private=True).host_header == "[::1]:8080"


@pytest.mark.parametrize(
    "link",
    [
        "ftp://allowed.test/clip.mp4",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://allowed.test/",
        "http:///clip.mp4",
        "http://user:secret@allowed.test/clip.mp4",
        "http://allowed.test/a clip.mp4",
        "http://allowed.test:99999/",
        "http://allowed.test:0/clip.mp4",
        "http://127.0.0.1:0/clip.mp4",
        "clip.mp4",
    ],
)
def test_links_that_are_not_http_are_refused(
    link: str, tmp_path: Path, loopback_only: list[tuple[str, int]]
) -> None:
    with pytest.raises(UnsupportedLinkError):
        fetch_link(link, max_bytes=MB, temp_dir=tmp_path)
    assert loopback_only == []
    assert left_in(tmp_path) == []


def test_looks_like_link() -> None:
    assert looks_like_link(" HTTPS://x.test/v ")
    assert looks_like_link("http://x.test")
    assert not looks_like_link("/tmp/http.mp4")
    assert not looks_like_link("clip.mp4")


def test_error_classes_are_engine_errors() -> None:
    assert issubclass(LinkError, DeepfakeDetectorError)
    assert issubclass(TooLargeError, LimitExceededError)
    assert issubclass(TooLongError, LimitExceededError)
    assert issubclass(NotAVideoError, VideoError)
    classes = (
        AddressNotAllowedError,
        NoSuitableFormatError,
        SiteRefusedError,
        TimedOutError,
        UnreachableError,
        UnsupportedLinkError,
    )
    assert all(issubclass(kind, LinkError) for kind in classes)


# --- refused before any connection -----------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1/clip.mp4",
        "http://[::1]:8080/clip.mp4",
        "http://10.0.0.1/clip.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://168.63.129.16/metadata/instance",
        "http://[::ffff:127.0.0.1]:443/clip.mp4",
        "http://[::ffff:7f00:1]/clip.mp4",
        "http://100.64.0.1/clip.mp4",
        "http://0.0.0.0/clip.mp4",
        "http://2130706433/clip.mp4",  # 127.0.0.1 written as one number
        "http://private.test/clip.mp4",
        "http://metadata.test/latest/meta-data/",
        "http://mixed.test/clip.mp4",  # one public address is not enough
        "http://ula6.test/clip.mp4",
        "http://127.0.0.1/Mediasite/Play/" + MEDIASITE_ID,  # the yt-dlp path too
    ],
)
def test_non_public_links_are_refused_before_connecting(
    link: str, server: Server, tmp_path: Path, loopback_only: list[tuple[str, int]]
) -> None:
    with pytest.raises(AddressNotAllowedError, match="only public internet addresses"):
        fetch_link(link, max_bytes=MB, temp_dir=tmp_path)
    assert loopback_only == []
    assert server.seen == []
    assert left_in(tmp_path) == []


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/clip.mp4",
        "http://[::1]/clip.mp4",
        "http://10.0.0.1/clip.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:8080/clip.mp4",
        "http://private.test/clip.mp4",
        "http://localhost/clip.mp4",
    ],
)
def test_redirects_to_non_public_addresses_are_refused(
    target: str, route_public: Server, tmp_path: Path, loopback_only: list[tuple[str, int]]
) -> None:
    location = urllib.parse.quote(target, safe="")
    link = f"http://allowed.test/redirect?to={location}"
    with pytest.raises(AddressNotAllowedError, match="only public internet addresses"):
        fetch_link(link, max_bytes=MB, temp_dir=tmp_path)
    # One connection, the first hop's (to the stand-in for allowed.test); none for the redirect.
    assert loopback_only == [("127.0.0.1", route_public.port)]
    assert route_public.paths() == [urllib.parse.urlsplit(link).path + "?to=" + location]
    assert left_in(tmp_path) == []


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "gopher://allowed.test/", "ftp://allowed.test/clip.mp4"]
)
def test_redirects_to_other_schemes_are_refused(
    target: str, route_public: Server, tmp_path: Path, loopback_only: list[tuple[str, int]]
) -> None:
    link = f"http://allowed.test/redirect?to={urllib.parse.quote(target, safe='')}"
    with pytest.raises(UnsupportedLinkError, match="only http:// and https://"):
        fetch_link(link, max_bytes=MB, temp_dir=tmp_path)
    assert loopback_only == [("127.0.0.1", route_public.port)]
    assert left_in(tmp_path) == []


def test_the_connection_goes_to_the_vetted_address_without_a_second_lookup(
    route_public: Server, tmp_path: Path, fake_dns: list[str], loopback_only: list[tuple[str, int]]
) -> None:
    with fetch_link("http://rebind.test/clip.mp4", max_bytes=MB, temp_dir=tmp_path) as fetched:
        assert fetched.path.read_bytes() == CLIP_BYTES
    assert fake_dns.count("rebind.test") == 1
    assert loopback_only == [("127.0.0.1", route_public.port)]
    assert route_public.seen[0][2]["Host"] == "rebind.test"


def test_a_redirect_from_a_public_host_to_a_public_host_is_followed(
    route_public: Server, tmp_path: Path
) -> None:
    link = "http://allowed.test/redirect?to=http%3A%2F%2Frebind.test%2Fclip.mp4"
    with fetch_link(link, max_bytes=MB, temp_dir=tmp_path) as fetched:
        assert fetched.final_url == "http://rebind.test/clip.mp4"
        assert fetched.sha256 == hashlib.sha256(CLIP_BYTES).hexdigest()


def test_too_many_redirects(server: Server, tmp_path: Path) -> None:
    server.routes["/loop"] = lambda h: (
        h.send_response(301),
        h.send_header("Location", "/loop"),
        h.send_header("Content-Length", "0"),
        h.end_headers(),
    )
    with pytest.raises(UnreachableError, match="redirects more than 5 times"):
        fetch_link(server.url("/loop"), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert len(server.seen) == 6
    assert left_in(tmp_path) == []


# --- direct links ----------------------------------------------------------------------------------


def test_a_direct_link_downloads_the_same_bytes(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = server.url("/clip.mp4")
    with caplog.at_level(logging.WARNING, logger="inference.links"):
        fetched = fetch_link(f"  {link} ", max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    with fetched:
        assert isinstance(fetched, Fetched)
        assert fetched.path.read_bytes() == CLIP_BYTES
        assert fetched.path.suffix == ".mp4"
        assert fetched.folder.parent == tmp_path
        assert fetched.to_dict() == {
            "link": link,
            "final_url": link,
            "extractor": "direct",
            "size_bytes": len(CLIP_BYTES),
            "sha256": hashlib.sha256(CLIP_BYTES).hexdigest(),
        }
    assert left_in(tmp_path) == []
    assert "for tests only" in caplog.text


def test_ipv6_loopback_with_allow_private(tmp_path: Path) -> None:
    try:
        srv = Server("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    srv.routes["/clip.mp4"] = serve_file(CLIP_BYTES)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with fetch_link(
            srv.url("/clip.mp4", "::1"), max_bytes=MB, allow_private=True, temp_dir=tmp_path
        ) as got:
            assert got.path.read_bytes() == CLIP_BYTES
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize(("length", "chunked"), [(False, False), (False, True)])
def test_a_body_without_content_length_downloads_too(
    server: Server, tmp_path: Path, length: bool, chunked: bool
) -> None:
    server.routes["/stream.mp4"] = serve_file(CLIP_BYTES, length=length, chunked=chunked)
    with fetch_link(server.url("/stream.mp4"), max_bytes=MB, allow_private=True, temp_dir=tmp_path) as got:
        assert got.sha256 == hashlib.sha256(CLIP_BYTES).hexdigest()


def test_ranged_download_joins_the_parts(server: Server, tmp_path: Path) -> None:
    got = download.download(
        server.url("/clip.mp4"),
        tmp_path,
        max_bytes=MB,
        deadline=connection.Deadline(10),
        allow_private=True,
        chunk_bytes=20_000,
    )
    assert got.path.read_bytes() == CLIP_BYTES
    assert [h.get("Range") for _, _, h, _ in server.seen] == [
        "bytes=0-19999",
        "bytes=20000-39999",
        "bytes=40000-59999",
        "bytes=60000-79999",
    ]


@pytest.mark.parametrize(("length", "chunked"), [(True, False), (False, False), (False, True)])
def test_oversize_stops_at_the_cap(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, length: bool, chunked: bool
) -> None:
    big = random.Random(1).randbytes(8 * MB)
    server.routes["/big.mp4"] = serve_file(CLIP_BYTES[:4096] + big, length=length, chunked=chunked)
    read: list[int] = []
    real = fetch.Response.read_some

    def counted(self: fetch.Response, size: int = fetch.CHUNK_BYTES) -> bytes:
        data = real(self, size)
        read.append(len(data))
        return data

    monkeypatch.setattr(fetch.Response, "read_some", counted)
    cap = 200_000
    with pytest.raises(TooLargeError, match="larger than the 0.2 MB limit"):
        fetch_link(server.url("/big.mp4"), max_bytes=cap, allow_private=True, temp_dir=tmp_path)
    # Refused from Content-Length before reading, or as soon as the count passes the cap.
    assert sum(read) == 0 if length else cap < sum(read) <= cap + fetch.CHUNK_BYTES
    assert left_in(tmp_path) == []


def drip(h: Handler) -> None:
    """Headers, then one byte every 0.5 s (until the client hangs up or the server stops)."""
    h.send_response(200)
    h.send_header("Content-Type", "video/mp4")
    h.end_headers()
    h.wfile.write(CLIP_BYTES[:16])
    h.wfile.flush()
    while not h.server.stopping.wait(0.5):
        h.wfile.write(b"\0")
        h.wfile.flush()


def drip_headers(h: Handler) -> None:
    """A status line, then header bytes one every 0.5 s: the deadline must still hold."""
    h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    h.wfile.flush()
    while not h.server.stopping.wait(0.5):
        h.wfile.write(b"a")
        h.wfile.flush()


# Without the deadline's watchdog a drip of header bytes hangs: fail in seconds, not at the global limit.
@pytest.mark.timeout(20)
@pytest.mark.parametrize("route", [drip, drip_headers])
def test_a_slow_drip_hits_the_deadline(server: Server, tmp_path: Path, route: Route) -> None:
    server.routes["/slow.mp4"] = route
    start = time.monotonic()
    with pytest.raises(TimedOutError, match="longer than the 1.5 s limit"):
        fetch_link(
            server.url("/slow.mp4"), max_bytes=MB, timeout_s=1.5, allow_private=True, temp_dir=tmp_path
        )
    assert 1.4 < time.monotonic() - start < 4
    assert left_in(tmp_path) == []


def test_a_web_page_with_a_video_tag_is_refused(server: Server, tmp_path: Path) -> None:
    link = server.url("/page.html")
    assert sites.extractor_for(link) is None  # the generic extractor is off
    with pytest.raises(NotAVideoError, match="a web page, not a video file"):
        fetch_link(link, max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert server.paths() == ["/page.html"]  # the <video> source was not looked for
    assert left_in(tmp_path) == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"#EXTM3U\n#EXT-X-VERSION:3\n", "streaming playlist"),
        (b'{"video": "clip.mp4"}', "JSON"),
        (b"\x89PNG\r\n\x1a\n" + bytes(600), "PNG image"),
        (b"just some words\n" * 100, "text"),
        (b"", "empty file"),
    ],
)
def test_what_is_plainly_not_a_video_is_refused_from_its_first_bytes(
    server: Server, tmp_path: Path, body: bytes, match: str
) -> None:
    server.routes["/thing.mp4"] = serve_file(body)
    with pytest.raises(NotAVideoError, match=match):
        fetch_link(server.url("/thing.mp4"), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


def test_bytes_that_are_not_a_video_are_refused_after_probing(server: Server, tmp_path: Path) -> None:
    server.routes["/noise.mp4"] = serve_file(random.Random(2).randbytes(50_000))
    with pytest.raises(NotAVideoError, match="cannot be decoded as a video"):
        fetch_link(server.url("/noise.mp4"), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


def test_a_video_longer_than_the_cap_is_refused_after_probing(server: Server, tmp_path: Path) -> None:
    with pytest.raises(TooLongError, match="longer than the 0.5 s limit"):
        fetch_link(
            server.url("/clip.mp4"), max_bytes=MB, max_duration_s=0.5, allow_private=True, temp_dir=tmp_path
        )
    assert left_in(tmp_path) == []


@pytest.mark.parametrize(
    ("status", "advice"), [(404, "not there"), (403, "not public"), (503, "try again later")]
)
def test_error_statuses(server: Server, tmp_path: Path, status: int, advice: str) -> None:
    server.routes["/gone.mp4"] = lambda h: h.send_error(status)
    with pytest.raises(UnreachableError, match=f"did not answer with a video \\(HTTP {status}\\).*{advice}"):
        fetch_link(server.url("/gone.mp4"), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


def test_a_closed_port_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UnreachableError, match="could not reach the site"):
        fetch_link(f"http://127.0.0.1:{port}/clip.mp4", max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


def test_an_unknown_host_name_is_unreachable(tmp_path: Path, loopback_only: list[tuple[str, int]]) -> None:
    with pytest.raises(UnreachableError, match="could not be found"):
        fetch_link("https://no-such-name.test/clip.mp4", max_bytes=MB, temp_dir=tmp_path)
    assert loopback_only == []


# --- https: the vetted address, the host name's certificate ---------------------------------------


def certificate(name: str, folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize(("served_name", "ok"), [("allowed.test", True), ("other.test", False)])
def test_https_checks_the_certificate_against_the_host_name(
    route_public: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served_name: str, ok: bool
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = certificate(served_name, certs)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    route_public.socket = server_side.wrap_socket(route_public.socket, server_side=True)
    # The client trusts this one certificate, and still checks that it names the host.
    monkeypatch.setattr(connection, "_tls_context", lambda: ssl.create_default_context(cafile=str(cert)))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    if ok:
        with fetch_link("https://allowed.test/clip.mp4", max_bytes=MB, temp_dir=downloads) as fetched:
            assert fetched.path.read_bytes() == CLIP_BYTES
        assert route_public.seen[0][2]["Host"] == "allowed.test"
    else:
        with pytest.raises(UnreachableError, match="certificate is not valid"):
            fetch_link("https://allowed.test/clip.mp4", max_bytes=MB, temp_dir=downloads)
        assert route_public.seen == []
    assert left_in(downloads) == []


# --- video sites through yt-dlp (its Mediasite extractor, which takes any host) ---------------------


@dataclass
class Mediasite:
    """A fake Mediasite server: a player page, its JSON API, catalogs, and the media file.

    ``player_gzip``: None answers the API in plain JSON; b"" gzips the usual answer; other bytes
    are gzipped and sent instead of it.
    """

    server: Server
    host: str = "127.0.0.1"
    media: str = ""
    duration_ms: int = 4000
    service_path: str | None = None
    player_status: int = 200
    player_gzip: bytes | None = None
    asked: list[str] = field(default_factory=list)

    def install(self) -> None:
        routes = self.server.routes
        routes[f"/Mediasite/Play/{MEDIASITE_ID}"] = self.page
        routes[f"/Mediasite/Play/{MEDIASITE_ID_2}"] = self.page
        routes["/Mediasite/PlayerService/PlayerService.svc/json/GetPlayerOptions"] = self.player_options
        routes[f"/Mediasite/Catalog/Full/{CATALOG_ID}"] = lambda h: h.send(
            b"<html><body>catalog</body></html>"
        )
        routes["/Mediasite/Catalog/Data/GetPresentationsForFolder"] = self.catalog
        routes["/media/clip.mp4"] = self.media_file

    def link(self, resource: str = MEDIASITE_ID) -> str:
        return self.server.url(f"/Mediasite/Play/{resource}", self.host)

    def page(self, h: Handler) -> None:
        extra = f'<div id="ServicePath">{self.service_path}</div>' if self.service_path else ""
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Set-Cookie", "MediasiteAuth=secret; Path=/")
        body = f"<html><body>player{extra}</body></html>".encode()
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def player_options(self, h: Handler) -> None:
        resource = json.loads(h.body)["getPlayerOptionsRequest"]["ResourceId"]
        self.asked.append(resource)
        if self.player_status != 200:
            h.send_error(self.player_status)
            return
        media = self.media or self.server.url("/media/clip.mp4", self.host)
        stream = {
            "StreamType": 0,
            "VideoUrls": [{"Location": media, "MediaType": "MP4", "MimeType": "video/mp4"}],
        }
        answer = {"d": {"Presentation": {"Title": "clip", "Duration": self.duration_ms, "Streams": [stream]}}}
        if self.player_gzip is None:
            h.send(json.dumps(answer).encode(), "application/json")
            return
        # Compressed although "Accept-Encoding: identity" was asked for, as some servers do.
        body = gzip.compress(self.player_gzip or json.dumps(answer).encode())
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def catalog(self, h: Handler) -> None:
        answer = {
            "PresentationDetailsList": [{"Id": MEDIASITE_ID_2}, {"Id": MEDIASITE_ID}],
            "CurrentFolder": {"Name": "two clips"},
        }
        h.send(json.dumps(answer).encode(), "application/json")

    def media_file(self, h: Handler) -> None:
        # The session cookie set by the page must come along, as a real site would require.
        if "MediasiteAuth=secret" not in (h.headers.get("Cookie") or ""):
            h.send_error(403)
            return
        serve_file(CLIP_BYTES)(h)


@pytest.fixture
def mediasite(server: Server) -> Mediasite:
    site = Mediasite(server)
    site.install()
    return site


def test_a_site_page_through_yt_dlp(mediasite: Mediasite, tmp_path: Path) -> None:
    link = mediasite.link()
    assert sites.extractor_for(link) == "Mediasite"
    with fetch_link(link, max_bytes=MB, allow_private=True, temp_dir=tmp_path) as fetched:
        assert fetched.path.read_bytes() == CLIP_BYTES
        assert fetched.to_dict() == {
            "link": link,
            "final_url": link,
            "extractor": "Mediasite",
            "size_bytes": len(CLIP_BYTES),
            "sha256": hashlib.sha256(CLIP_BYTES).hexdigest(),
        }
    assert mediasite.server.paths() == [
        f"/Mediasite/Play/{MEDIASITE_ID}",
        "/Mediasite/PlayerService/PlayerService.svc/json/GetPlayerOptions",
        "/media/clip.mp4",
    ]
    assert left_in(tmp_path) == []


def test_a_multi_video_page_gives_its_first_video(mediasite: Mediasite, tmp_path: Path) -> None:
    link = mediasite.server.url(f"/Mediasite/Catalog/Full/{CATALOG_ID}")
    with fetch_link(link, max_bytes=MB, allow_private=True, temp_dir=tmp_path) as fetched:
        assert fetched.extractor == "Mediasite"
        assert fetched.final_url == mediasite.link(MEDIASITE_ID_2)
        assert fetched.sha256 == hashlib.sha256(CLIP_BYTES).hexdigest()
    assert mediasite.asked == [MEDIASITE_ID_2]


def test_a_site_video_too_long_is_refused_before_downloading(mediasite: Mediasite, tmp_path: Path) -> None:
    mediasite.duration_ms = 3_600_000
    with pytest.raises(TooLongError, match="lasts 3600 s, longer than the 600 s limit"):
        fetch_link(mediasite.link(), max_bytes=MB, max_duration_s=600, allow_private=True, temp_dir=tmp_path)
    assert "/media/clip.mp4" not in mediasite.server.paths()
    assert left_in(tmp_path) == []


def test_the_media_url_yt_dlp_picks_is_vetted(
    mediasite: Mediasite,
    route_public: Server,
    tmp_path: Path,
    loopback_only: list[tuple[str, int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    mediasite.host = "allowed.test"
    mediasite.media = "http://169.254.169.254/latest/meta-data/clip.mp4"
    with (
        caplog.at_level(logging.INFO, logger="inference.links"),
        pytest.raises(AddressNotAllowedError, match="non-public address"),
    ):
        fetch_link(mediasite.link(), max_bytes=MB, temp_dir=tmp_path)
    assert "169.254.169.254" in caplog.text
    assert "/media/clip.mp4" not in route_public.paths()
    assert {address for address, _ in loopback_only} == {"127.0.0.1"}
    assert left_in(tmp_path) == []


def test_requests_yt_dlp_makes_while_reading_the_page_are_vetted(
    mediasite: Mediasite, route_public: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mediasite.host = "allowed.test"
    # The page names its API: a private address, which yt-dlp would POST to.
    mediasite.service_path = "http://10.0.0.1/Mediasite/PlayerService/PlayerService.svc/json"
    with (
        caplog.at_level(logging.INFO, logger="inference.links"),
        pytest.raises(AddressNotAllowedError, match="non-public address"),
    ):
        fetch_link(mediasite.link(), max_bytes=MB, temp_dir=tmp_path)
    assert "10.0.0.1" in caplog.text
    assert route_public.paths() == [f"/Mediasite/Play/{MEDIASITE_ID}"]
    assert left_in(tmp_path) == []


def test_a_compressed_answer_is_read(mediasite: Mediasite, tmp_path: Path) -> None:
    mediasite.player_gzip = b""
    with fetch_link(mediasite.link(), max_bytes=MB, allow_private=True, temp_dir=tmp_path) as fetched:
        assert fetched.size_bytes == len(CLIP_BYTES)


def test_a_compressed_answer_is_capped_after_decompression(mediasite: Mediasite, tmp_path: Path) -> None:
    mediasite.player_gzip = bytes(ytdlp_requests.PAGE_MAX_BYTES + 1)  # about 17 kB compressed
    with pytest.raises(TooLargeError, match="a page of the site is larger than 2 MiB"):
        fetch_link(mediasite.link(), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


def test_a_site_error_is_reported_as_refused(mediasite: Mediasite, tmp_path: Path) -> None:
    mediasite.player_status = 403
    with pytest.raises(SiteRefusedError, match="did not give the video.*upload the file instead") as caught:
        fetch_link(mediasite.link(), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    # yt-dlp's text quotes the site (status line, reason phrase): not shown.
    assert "403" not in str(caught.value)
    assert "Forbidden" not in str(caught.value)
    assert left_in(tmp_path) == []


def test_the_bot_check_says_to_upload_the_file(
    mediasite: Mediasite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yt_dlp.extractor.mediasite import MediasiteIE
    from yt_dlp.utils import ExtractorError

    def bot_check(self: MediasiteIE, url: str) -> dict:
        # YouTube's words to data-center addresses, as yt-dlp reports them.
        raise ExtractorError(
            "Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies for the "
            "authentication.",
            expected=True,
        )

    monkeypatch.setattr(MediasiteIE, "_real_extract", bot_check)
    with pytest.raises(SiteRefusedError, match="confirm it is not a bot.*upload the file instead"):
        fetch_link(mediasite.link(), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


def test_a_site_that_only_streams_has_no_suitable_format(mediasite: Mediasite, tmp_path: Path) -> None:
    mediasite.media = mediasite.server.url("/media/clip.m3u8")
    with pytest.raises(NoSuitableFormatError, match="only as a stream"):
        fetch_link(mediasite.link(), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


@pytest.mark.timeout(20)
def test_a_slow_site_hits_the_deadline(mediasite: Mediasite, tmp_path: Path) -> None:
    mediasite.server.routes[f"/Mediasite/Play/{MEDIASITE_ID}"] = drip_headers
    with pytest.raises(TimedOutError):
        fetch_link(mediasite.link(), max_bytes=MB, timeout_s=1.0, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


def test_yt_dlp_runs_without_the_generic_extractor_or_a_cache(tmp_path: Path) -> None:
    params = ytdlp_options._params(tmp_path, 5.0)
    assert params["allowed_extractors"][:1] == ["default"]
    assert {"-generic", "-pornhub", "-iqiyi", "-douyutv"} <= set(params["allowed_extractors"])
    assert params["cachedir"] is False
    assert params["noplaylist"] is True
    session = ytdlp_requests._Session(deadline=connection.Deadline(5), allow_private=False)
    with ytdlp_options._GuardedYoutubeDL(params, session) as ydl:
        assert "Generic" not in ydl._ies
        assert not {"PornHub", "Iqiyi", "DouyuTV", "DouyuShow", "Iq", "IqAlbum"} & set(ydl._ies)
        assert "Mediasite" in ydl._ies
        assert [type(h) for h in ydl._request_director.handlers.values()] == [ytdlp_requests.GuardedRH]
    assert left_in(tmp_path) == []


# --- ports: the web's only (any but 0 with the test-only allow_private) ------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "http://allowed.test:22/clip.mp4",
        "https://allowed.test:6379/",
        "http://allowed.test:8000/clip.mp4",
        "http://8.8.8.8:25/",
        "http://allowed.test:65535/",
    ],
)
def test_links_to_other_ports_are_refused_before_any_lookup(
    link: str, tmp_path: Path, loopback_only: list[tuple[str, int]], fake_dns: list[str]
) -> None:
    with pytest.raises(AddressNotAllowedError, match="port other than the web's"):
        fetch_link(link, max_bytes=MB, temp_dir=tmp_path)
    assert loopback_only == []
    assert fake_dns == []
    assert left_in(tmp_path) == []


def test_port_0_is_refused_even_with_allow_private(
    tmp_path: Path, loopback_only: list[tuple[str, int]]
) -> None:
    with pytest.raises(UnsupportedLinkError, match="port 0"):
        fetch_link("http://127.0.0.1:0/clip.mp4", max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert loopback_only == []


@pytest.mark.parametrize("port", [80, 8080, 8443])
def test_links_on_web_ports_are_fetched(route_public: Server, tmp_path: Path, port: int) -> None:
    with fetch_link(f"http://allowed.test:{port}/clip.mp4", max_bytes=MB, temp_dir=tmp_path) as fetched:
        assert fetched.path.read_bytes() == CLIP_BYTES
    assert route_public.seen[0][2]["Host"] == ("allowed.test" if port == 80 else f"allowed.test:{port}")


def test_a_redirect_to_another_port_is_refused(
    route_public: Server, tmp_path: Path, loopback_only: list[tuple[str, int]]
) -> None:
    link = "http://allowed.test/redirect?to=" + urllib.parse.quote("http://allowed.test:6379/", safe="")
    with pytest.raises(AddressNotAllowedError, match="port other than the web's"):
        fetch_link(link, max_bytes=MB, temp_dir=tmp_path)
    assert loopback_only == [("127.0.0.1", route_public.port)]
    assert left_in(tmp_path) == []


def test_a_request_of_yt_dlp_to_another_port_is_refused(
    mediasite: Mediasite, route_public: Server, tmp_path: Path
) -> None:
    mediasite.host = "allowed.test"
    mediasite.service_path = "http://allowed.test:6379/Mediasite/PlayerService/PlayerService.svc/json"
    with pytest.raises(AddressNotAllowedError, match="port other than the web's"):
        fetch_link(mediasite.link(), max_bytes=MB, temp_dir=tmp_path)
    assert route_public.paths() == [f"/Mediasite/Play/{MEDIASITE_ID}"]
    assert left_in(tmp_path) == []


# --- messages: fixed sentences, never the server's words ------------------------------------------


def raw_answer(data: bytes) -> Route:
    """A route that writes ``data`` as it is (no status line of ours) and hangs up."""

    def route(h: Handler) -> None:
        h.wfile.write(data)
        h.wfile.flush()

    return route


@pytest.mark.parametrize(
    ("answer", "kind", "message"),
    [
        # Not HTTP at all: http.client's BadStatusLine quotes the line.
        (b"SSH-2.0-OpenSSH_9.6 call 555-0100 now\r\n", UnreachableError, "did not answer with a video"),
        # A reason phrase of the server's choosing.
        (
            b"HTTP/1.1 404 call 555-0100 now\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            UnreachableError,
            r"did not answer with a video \(HTTP 404\)",
        ),
        # A bad chunk size line (http.client does not quote it; the message would not either).
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\ncall 555-0100 now\r\n",
            UnreachableError,
            "the download broke off",
        ),
    ],
)
def test_messages_do_not_repeat_what_the_server_sent(
    server: Server,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    answer: bytes,
    kind: type[LinkError],
    message: str,
) -> None:
    server.routes["/odd.mp4"] = raw_answer(answer)
    with (
        caplog.at_level(logging.INFO, logger="inference.links"),
        pytest.raises(kind, match=message) as caught,
    ):
        fetch_link(server.url("/odd.mp4"), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert "555" not in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)
    if b"chunked" not in answer:
        assert "555-0100" in caplog.text  # for whoever runs the server
    assert left_in(tmp_path) == []


# --- numbers in headers: ASCII digits only, any problem a LinkError ---------------------------------


@pytest.mark.parametrize("value", ["²", "1²", "12abc", "-1", "1" * 5000])
def test_a_malformed_content_length_is_a_link_error(server: Server, tmp_path: Path, value: str) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {value}\r\nConnection: close\r\n\r\n"
    server.routes["/odd.mp4"] = raw_answer(head.encode("latin-1") + CLIP_BYTES)
    with pytest.raises(UnreachableError, match="did not answer with a video"):
        fetch_link(server.url("/odd.mp4"), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


@pytest.mark.parametrize("content_range", ["bytes 0-1²/100", "bytes ²-1/100", "bytes 0-99/1" + "0" * 30])
def test_a_malformed_content_range_is_a_link_error(
    server: Server, tmp_path: Path, content_range: str
) -> None:
    head = f"HTTP/1.1 206 Partial\r\nContent-Range: {content_range}\r\nContent-Length: 2\r\n\r\n"
    server.routes["/odd.mp4"] = raw_answer(head.encode("latin-1") + b"ab")
    with pytest.raises(UnreachableError, match="wrong range"):
        download.download(
            server.url("/odd.mp4"),
            tmp_path,
            max_bytes=MB,
            deadline=connection.Deadline(10),
            allow_private=True,
            chunk_bytes=100,
        )


# --- an interrupt mid-request leaves no thread and no connection ----------------------------------


@pytest.fixture
def watchdogs(monkeypatch: pytest.MonkeyPatch) -> list[connection.Watchdog]:
    """Every watchdog made during the test."""
    made: list[connection.Watchdog] = []

    class Recording(connection.Watchdog):
        def __init__(self, deadline: connection.Deadline) -> None:
            super().__init__(deadline)
            made.append(self)

    monkeypatch.setattr(fetch, "Watchdog", Recording)
    return made


def all_stopped(made: list[connection.Watchdog]) -> bool:
    """Whether every watchdog's timer thread has ended (cancelled, not waiting for its deadline)."""
    for watchdog in made:
        watchdog._timer.join(2)
    return all(not watchdog._timer.is_alive() and not watchdog.fired for watchdog in made)


@pytest.mark.parametrize("stage", ["request", "getresponse"])
def test_an_interrupt_mid_request_stops_the_watchdog_and_closes_the_connection(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    watchdogs: list[connection.Watchdog],
    stage: str,
) -> None:
    connections: list[http.client.HTTPConnection] = []
    real = getattr(http.client.HTTPConnection, stage)

    def interrupted(self: http.client.HTTPConnection, *args: object, **kwargs: object) -> None:
        connections.append(self)
        if stage == "request":
            real(self, *args, **kwargs)  # connected and sent: the interrupt comes after
        raise KeyboardInterrupt

    monkeypatch.setattr(http.client.HTTPConnection, stage, interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_link(server.url("/clip.mp4"), max_bytes=MB, timeout_s=60, allow_private=True, temp_dir=tmp_path)
    assert len(watchdogs) == 1
    assert all_stopped(watchdogs)
    assert connections[0].sock is None  # closed
    assert left_in(tmp_path) == []


# --- duration: unknown is not "short enough" ------------------------------------------------------


def test_a_video_of_unknown_length_is_refused_when_there_is_a_limit(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.video import probe as video_probe

    real = video_probe.probe

    def without_frame_rate(path: str | Path, max_pixels: int | None = None) -> video_probe.VideoInfo:
        return dataclasses.replace(real(path, max_pixels), fps=None, duration_s=None)

    monkeypatch.setattr(video_probe, "probe", without_frame_rate)
    with pytest.raises(TooLongError, match="length cannot be read"):
        fetch_link(
            server.url("/clip.mp4"), max_bytes=MB, max_duration_s=600, allow_private=True, temp_dir=tmp_path
        )
    assert left_in(tmp_path) == []
    # Without a limit there is nothing to check.
    with fetch_link(server.url("/clip.mp4"), max_bytes=MB, allow_private=True, temp_dir=tmp_path) as fetched:
        assert fetched.size_bytes == len(CLIP_BYTES)


# --- credentials stay with their origin ------------------------------------------------------------

SECRETS = {"Authorization": "Bearer secret", "Cookie": "session=secret"}


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/clip.mp4", True),  # same scheme, host and port
        ("http://allowed.test:80/clip.mp4", True),  # the default port, written out
        ("http://allowed.test:8080/clip.mp4", False),  # another port: another service
        ("http://rebind.test/clip.mp4", False),  # another host
    ],
)
def test_credentials_follow_a_redirect_only_within_its_origin(
    route_public: Server, target: str, kept: bool
) -> None:
    link = "http://allowed.test/redirect?to=" + urllib.parse.quote(target, safe="")
    with fetch.open_url(link, deadline=connection.Deadline(10), headers=SECRETS) as response:
        assert response.status == 200
    first, last = route_public.seen[0][2], route_public.seen[-1][2]
    assert len(route_public.seen) == 2
    assert (first["Authorization"], first["Cookie"]) == ("Bearer secret", "session=secret")
    assert ("Authorization" in last, "Cookie" in last) == (kept, kept)


def test_credentials_do_not_follow_https_to_http_on_the_same_host(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # allowed.test:443 is a TLS server, allowed.test:80 the plain one; both on the loopback.
    tls = Server()
    cert, key = certificate("allowed.test", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    tls.routes["/redirect"] = redirect_to_query
    threading.Thread(target=tls.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    real = connection._connect

    def connect(address: str, port: int, timeout: float) -> socket.socket:
        assert address == PUBLIC
        return real("127.0.0.1", tls.port if port == 443 else server.port, timeout)

    monkeypatch.setattr(connection, "_connect", connect)
    monkeypatch.setattr(connection, "_tls_context", lambda: ssl.create_default_context(cafile=str(cert)))
    try:
        link = "https://allowed.test/redirect?to=" + urllib.parse.quote(
            "http://allowed.test/clip.mp4", safe=""
        )
        with fetch.open_url(link, deadline=connection.Deadline(10), headers=SECRETS) as response:
            assert response.status == 200
    finally:
        tls.shutdown()
        tls.server_close()
    assert tls.seen[0][2]["Authorization"] == "Bearer secret"
    assert "Authorization" not in server.seen[0][2]
    assert "Cookie" not in server.seen[0][2]


# --- yt-dlp: extractors, plugins, page cap ---------------------------------------------------------


def test_extractors_that_can_run_phantomjs_are_off() -> None:
    import yt_dlp.extractor

    folder = Path(yt_dlp.extractor.__file__).parent
    users = {
        path.stem
        for path in folder.glob("*.py")
        if path.stem != "lazy_extractors" and "PhantomJSwrapper" in path.read_text(encoding="utf-8")
    }
    # A yt-dlp upgrade that adds a PhantomJS user fails here until it is excluded too.
    assert users <= ytdlp_options.PHANTOMJS_MODULES
    for link in (
        "https://www.pornhub.com/view_video.php?viewkey=ph5a",
        "https://www.iqiyi.com/v_19rrojlavg.html",
        "https://www.iq.com/play/abc-xyz",
        "https://www.douyu.com/123",
    ):
        assert sites.extractor_for(link) is None, link


def test_yt_dlp_plugins_stay_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yt_dlp.globals

    monkeypatch.setattr(yt_dlp.globals.plugin_dirs, "value", ["default"])
    session = ytdlp_requests._Session(deadline=connection.Deadline(5), allow_private=False)
    with ytdlp_options._GuardedYoutubeDL(ytdlp_options._params(tmp_path, 5.0), session):
        assert yt_dlp.globals.plugin_dirs.value == []
    ytdlp_options._no_plugins()  # again: nothing changes
    assert yt_dlp.globals.plugin_dirs.value == []


def test_an_answer_over_the_page_cap_is_not_read(
    mediasite: Mediasite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ytdlp_requests.PAGE_MAX_BYTES == 2 * 2**20
    api = "/Mediasite/PlayerService/PlayerService.svc/json/GetPlayerOptions"
    big = b'{"d": "' + b"a" * ytdlp_requests.PAGE_MAX_BYTES + b'"}'
    mediasite.server.routes[api] = lambda h: h.send(big, "application/json")
    with pytest.raises(TooLargeError, match="larger than 2 MiB"):
        fetch_link(mediasite.link(), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    # An extractor given a larger cap reads it (and then finds no video in it).
    monkeypatch.setattr(sites, "PAGE_MAX_BYTES_BY_EXTRACTOR", {"Mediasite": 3 * 2**20})
    with pytest.raises(SiteRefusedError):
        fetch_link(mediasite.link(), max_bytes=MB, allow_private=True, temp_dir=tmp_path)
    assert left_in(tmp_path) == []


# --- several fetches at once -----------------------------------------------------------------------


def tagged_clip(number: int) -> bytes:
    """The clip with a trailing MP4 'free' box naming ``number``: a distinct, still valid video."""
    tag = b"%016d" % number
    return CLIP_BYTES + (8 + len(tag)).to_bytes(4, "big") + b"free" + tag


@pytest.mark.timeout(30)
def test_several_fetches_at_once_each_get_their_own_file(
    server: Server, tmp_path: Path, watchdogs: list[connection.Watchdog]
) -> None:
    clips = {f"/clip{number}.mp4": tagged_clip(number) for number in range(4)}
    for path, data in clips.items():
        server.routes[path] = serve_file(data)
    server.routes["/gone.mp4"] = lambda h: h.send_error(404)
    paths = [*clips, "/gone.mp4", "/page.html"]
    results: dict[str, object] = {}
    start = threading.Barrier(len(paths))

    def fetch_one(path: str) -> None:
        start.wait()
        try:
            with fetch_link(server.url(path), max_bytes=MB, allow_private=True, temp_dir=tmp_path) as got:
                results[path] = (got.path.read_bytes(), got.final_url, got.sha256)
        except LinkError as exc:
            results[path] = exc

    threads = [threading.Thread(target=fetch_one, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    for path, data in clips.items():
        assert results[path] == (data, server.url(path), hashlib.sha256(data).hexdigest())
    assert isinstance(results["/gone.mp4"], UnreachableError)
    assert isinstance(results["/page.html"], NotAVideoError)
    assert left_in(tmp_path) == []
    assert len(watchdogs) == len(paths)
    assert all_stopped(watchdogs)
