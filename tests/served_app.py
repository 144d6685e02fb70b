"""``python app.py`` on the loopback for the limits tests, and raw HTTP as several visitors.

Visitors are told apart by their address: each stands on its own 127.0.0.x (every address of
127.0.0.0/8 is the loopback on Linux), so no proxy header is trusted or needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import loopback
from conftest import REPO_ROOT

from inference import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(env: dict[str, str], folder: Path) -> tuple[str, subprocess.Popen, Path]:
    """Start ``python app.py`` with ``env`` on a free port (without waiting for it to serve);
    returns its URL, process and log file."""
    port = free_port()
    full = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_TEMP_DIR": str(folder / "gradio"),
        "DEEPFAKE_SECOND_OPINION": "off",
        **env,
    }
    log_path = folder / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=REPO_ROOT, env=full, stdout=log, stderr=subprocess.STDOUT
        )
    return f"http://127.0.0.1:{port}/", process, log_path


def wait_until_served(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float = 300) -> None:
    """Wait until the app at ``url`` serves its page; fails if it died or did not start in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, f"the server died: {log_path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "the server did not start"
        try:
            if loopback.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.5)


def stop_apps(processes: list[subprocess.Popen], grace_s: float = 60) -> None:
    """Stop the apps as a Space stops one (SIGTERM), all at once, and wait for each; one still
    running ``grace_s`` after is killed."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def run_app(env: dict[str, str], folder: Path) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """``python app.py`` with ``env`` on a free port; yields its URL, process and log file."""
    url, process, log_path = start_app(env, folder)
    try:
        wait_until_served(url, process, log_path, timeout_s=180)
        yield url, process, log_path
    finally:
        stop_apps([process])


@contextlib.contextmanager
def launched(settings: Settings) -> Iterator[tuple[str, Any]]:
    """The app built for ``settings`` on a free loopback port, without :func:`app.warm_up` (for
    tests of what happens before an analysis, or that do not mind their first analysis loading
    the weights); yields its URL and its ``gr.Blocks``."""
    import app

    demo = app.build_demo(settings)
    options = app.launch_options(demo, settings)
    demo.launch(
        prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", server_port=free_port(), **options
    )
    try:
        yield demo.local_url, demo
    finally:
        demo.close()


def visitor(number: int) -> httpx.Client:
    """An HTTP client standing on 127.0.0.``number``."""
    return loopback.client(f"127.0.0.{number}", timeout=60)


def fn_index(url: str, api_name: str | None = None, private_inputs: int | None = None) -> int:
    """The id of the event named ``api_name``, or of the private queued event with that many inputs."""
    config = loopback.get(f"{url}config", timeout=10).json()
    for dep in config["dependencies"]:
        if api_name is not None and dep.get("api_name") == api_name:
            return dep["id"]
        if (
            private_inputs is not None
            and dep.get("api_visibility") == "private"
            and dep.get("queue") is not False
            and len(dep["inputs"]) == private_inputs
            and dep.get("types", {}).get("generator") is not True
            and dep.get("trigger_mode") == "always_last"
        ):
            return dep["id"]
    raise AssertionError(f"no event {api_name or private_inputs} in {url}config")


def upload(client: httpx.Client, url: str, clip: Path) -> dict[str, Any]:
    """Upload a copy of ``clip`` made unique (trailing bytes); returns its FileData."""
    data = clip.read_bytes() + secrets.token_bytes(32)
    stored = client.post(f"{url}gradio_api/upload", files={"files": ("clip.mp4", data)})
    stored.raise_for_status()
    return {"path": stored.json()[0], "orig_name": "clip.mp4", "meta": {"_type": "gradio.FileData"}}


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads that start together (a barrier); returns results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def one(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[i] = calls[i]()
        except Exception as exc:  # recorded, asserted on by the caller
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def join(
    client: httpx.Client, url: str, fn: int, data: list[Any], session: str | None = None
) -> httpx.Response:
    """``POST /gradio_api/queue/join`` for event ``fn`` with ``data``, under ``session``."""
    body = {"data": data, "fn_index": fn, "session_hash": session or secrets.token_hex(8), "event_data": None}
    return client.post(f"{url}gradio_api/queue/join", json=body)


def cancel(client: httpx.Client, url: str, fn: int, session: str, event: str) -> None:
    client.post(f"{url}gradio_api/cancel", json={"session_hash": session, "fn_index": fn, "event_id": event})


def completed(client: httpx.Client, url: str, session: str, timeout: float = 120) -> dict[str, Any]:
    """The ``process_completed`` message of ``session``'s event, read from ``/queue/data``."""
    with client.stream(
        "GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=timeout
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event never completed")


def page_step(url: str, inputs: int, trigger: str | None = None, outputs: int = 12) -> int:
    """The id of a quick (unqueued) step of the page's file tab: ``inputs`` inputs, ``outputs``
    outputs (the tab's 12, and for the step before an analysis its Stop's token), and
    ``trigger`` among its events when given."""
    config = loopback.get(f"{url}config", timeout=10).json()
    for dep in config["dependencies"]:
        triggered = trigger is None or any(target[1] == trigger for target in dep["targets"])
        shape = (len(dep["inputs"]), len(dep["outputs"]))
        if triggered and dep.get("queue") is False and shape == (inputs, outputs):
            return dep["id"]
    raise AssertionError(f"no page step with {inputs} inputs on {trigger or 'any event'}")


def page_busy(url: str) -> int:
    """The id of the page's quick step before its analysis (clears the outputs, stops its old
    run); its last output is the token the page's Stop sends for the analysis."""
    return page_step(url, 2, outputs=13)


def page_stop(url: str) -> int:
    """The id of the page's Stop (its one input: the token of the analysis the page shows)."""
    return page_step(url, 1, "click")


def page_new_video(url: str) -> int:
    """The id of the page's step when a video is uploaded (the old video's run ends, its upload goes)."""
    return page_step(url, 1, "upload")


def started(client: httpx.Client, url: str, session: str, timeout: float = 120) -> Iterator[dict[str, Any]]:
    """Wait until ``session``'s event runs; returns the session's further messages (the stream is
    left open: closing it would end the event)."""
    request = client.build_request(
        "GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=timeout
    )
    response = client.send(request, stream=True)
    messages = (json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:"))
    for message in messages:
        if message.get("msg") == "process_starts":
            return messages
    raise AssertionError("the event never started")


def ended(
    messages: Iterator[dict[str, Any]], client: httpx.Client, url: str, session: str, event: str
) -> None:
    """Read ``messages`` (from :func:`started`) until ``event`` completed; on a new stream if that
    one closed first (it closes when the session has no event left, between two joins)."""
    for message in messages:
        if message.get("msg") == "process_completed" and message.get("event_id") == event:
            return
    completed(client, url, session)
