"""The app's folders in the temp folder go when it stops (issue 35.13, issue 30.8): the JSON
reports' folder of each process and its uploads' folder, at exit and on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import loopback
import pytest
from conftest import REPO_ROOT
from loopback import api
from test_upload_limits import free_port, upload


def test_the_report_folder_goes_when_the_process_exits(tmp_path: Path):
    """Each process once left a deepfake-detector-reports-* folder in the temp folder. A forked
    child (cheaper than a new interpreter) writes a report and runs its exit handlers."""
    import atexit
    import tempfile

    from ui import render

    child = os.fork()
    if child == 0:  # the child: only its own exit handlers, its own temp folder
        code = 1
        try:
            atexit._clear()
            render.report_dir.cache_clear()
            tempfile.tempdir = str(tmp_path)
            render.write_json("clip.mp4", "report", {"verdict": "REAL"})
            code = 0 if list(tmp_path.glob("deepfake-detector-reports-*")) else 2
            atexit._run_exitfuncs()
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert list(tmp_path.glob("deepfake-detector-reports-*")) == []


@pytest.mark.slow
def test_the_apps_folders_go_when_it_is_stopped(hub_cache: Path, tmp_path: Path, genuine_clip: Path):
    """`python app.py` stopped as a Space stops it (SIGTERM) removes its reports and uploads."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    number = free_port()
    env = {
        **os.environ,
        "TMPDIR": str(temp),
        "GRADIO_TEMP_DIR": str(temp / "gradio"),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(number),
        "DEEPFAKE_SECOND_OPINION": "off",
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{number}/"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if loopback.get(url, timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        stored = upload(url, genuine_clip.read_bytes()).json()[0]
        own = f"{url}gradio_api/file={quote(stored)}"
        api(url).predict(
            {"path": own, "url": own, "meta": {"_type": "gradio.FileData"}}, 1, api_name="/predict"
        )
        upload(url, b"left for the exit")
        assert list(temp.glob("deepfake-detector-reports-*"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert list(temp.glob("deepfake-detector-reports-*")) == []
    assert list((temp / "gradio").glob("uploads-*")) == []
