"""Links end to end: the engine, the API and the command line judge the video behind a link.

The video (a short example: these tests are about the plumbing) is served by a web server on
the loopback, which only DEEPFAKE_ALLOW_PRIVATE_URLS=1 (test-only) lets a link reach; the safety
of the fetching itself is tested in tests/test_links.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, files_on_loopback
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from loopback import api

from inference import Detector, Settings
from inference.links import AddressNotAllowedError
from inference.tools import cli

CLIP = "manipulated_astronaut.mp4"
PRIVATE = {"DEEPFAKE_ALLOW_PRIVATE_URLS": "1", "DEEPFAKE_SECOND_OPINION": "off"}


@pytest.fixture(scope="module")
def media_url() -> Iterator[str]:
    yield from files_on_loopback(EXAMPLES)


def test_a_direct_link_gives_the_files_verdict_and_scores(hub_cache, media_url: str):
    detector = Detector.from_settings(Settings.from_env(PRIVATE))
    clip = EXAMPLES / CLIP
    from_file = detector.analyze(clip, frames=6)
    from_link = detector.analyze_link(f"{media_url}/{CLIP}", frames=6)
    assert from_link.verdict == from_file.verdict
    assert [f.fake_probability for f in from_link.frames] == [f.fake_probability for f in from_file.frames]
    source = from_link.to_dict()["source"]
    assert source["link"] == f"{media_url}/{CLIP}" and source["extractor"] == "direct"
    assert source["size_bytes"] == clip.stat().st_size
    assert source["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert from_file.to_dict()["source"] is None


def test_without_the_test_setting_the_loopback_is_refused(hub_cache, media_url: str):
    detector = Detector.from_settings(Settings.from_env({"DEEPFAKE_SECOND_OPINION": "off"}))
    with pytest.raises(AddressNotAllowedError):
        detector.analyze_link(f"{media_url}/{CLIP}", frames=2)


def test_api_takes_a_url_and_refuses_a_url_beside_a_file(
    private_links_url: str, media_url: str, genuine_clip: Path
):
    client = api(private_links_url)
    report, _ = client.predict(None, 4, None, False, None, None, f"{media_url}/{CLIP}", api_name="/report")
    assert report["source"]["extractor"] == "direct" and report["verdict"]
    label = client.predict(None, 4, None, f"{media_url}/{CLIP}", api_name="/predict")
    assert label["label"] == report["verdict"]
    with pytest.raises(AppError, match="not both"):
        client.predict(handle_file(str(genuine_clip)), 4, None, f"{media_url}/{CLIP}", api_name="/predict")


def test_cli_takes_links_beside_files(hub_cache, media_url: str, monkeypatch, capsys, tmp_path):
    for name, value in PRIVATE.items():
        monkeypatch.setenv(name, value)
    rows = tmp_path / "rows.jsonl"
    link = f"{media_url}/{CLIP}"
    assert cli.main([link, "--frames", "3", "--json", "--output", str(rows)]) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["source"]["link"] == link
    assert json.loads(rows.read_text().splitlines()[0])["path"] == link
