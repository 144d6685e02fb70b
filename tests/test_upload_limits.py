"""Every way a file gets into the served app stays under the upload limits (issues 29.7, 35, 30.8).

Raw HTTP on 127.0.0.1 where a client would lie (lengths, encodings, slow or cut bodies), requests
fired at the same instant where the order matters, and Gradio's side doors: the screen-recording
route, MCP ``data:`` URIs and the file route.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import gradio as gr
import httpx
import loopback
import pytest
from gradio.utils import get_upload_folder
from loopback import api, client
from served_app import launched

from inference import Settings

LIMITS = {
    "DEEPFAKE_UPLOAD_QUOTA_MB": "1",
    "DEEPFAKE_MAX_UPLOAD_MB": "0.6",
    "DEEPFAKE_UPLOAD_TIMEOUT_S": "2",
    "DEEPFAKE_MAX_UPLOADS": "4",
}


@contextlib.contextmanager
def served(hub_cache: Path, **env: str) -> Iterator[tuple[str, gr.Blocks]]:
    """The app with small upload limits on a free loopback port (no warm-up: no analysis needed)."""
    with launched(Settings.from_env({**LIMITS, **env})) as running:
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def form(data: bytes, name: str = "clip.mp4", files: int = 1) -> tuple[bytes, str]:
    """A multipart body with ``files`` file parts of ``data``; returns it and its content type."""
    part = f'--x\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n'.encode()
    return b"".join(
        part + data + b"\r\n" for _ in range(files)
    ) + b"--x--\r\n", "multipart/form-data; boundary=x"


def connect(url: str, source: str = "127.0.0.1") -> socket.socket:
    where = urlsplit(url)
    return socket.create_connection((where.hostname, where.port), timeout=15, source_address=(source, 0))


def head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(sock: socket.socket) -> tuple[int, str]:
    """The status and body of the response on ``sock`` (read until it is closed or complete)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    headers, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in headers.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        None,
    )
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(headers.split(b" ")[1]), body.decode(errors="replace")


VISITORS = itertools.count(2)


def address() -> str:
    """A loopback address no other request of this module used: a visitor of its own."""
    number = next(VISITORS)
    return f"127.0.{number // 250}.{number % 250 + 2}"


def upload(url: str, data: bytes, name: str = "clip.mp4", source: str | None = None) -> httpx.Response:
    """Upload ``data`` from ``source`` (by default a new visitor's address)."""
    with client(source or address(), timeout=30) as visitor:
        return visitor.post(f"{url}gradio_api/upload", files={"files": (name, data)})


def files_under(folder: str | Path) -> set[Path]:
    return {path for path in Path(folder).rglob("*") if path.is_file()}


def settled(demo: gr.Blocks) -> tuple[int, int]:
    """The upload ledger (bytes, files held) once no upload is arriving any more."""
    deadline = time.monotonic() + 10
    while demo.uploads.arriving() != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    return demo.uploads.used()


def forget_all(demo: gr.Blocks) -> None:
    for path in demo.uploads.paths():
        demo.uploads.done(path)


@pytest.fixture(scope="module")
def server(hub_cache: Path) -> Iterator[tuple[str, gr.Blocks]]:
    with served(hub_cache) as running:
        yield running


@pytest.fixture
def empty(server: tuple[str, gr.Blocks]) -> tuple[str, gr.Blocks]:
    """The module's server with no upload held (what earlier tests stored is deleted)."""
    url, demo = server
    forget_all(demo)
    assert demo.uploads.used() == (0, 0)
    return url, demo


def test_a_length_that_lies_beside_chunked_encoding_is_refused(empty):
    """Content-Length: 100 with a chunked body: the quota counted 100 bytes and stored the body
    (30 MB passed a 10 MB quota, one file of the size limit after another)."""
    url, demo = empty
    body, kind = form(os.urandom(500_000))
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 65536]), body[i : i + 65536]) for i in range(0, len(body), 65536)
    )
    before = files_under(get_upload_folder())
    with connect(url) as sock:
        sock.sendall(
            head(
                "/gradio_api/upload",
                {"Content-Type": kind, "Content-Length": "100", "Transfer-Encoding": "chunked"},
            )
        )
        with contextlib.suppress(OSError):  # the server may close before reading it all
            sock.sendall(chunked + b"0\r\n\r\n")
        status, text = answer(sock)
    assert status == 411, text
    assert "Transfer-Encoding" in text
    assert files_under(get_upload_folder()) == before
    assert settled(demo) == (0, 0)


def test_an_idle_upload_holds_only_what_it_sent_then_times_out(empty):
    """A body that declares 650 kB and sends 1 kB must not block a 400 kB upload of someone else
    (the quota is 1 MB), and is dropped after DEEPFAKE_UPLOAD_TIMEOUT_S (2 s)."""
    url, demo = empty
    body, kind = form(os.urandom(650_000))
    with connect(url) as idle:
        idle.sendall(head("/gradio_api/upload", {"Content-Type": kind, "Content-Length": str(len(body))}))
        idle.sendall(body[:1000])
        time.sleep(0.3)
        other = upload(url, os.urandom(400_000))
        assert other.status_code == 200, other.text
        started = time.monotonic()
        status, text = answer(idle)
        assert status == 408, text
        assert time.monotonic() - started < 10
    # A declared length past one file of the limit is refused before any byte is read.
    with connect(url) as huge:
        huge.sendall(head("/gradio_api/upload", {"Content-Type": kind, "Content-Length": str(10**12)}))
        status, text = answer(huge)
    assert status == 413 and "0.6 MB" in text, text
    used, held = settled(demo)
    assert held == 1 and used >= 400_000  # the other visitor's file only


def together(count: int, send: Callable[[], int]) -> list[int]:
    """The statuses of ``count`` calls of ``send`` started at the same instant."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def one() -> None:
        barrier.wait()
        statuses.append(send())

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_uploads_fired_together_are_counted_files_and_bytes(empty):
    """Eight empty files at the same instant with DEEPFAKE_MAX_UPLOADS=4: exactly four stored
    (empty files once cost nothing, 1000 per request); several files in one request: refused;
    five of 300 kB at once against 1 MB: never more than the quota, and not all refused."""
    url, demo = empty
    assert together(8, lambda: upload(url, b"", name="empty.mp4").status_code) == [200] * 4 + [507] * 4
    used, held = settled(demo)
    assert held == 4 and used == 4 * 4096  # each file costs a block
    forget_all(demo)
    body, kind = form(b"x", files=3)
    many = loopback.post(f"{url}gradio_api/upload", content=body, headers={"content-type": kind})
    assert many.status_code == 400 and "one file per request" in many.text
    assert settled(demo) == (0, 0)
    statuses = together(4, lambda: upload(url, os.urandom(300_000)).status_code)
    assert 1 <= statuses.count(200) <= 3 and set(statuses) <= {200, 507}, statuses
    used, held = settled(demo)
    assert held == statuses.count(200) and used <= 1_000_000


def test_a_refused_or_cut_upload_leaves_no_file(empty):
    url, demo = empty
    before = files_under(get_upload_folder())
    body, kind = form(os.urandom(300_000))
    with connect(url) as cut:  # the client goes away half-way
        cut.sendall(head("/gradio_api/upload", {"Content-Type": kind, "Content-Length": str(len(body))}))
        cut.sendall(body[:100_000])
    assert upload(url, os.urandom(700_000)).status_code == 413  # over DEEPFAKE_MAX_UPLOAD_MB
    body, kind = form(b"x", name="..")
    assert loopback.post(
        f"{url}gradio_api/upload", content=body, headers={"content-type": kind}
    ).status_code in (200, 400)
    forget_all(demo)
    deadline = time.monotonic() + 10
    while files_under(get_upload_folder()) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert files_under(get_upload_folder()) == before
    assert settled(demo) == (0, 0)


def test_the_screen_recording_route_is_refused(empty, genuine_clip: Path):
    url, _ = empty
    body, kind = form(genuine_clip.read_bytes())
    body = body.replace(b'name="files"', b'name="video"')
    # Its body is over the small cap of every route but the upload's (ui.route_rules): 413 first.
    response = loopback.post(
        f"{url}gradio_api/process_recording", content=body, headers={"content-type": kind}
    )
    assert response.status_code == 413
    chunked = loopback.post(
        f"{url}gradio_api/process_recording", content=iter([body]), headers={"content-type": kind}
    )
    assert chunked.status_code == 413
    small, kind = form(b"x" * 100)
    small = small.replace(b'name="files"', b'name="video"')
    refused = loopback.post(
        f"{url}gradio_api/process_recording", content=small, headers={"content-type": kind}
    )
    assert refused.status_code == 404


def test_outputs_do_not_count_and_are_never_swept(hub_cache: Path):
    """Gradio's cache holds every output too: a 2 MB report there must neither fill a 1 MB upload
    quota nor be deleted by the sweep of old uploads."""
    with served(hub_cache, DEEPFAKE_UPLOAD_TTL_S="1") as (url, _):
        output = Path(get_upload_folder()) / ("ab" * 32) / "clip-report.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(b"{}" + b" " * 2_000_000)
        os.utime(output, (0, 0))
        stored = upload(url, os.urandom(300_000))
        assert stored.status_code == 200, stored.text
        time.sleep(1.2)
        assert upload(url, b"next").status_code == 200  # sweeps what is older than 1 s first
        assert not Path(stored.json()[0]).exists()
        assert output.is_file()
        output.unlink()


def test_identical_uploads_of_two_visitors_do_not_share_a_path(empty, genuine_clip: Path):
    """B's analysis of the same bytes under the same name once deleted A's upload."""
    url, _ = empty
    first, second = (upload(url, genuine_clip.read_bytes(), "same.mp4").json()[0] for _ in range(2))
    assert first != second
    own = f"{url}gradio_api/file={quote(second)}"
    label = api(url).predict(
        {"path": own, "url": own, "meta": {"_type": "gradio.FileData"}}, 1, api_name="/predict"
    )
    assert label["label"]
    assert not Path(second).exists()  # B's analysis ended: B's file goes
    assert Path(first).is_file()  # A's stays


def mcp_post(url: str, tool: str, arguments: dict, route: str = "gradio_api/mcp/") -> httpx.Response:
    """One MCP tools/call posted to ``route`` (streamable HTTP, stateless, by default)."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    headers = {"accept": "application/json, text/event-stream"}
    return loopback.post(f"{url}{route}", json=request, headers=headers, timeout=120)


def mcp(url: str, tool: str, arguments: dict) -> dict:
    """One MCP tools/call over streamable HTTP (stateless); returns the JSON-RPC answer."""
    response = mcp_post(url, tool, arguments)
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1])


def data_uri(data: bytes) -> str:
    return "data:video/mp4;base64," + base64.b64encode(data).decode()


def test_mcp_data_uris_are_uploads_under_the_same_limits(empty, genuine_clip: Path):
    """data: videos were written to Gradio's cache before any check and never deleted."""
    url, demo = empty
    tool = next(
        t["name"] for t in loopback.get(f"{url}gradio_api/mcp/schema").json() if t["name"].endswith("predict")
    )
    before = files_under(get_upload_folder())
    too_big = mcp(url, tool, {"video": data_uri(os.urandom(700_000)), "frames": 1})
    assert "0.6 MB" in json.dumps(too_big), too_big
    answered = mcp(url, tool, {"video": data_uri(genuine_clip.read_bytes()), "frames": 1})
    assert any(word in json.dumps(answered) for word in ("FAKE", "REAL", "UNCERTAIN", "CANNOT")), answered
    assert files_under(get_upload_folder()) <= before  # analysed, then deleted; nothing else kept
    # With the quota held by two uploads, a data: video is refused and not written.
    assert upload(url, os.urandom(480_000)).status_code == 200
    assert upload(url, os.urandom(480_000)).status_code == 200
    # Refused from its declared length, before its body is read.
    full = mcp_post(url, tool, {"video": data_uri(genuine_clip.read_bytes()), "frames": 1})
    assert full.status_code == 507 and "space for uploads is full" in full.text, full.text
    assert settled(demo)[1] == 2


def test_the_file_route_keeps_refusing_traversal_and_planted_links(empty, tmp_path: Path):
    """What held in the review (issue 35), kept as a test: forms of ../ and links planted in the
    upload folder never serve a file from outside it, and an upload's name cannot leave it."""
    url, demo = empty
    secret = tmp_path / "secret.txt"
    secret.write_text("operator's secret")
    folder = Path(get_upload_folder()).resolve()
    planted = folder / "planted"
    planted.mkdir(exist_ok=True)
    (planted / "link.txt").unlink(missing_ok=True)
    (planted / "link.txt").symlink_to(secret)
    ups = os.path.relpath(secret, folder)
    forms = [
        str(secret),
        f"{folder}/{ups}",
        f"{folder}/%2e%2e/{ups}",
        f"{folder}/..%2f{ups}",
        quote(f"{folder}/{ups}", safe=""),
        f"{folder}//..//{ups}",
        str(planted / "link.txt"),
        "/etc/passwd",
    ]
    for form_ in forms:
        response = loopback.get(f"{url}gradio_api/file={form_}", timeout=10)
        assert "operator's secret" not in response.text and response.status_code in (403, 404), form_
    (planted / "link.txt").unlink()
    planted.rmdir()
    stored = Path(upload(url, b"x", name="../../../escape.mp4").json()[0])
    assert stored.name == "escape.mp4" and stored.is_relative_to(demo.uploads.root)
