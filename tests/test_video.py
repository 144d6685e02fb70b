"""Decoding and sampling with real OpenCV on real files in several containers."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from examples.make_examples import astronaut_frames, write_opencv
from inference.errors import DeepfakeDetectorError, LimitExceededError, VideoError
from inference.video.plan import DecodeBudgetError, DecodePlan, plan_sampling
from inference.video.probe import probe
from inference.video.read import DecodeAhead, Frame, sample_frames
from inference.video.window import InvalidWindowError, Window, analysis_window, sample_indices


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


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-5.0, None, "start must be a finite number of seconds, 0 or more; got -5.0"),
        (None, -1.0, "end must be a finite number of seconds"),
        (math.nan, None, "start must be a finite number of seconds, 0 or more; got nan"),
        (2.0, math.inf, "end must be a finite number of seconds, 0 or more; got inf"),
        (-math.inf, 3.0, "start must be a finite number"),
        (5.0, 3.0, r"end \(3.0 s\) must come after its start \(5.0 s\)"),
        (None, 0.0, r"end \(0.0 s\) must come after its start \(0.0 s\)"),
    ],
)
def test_window_rejects_negative_non_finite_and_reversed_bounds(
    tmp_path: Path, start: float | None, end: float | None, message: str
):
    path = tmp_path / "clip.avi"
    write_opencv(numbered_frames(100), path, fourcc="MJPG", fps=10)
    with pytest.raises(InvalidWindowError, match=message) as raised:
        analysis_window(probe(path), start, end, 600)
    assert isinstance(raised.value, DeepfakeDetectorError)  # the app and the CLI report it


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
        ("av1.mp4", ["libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-crf", "20"]),
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


# Bounded decoding (issue 19): long clips at low resolution stand in for long 8K clips, with the
# budget lowered to match, so that the same plans come out in a fraction of a second.
CODED_SIZE = (160, 96)
CODED_PIXELS = CODED_SIZE[0] * CODED_SIZE[1]


def coded_frames(count: int) -> Iterator[np.ndarray]:
    """Frames whose number is written in ten black or white columns (bit b is column b)."""
    width, height = CODED_SIZE
    for number in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        for bit in range(10):
            if number >> bit & 1:
                frame[:, bit * 16 : (bit + 1) * 16] = 255
        yield frame


def frame_code(image: np.ndarray) -> int:
    """The number written by :func:`coded_frames` (the middle of each column, past the blur)."""
    return sum(1 << bit for bit in range(10) if image[:, bit * 16 + 4 : bit * 16 + 12].mean() > 128)


def long_gop_clip(path: Path, count: int, gop: int) -> Path:
    """H.264 at 25 fps with B-frames and a keyframe exactly every ``gop`` frames."""
    width, height = CODED_SIZE
    command = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24"]
    command += ["-s", f"{width}x{height}", "-r", "25", "-i", "-", "-c:v", "libx264", "-bf", "2"]
    command += ["-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0", "-crf", "12"]
    data = b"".join(frame.tobytes() for frame in coded_frames(count))
    subprocess.run([*command, "-pix_fmt", "yuv420p", str(path)], input=data, check=True)
    return path


def keyframe_indices(path: Path) -> list[int]:
    """Display-order indices of the keyframes, as ffprobe reports them."""
    command = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame"]
    done = subprocess.run([*command, "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return [i for i, flag in enumerate(done.stdout.split()) if flag.strip(",") == "1"]


@pytest.fixture(scope="module")
def gop100(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg command not installed")
    return long_gop_clip(tmp_path_factory.mktemp("bounded") / "gop100.mp4", 1000, 100)


def decode_with(path: Path, count: int, budget_frames: int) -> tuple[DecodePlan, list[Frame]]:
    info = probe(path)
    window = Window(0, info.frame_count, False)
    plan = plan_sampling(path, info, window, count, budget_frames * CODED_PIXELS)
    return plan, list(sample_frames(path, window, count, info.decoder, plan))


def test_long_clip_over_the_budget_is_read_at_keyframes(gop100: Path):
    plan, frames = decode_with(gop100, 8, budget_frames=40)
    assert plan.mode == "keyframes"
    assert plan.decodes <= 40
    assert plan.decoded <= 40  # counted while decoding; reading every frame would be 1000
    keyframes = keyframe_indices(gop100)
    assert keyframes == list(range(0, 1000, 100))
    targets = sample_indices(0, 1000, 8)
    indices = [f.index for f in frames]
    assert len(frames) == plan.samples == plan.requested == 8  # as many as asked: keyframes allow
    assert indices == sorted(set(indices))
    for frame, target in zip(frames, targets, strict=True):
        assert frame.index in keyframes
        assert abs(frame.index - target) <= 100  # the nearest keyframe, or the one before it
        assert frame_code(frame.image) == frame.index  # the index is the frame's real one
        assert frame.timestamp_s == pytest.approx(frame.index / 25)
    assert plan.moved == 7  # every target but the first is between keyframes
    assert plan.note() == (
        "long or high-resolution clip: to bound decoding (8 frames of 160x96 decoded), 7 of the 8 "
        "frames are the keyframe nearest their evenly spread place; ask for a shorter start/end "
        "window for exact frames"
    )


def test_seeking_gives_the_exact_frames_when_that_fits_the_budget(gop100: Path):
    plan, frames = decode_with(gop100, 5, budget_frames=250)
    assert plan.mode == "seek"  # reading on through every frame would decode 1000
    assert plan.decodes <= 250
    assert plan.decoded <= 250
    assert [f.index for f in frames] == sample_indices(0, 1000, 5) == [0, 250, 500, 749, 999]
    assert [frame_code(f.image) for f in frames] == [0, 250, 500, 749, 999]
    assert [f.timestamp_s for f in frames] == pytest.approx([0, 10, 20, 29.96, 39.96])
    assert plan.note() is None


def test_clip_within_the_budget_is_read_as_before(gop100: Path):
    plan, frames = decode_with(gop100, 8, budget_frames=2000)
    assert plan.mode == "sequential"
    assert plan.decoded == 1000  # every frame up to the last sample, once
    targets = sample_indices(0, 1000, 8)
    assert [f.index for f in frames] == targets
    capture = cv2.VideoCapture(str(gop100))
    plain = [capture.read()[1] for _ in range(1000)]
    capture.release()
    for frame in frames:  # the very pixels of a plain OpenCV read
        assert np.array_equal(frame.image, plain[frame.index])
    assert plan.note() is None


def test_too_few_keyframes_leaves_frames_out_and_says_so(gop100: Path):
    plan, frames = decode_with(gop100, 20, budget_frames=30)
    assert plan.mode == "keyframes"
    assert plan.decoded <= 30
    assert [f.index for f in frames] == list(range(0, 1000, 100))  # all ten keyframes, once each
    assert [frame_code(f.image) for f in frames] == [f.index for f in frames]
    assert (plan.samples, plan.requested) == (10, 20)
    assert "10 of the 20 requested frames were left out" in (plan.note() or "")


def test_leftover_budget_buys_frames_between_keyframes(gop100: Path):
    # 20 targets and 10 keyframes: each of the ten targets left without one costs the frames
    # from the keyframe before it; a budget of 90 buys the cheapest of them.
    plan, frames = decode_with(gop100, 20, budget_frames=90)
    assert plan.mode == "keyframes"
    assert plan.decodes <= 90
    assert plan.decoded <= 90
    targets = set(sample_indices(0, 1000, 20))
    extra = [f.index for f in frames if f.index % 100]
    assert extra
    assert set(extra) <= targets
    assert [frame_code(f.image) for f in frames] == [f.index for f in frames]
    assert plan.samples == len(frames) == 10 + len(extra)


@needs_ffmpeg
def test_window_without_a_keyframe_out_of_reach_names_the_keyframes(tmp_path: Path):
    clip = long_gop_clip(tmp_path / "gop500.mp4", 1000, 500)
    info = probe(clip)
    with pytest.raises(DecodeBudgetError, match=r"no keyframe.*\(20\.00 s\)") as raised:
        plan_sampling(clip, info, Window(600, 700, False), 5, 20 * CODED_PIXELS)
    assert isinstance(raised.value, LimitExceededError)  # reported like the other limits
    # Starting the window at that keyframe reaches exact frames within the same budget.
    plan = plan_sampling(clip, info, Window(500, 700, False), 5, 20 * CODED_PIXELS)
    frames = list(sample_frames(clip, Window(500, 700, False), 5, info.decoder, plan))
    assert frames
    assert plan.decoded <= 20
    assert [frame_code(f.image) for f in frames] == [f.index for f in frames]


def test_bounded_plan_spreads_over_the_frames_the_file_has(tmp_path: Path):
    # The container claims 60 frames, holds 40: the frame list knows, so no second pass.
    path = tmp_path / "clip.avi"
    write_opencv(numbered_frames(40), path, fourcc="MJPG", fps=10)
    info = probe(path)
    plan = plan_sampling(path, info, Window(0, 60, False), 6, 3 * 96 * 64)
    frames = list(sample_frames(path, Window(0, 60, False), 6, info.decoder, plan))
    assert plan.mode == "keyframes"  # one decode per sample is the least there is
    assert [f.index for f in frames] == sample_indices(0, 40, 6) == [0, 8, 16, 23, 31, 39]
    assert frame_numbers(path, [f.image for f in frames]) == [0, 8, 16, 23, 31, 39]
    assert plan.decoded == 6
    assert plan.note() is None  # every frame is where it should be


def test_mpeg_ts_finds_its_keyframes_without_an_index(gop100: Path, tmp_path: Path):
    # MPEG-TS has no index: seeking lands past the keyframe, so the reader steps back.
    clip = tmp_path / "gop100.ts"
    ffmpeg("-i", str(gop100), "-c", "copy", str(clip))
    for count, budget, mode in ((8, 40, "keyframes"), (5, 250, "seek")):
        plan, frames = decode_with(clip, count, budget_frames=budget)
        assert plan.mode == mode
        assert plan.decoded <= budget
        assert len(frames) == count  # the first keyframe, at the stream's start, too
        assert frames[0].index == 0
        assert [frame_code(f.image) for f in frames] == [f.index for f in frames]
        assert [f.timestamp_s for f in frames] == pytest.approx([f.index / 25 for f in frames])


def test_timestamps_out_of_display_order_are_not_trusted(gop100: Path, tmp_path: Path):
    # AVI stores B-frames with timestamps in decoding order: seeking by them would return
    # other frames than it says, so the plan refuses and says what to do.
    clip = tmp_path / "gop100.avi"
    ffmpeg("-i", str(gop100), "-c", "copy", str(clip))
    info = probe(clip)
    window = Window(0, info.frame_count, False)
    with pytest.raises(DecodeBudgetError, match=r"not in display order.*re-encode"):
        plan_sampling(clip, info, window, 5, 250 * CODED_PIXELS)
    # (This AVI also claims twice its 1000 frames: reading as always takes a second pass.)
    plan = plan_sampling(clip, info, window, 5, 5000 * CODED_PIXELS)
    assert plan.mode == "sequential"  # within the budget it reads as always
    frames = list(sample_frames(clip, window, 5, info.decoder, plan))
    assert len(frames) == 5
    assert [frame_code(f.image) for f in frames] == [f.index for f in frames]


def test_streams_only_pyav_decodes_are_bounded_too(gop100: Path, tmp_path: Path):
    # AV1 goes to PyAV, whose reader used to decode every frame up to the last sample.
    clip = tmp_path / "gop100-av1.mp4"
    ffmpeg(
        "-i",
        str(gop100),
        "-c:v",
        "libaom-av1",
        "-usage",
        "realtime",
        "-cpu-used",
        "8",
        "-crf",
        "20",
        "-g",
        "100",
        "-keyint_min",
        "100",
        str(clip),
    )
    assert probe(clip).decoder == "pyav"
    plan, frames = decode_with(clip, 8, budget_frames=40)
    assert plan.mode == "keyframes"
    assert plan.decoded <= 40
    assert [f.index for f in frames] == [0, 100, 300, 400, 600, 700, 800, 900]
    assert [frame_code(f.image) for f in frames] == [f.index for f in frames]
