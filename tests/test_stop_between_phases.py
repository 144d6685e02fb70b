"""Stop and the time limit reach the phases that report no progress (issue 29, item 8): the
engine reports between probing, reading Content Credentials and listing the frames, and a link's
download checks the caller's stop between its chunks. A real HTTP server on 127.0.0.1 drips the
file; the "Stop" is the progress callback raising, as the app's does."""

from __future__ import annotations

import http.server
import socketserver
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference import Detector, Settings


class Stopped(Exception):
    """What the caller's progress callback raises once the run is stopped."""


def test_a_stopped_run_ends_before_the_video_is_read(detector: Detector, genuine_clip: Path):
    messages: list[str] = []

    def stopped(fraction: float, message: str) -> None:
        messages.append(message)
        raise Stopped

    with pytest.raises(Stopped):
        detector.analyze(genuine_clip, frames=4, progress=stopped)
    assert messages == ["reading the video"]  # not after probing, C2PA, indexing and a frame


def test_every_phase_before_decoding_is_a_place_to_stop(detector: Detector, genuine_clip: Path):
    messages: list[str] = []
    detector.analyze(genuine_clip, frames=4, progress=lambda fraction, message: messages.append(message))
    first_frame = next(i for i, message in enumerate(messages) if message.startswith("frame "))
    assert messages[:first_frame] == [
        "reading the video",
        "reading its Content Credentials",
        "choosing the frames",
        "decoding the frames",
    ]


class Drip(http.server.BaseHTTPRequestHandler):
    """Announces a 10 MB video and sends 1 kB of it every 0.1 s (about 17 minutes in all)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(10_000_000))
        self.end_headers()
        try:
            while not self.server.stopping.wait(0.1):  # type: ignore[attr-defined]
                self.wfile.write(b"\0" * 1000)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as it should once stopped

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def drip_url() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    server.stopping.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_stop_ends_a_link_download_early(
    detector: Detector, drip_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    settings = Settings.from_env({"DEEPFAKE_ALLOW_PRIVATE_URLS": "1", "DEEPFAKE_LINK_TIMEOUT_S": "8"})
    engine = Detector(detector.classifier, settings)
    private = tmp_path / "tmp"  # a temp folder of our own: other processes write to the shared one
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    started = time.monotonic()
    messages: list[str] = []

    def progress(fraction: float, message: str) -> None:
        messages.append(message)
        if time.monotonic() - started > 1.0:  # Stop pressed a second into the download
            raise Stopped

    with pytest.raises(Stopped):
        engine.analyze_link(drip_url, frames=4, progress=progress)
    assert time.monotonic() - started < 4  # not the link's 8 s limit
    assert set(messages) == {"fetching the video behind the link"}
    assert list(private.iterdir()) == []  # the partial download is gone
