"""A video that changes size inside the stream (issue 29, item 2): every decoded frame is checked
against the size the limits and the decoding plan were set from, with both decoders, and FFmpeg
refuses the larger frames before decoding them. Through the engine, the CLI and /predict."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from hostile_corpus import ENTRIES, Entry
from loopback import api

from inference import Detector, Settings
from inference.errors import FrameSizeError, LimitExceededError
from inference.video.backend import OPENCV, PYAV
from inference.video.plan import plan_sampling
from inference.video.probe import probe
from inference.video.read import sample_frames
from inference.video.window import analysis_window

NAMES = ("size_change_h264.mp4", "size_change_shrinks.mp4", "size_change_av1.mkv")
CHANGES = "changes size inside the stream"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("size-change")
    entries: dict[str, Entry] = {entry.name: entry for entry in ENTRIES if entry.name in NAMES}
    for name, entry in entries.items():
        entry.make(folder / name)
    return {name: folder / name for name in NAMES}


@pytest.mark.parametrize("decoder", [OPENCV, PYAV])
@pytest.mark.parametrize("name", ["size_change_h264.mp4", "size_change_shrinks.mp4"])
def test_both_decoders_stop_at_the_size_change(clips: dict[str, Path], name: str, decoder: str):
    path = clips[name]
    info = replace(probe(path), decoder=decoder)
    assert info.frame_count == 20  # one second of each size, 10 frames a second
    window = analysis_window(info, None, None, 600)
    plan = plan_sampling(path, info, window, 10)
    frames = []
    with pytest.raises(FrameSizeError, match=CHANGES):
        frames.extend(sample_frames(path, window, 10, decoder, plan))
    # Only the first second's frames came out, each of the first frame's size.
    assert all(frame.index < 10 for frame in frames)
    assert {frame.image.shape[:2] for frame in frames} <= {(info.height, info.width)}


def test_ffmpeg_refuses_the_larger_frames_before_decoding_them(clips: dict[str, Path]):
    path = clips["size_change_h264.mp4"]
    info = replace(probe(path), decoder=PYAV)
    window = analysis_window(info, None, None, 600)
    plan = plan_sampling(path, info, window, 20)
    with pytest.raises(FrameSizeError, match="from 64x64 to 1280x720"):
        list(sample_frames(path, window, 20, PYAV, plan))
    assert plan.decoded <= 10  # not one 1280x720 frame came out of the decoder


def test_the_engine_refuses_every_size_change(detector: Detector, clips: dict[str, Path]):
    for path in clips.values():
        with pytest.raises(FrameSizeError, match=CHANGES):
            detector.analyze(path, frames=10, profile="app")
    av1 = probe(clips["size_change_av1.mkv"])
    assert (av1.decoder, av1.width, av1.height) == (PYAV, 64, 64)


def test_a_change_past_the_pixel_limit_is_a_limit_error(detector: Detector, clips: dict[str, Path]):
    # The first frames (64x64) pass DEEPFAKE_MAX_PIXELS; the later ones (1280x720) do not.
    strict = Detector(detector.classifier, Settings.from_env({"DEEPFAKE_MAX_PIXELS": "100000"}))
    with pytest.raises(LimitExceededError, match="DEEPFAKE_MAX_PIXELS"):
        strict.analyze(clips["size_change_h264.mp4"], frames=10, profile="app")


def test_the_cli_reports_the_size_change(hub_cache: Path, clips: dict[str, Path], tmp_path: Path):
    output = tmp_path / "rows.jsonl"
    paths = [str(clips[name]) for name in NAMES]
    command = [sys.executable, "-m", "inference", *paths, "--frames", "5", "--profile", "app"]
    done = subprocess.run(
        [*command, "--output", str(output)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == len(NAMES)
    assert all(row["verdict"] is None and CHANGES in row["error"] for row in rows), rows


def test_predict_refuses_the_size_change(app_url: str, clips: dict[str, Path]):
    client = api(app_url)
    with pytest.raises(AppError, match=CHANGES):
        client.predict(handle_file(str(clips["size_change_h264.mp4"])), 5, api_name="/predict")
