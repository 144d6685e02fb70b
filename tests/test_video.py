"""Decoding and sampling with real OpenCV on real files in several containers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from examples.make_examples import astronaut_frames, write_opencv
from inference.errors import LimitExceededError, VideoError
from inference.video import (
    DecodeAhead,
    Frame,
    Window,
    analysis_window,
    probe,
    sample_frames,
    sample_indices,
)


def numbered_frames(count: int, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    """Frames of distinct brightness (at most 52), so that each frame can be recognised."""
    width, height = size
    return [np.full((height, width, 3), min(255, 5 * i), np.uint8) for i in range(count)]


def frame_numbers(path: Path, images: list[np.ndarray]) -> list[int]:
    """Which frame of ``path`` each image is, by comparing with a plain sequential decode."""
    capture = cv2.VideoCapture(str(path))
    reference = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        reference.append(float(image.mean()))
    capture.release()
    return [int(np.argmin([abs(float(i.mean()) - r) for r in reference])) for i in images]


def test_sample_indices_spread_over_whole_clip():
    assert sample_indices(0, 300, 4) == [0, 100, 199, 299]
    assert sample_indices(10, 20, 20) == list(range(10, 20))
    assert len(sample_indices(0, 1000, 100)) == 100


@pytest.mark.parametrize(
    ("suffix", "fourcc"), [(".mp4", "mp4v"), (".avi", "MJPG"), (".mkv", "mp4v"), (".mov", "mp4v")]
)
def test_containers_decode_the_sampled_frames(tmp_path: Path, suffix: str, fourcc: str):
    path = tmp_path / f"clip{suffix}"
    write_opencv(numbered_frames(50), path, fourcc=fourcc, fps=25)
    info = probe(path)
    assert (info.width, info.height, info.frame_count) == (96, 64, 50)
    assert info.duration_s == pytest.approx(2.0)
    frames = list(sample_frames(path, Window(0, 50, False), 5))
    assert [f.index for f in frames] == [0, 12, 24, 37, 49]
    assert frame_numbers(path, [f.image for f in frames]) == [0, 12, 24, 37, 49]
    assert [f.timestamp_s for f in frames] == pytest.approx([0, 0.48, 0.96, 1.48, 1.96], abs=0.05)


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg command not installed")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


@needs_ffmpeg
def test_webm(tmp_path: Path):
    source = tmp_path / "clip.avi"
    write_opencv(numbered_frames(30), source, fourcc="MJPG", fps=10)
    ffmpeg("-i", str(source), "-c:v", "libvpx", "-b:v", "1M", str(tmp_path / "clip.webm"))
    webm = tmp_path / "clip.webm"
    frames = list(sample_frames(webm, Window(0, probe(webm).frame_count, False), 3))
    assert [f.index for f in frames] == [0, 14, 29]
    assert frame_numbers(webm, [f.image for f in frames]) == [0, 14, 29]


@needs_ffmpeg
def test_rotation_metadata_is_applied(tmp_path: Path):
    source = tmp_path / "clip.avi"
    write_opencv(astronaut_frames(5, size=128), source, fourcc="MJPG")
    wide = tmp_path / "wide.mp4"
    ffmpeg("-i", str(source), "-vf", "scale=160:96", "-c:v", "libx264", str(wide))
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-i", str(wide), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    frame = next(sample_frames(rotated, Window(0, 5, False), 1))
    assert frame.image.shape[:2] == (160, 96)


@needs_ffmpeg
def test_container_that_overstates_its_length(tmp_path: Path):
    path = tmp_path / "clip.avi"
    write_opencv(numbered_frames(40), path, fourcc="MJPG", fps=10)
    frames = list(sample_frames(path, Window(0, 60, False), 6))
    indices = [f.index for f in frames]
    assert len(frames) == 6
    assert len(set(indices)) == 6
    assert max(indices) == 39
    assert frame_numbers(path, [f.image for f in frames]) == indices


@needs_ffmpeg
def test_variable_frame_rate_timestamps(tmp_path: Path):
    source = tmp_path / "clip.avi"
    write_opencv(numbered_frames(30), source, fourcc="MJPG", fps=10)
    vfr = tmp_path / "vfr.mkv"
    # Timestamps grow quadratically: no fixed frame rate describes this file.
    ffmpeg("-i", str(source), "-vf", "setpts='N*N/20/TB'", "-fps_mode", "vfr", "-c:v", "mpeg4", str(vfr))
    info = probe(vfr)
    assert info.frame_count > 30  # the container overstates: a second pass is needed
    frames = sorted(sample_frames(vfr, Window(0, info.frame_count, False), 10), key=lambda f: f.index)
    assert len(frames) == 10
    assert frames[-1].index == 29
    for frame in frames:
        assert frame.timestamp_s == pytest.approx(frame.index**2 / 20, abs=0.11)


def test_window_and_duration_limit(tmp_path: Path):
    path = tmp_path / "clip.avi"
    write_opencv(numbered_frames(100), path, fourcc="MJPG", fps=10)
    info = probe(path)
    assert analysis_window(info, 2.0, 5.0, 600) == Window(20, 50, False)
    assert analysis_window(info, None, None, 3.0) == Window(0, 30, True)
    with pytest.raises(VideoError, match="holds no frame"):
        analysis_window(info, 20.0, None, 600)


def test_not_a_video(tmp_path: Path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(VideoError, match="notes.mp4"):
        probe(text)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoError, match="empty"):
        probe(empty)


def test_pixel_limit_names_the_limit(tmp_path: Path):
    path = tmp_path / "clip.avi"
    write_opencv(numbered_frames(3), path, fourcc="MJPG")
    with pytest.raises(LimitExceededError, match=r"96x64 .*DEEPFAKE_MAX_PIXELS"):
        probe(path, max_pixels=1000)


def _frames_then_failure(closed: list[bool]):
    try:
        for i in range(3):
            yield Frame(index=i, timestamp_s=i / 10, image=np.zeros((2, 2, 3), np.uint8))
        raise VideoError("broken in the middle")
    finally:
        closed.append(True)


def test_decode_ahead_reraises_in_the_caller():
    closed: list[bool] = []
    frames = iter(DecodeAhead(_frames_then_failure(closed)))
    assert [next(frames).index for _ in range(3)] == [0, 1, 2]
    with pytest.raises(VideoError, match="broken in the middle"):
        next(frames)
    assert closed == [True]


def test_decode_ahead_stops_when_the_caller_stops():
    closed: list[bool] = []
    ahead = DecodeAhead(_frames_then_failure(closed), depth=1)
    for frame in ahead:
        assert frame.index == 0
        break
    assert closed == [True]  # the generator was closed, its capture released


def av1_and_h264(tmp_path: Path, frames: list[np.ndarray], rotate: int | None = None) -> tuple[Path, Path]:
    """The same frames encoded as AV1 (which OpenCV's wheel cannot decode) and as H.264."""
    source = tmp_path / "clip.avi"
    write_opencv(frames, source, fourcc="MJPG", fps=10)
    encoded = []
    for name, codec in (
        ("av1.mp4", ["libaom-av1", "-cpu-used", "8", "-crf", "20"]),
        ("h264.mp4", ["libx264"]),
    ):
        plain = tmp_path / f"plain-{name}"
        ffmpeg("-i", str(source), "-c:v", *codec, "-pix_fmt", "yuv420p", str(plain))
        if rotate is None:
            encoded.append(plain)
            continue
        rotated = tmp_path / name
        ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", str(rotated))
        encoded.append(rotated)
    return encoded[0], encoded[1]


@needs_ffmpeg
def test_av1_falls_back_to_pyav_with_the_same_sampling(tmp_path: Path):
    av1, h264 = av1_and_h264(tmp_path, numbered_frames(30, size=(128, 96)))
    assert not cv2.VideoCapture(str(av1)).read()[0]  # the reason for the fallback
    info, reference = probe(av1), probe(h264)
    assert (info.decoder, info.codec) == ("pyav", "libdav1d")
    assert reference.decoder == "opencv"
    assert (info.width, info.height, info.frame_count, info.fps) == (128, 96, 30, 10)
    window = Window(0, 30, False)
    got = list(sample_frames(av1, window, 5, info.decoder))
    expected = list(sample_frames(h264, window, 5))
    assert [f.index for f in got] == [f.index for f in expected] == [0, 7, 14, 22, 29]
    assert [f.timestamp_s for f in got] == pytest.approx([f.timestamp_s for f in expected], abs=1e-3)
    for a, b in zip(got, expected, strict=True):
        assert a.image.shape == b.image.shape == (96, 128, 3)
        assert abs(float(a.image.mean()) - float(b.image.mean())) < 2


@needs_ffmpeg
def test_pyav_applies_rotation_like_opencv(tmp_path: Path):
    # Bright on the left, dark on the right: the orientation shows in the halves' brightness.
    frame = np.zeros((96, 128, 3), np.uint8)
    frame[:, :64] = 200
    av1, h264 = av1_and_h264(tmp_path, [frame] * 5, rotate=90)
    av1_info, h264_info = probe(av1), probe(h264)
    assert (av1_info.width, av1_info.height) == (h264_info.width, h264_info.height) == (96, 128)
    got = next(sample_frames(av1, Window(0, 5, False), 1, av1_info.decoder)).image
    expected = next(sample_frames(h264, Window(0, 5, False), 1)).image
    assert got.shape == expected.shape == (128, 96, 3)
    top, bottom = slice(0, 64), slice(64, 128)
    assert abs(float(expected[top].mean()) - float(expected[bottom].mean())) > 100  # one half is bright
    for half in (top, bottom):
        assert abs(float(got[half].mean()) - float(expected[half].mean())) < 20


@needs_ffmpeg
def test_undecodable_codec_is_named(tmp_path: Path):
    from hostile_corpus import _unknown_codec

    path = tmp_path / "mystery.avi"
    _unknown_codec(path)
    with pytest.raises(VideoError, match=r"mystery.avi.*codec \(FourCC QZQZ\).*re-encode"):
        probe(path)
