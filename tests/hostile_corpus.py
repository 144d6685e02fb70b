"""Generate the corpus of hostile and broken inputs that a public Space receives.

``python -m tests.hostile_corpus OUT_DIR [--large]`` writes every input into OUT_DIR (kept out of
git). The tests call :func:`make_corpus` into a temporary folder. ``large`` adds the slow ones
(8K frames, a two-hour video).

Each entry says what a correct answer is: ``"result"`` (a valid verdict, CANNOT JUDGE included)
or ``"error"`` (a specific error of the engine), or ``"either"`` where both are correct (a
one-pixel video may or may not be decodable, but must never crash).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from examples.make_examples import astronaut_bgr, astronaut_frames, write_h264, write_opencv
from tests.c2pa_signing import flip_media_byte, sign, truncate_manifest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "genuine_astronaut.mp4"


@dataclass(frozen=True)
class Entry:
    """One hostile input: file name, how to make it, what a correct answer is, and whether slow."""

    name: str
    make: Callable[[Path], None]
    expect: str
    large: bool = False


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _png(path: Path) -> None:
    cv2.imwrite(str(path.with_suffix(".png")), astronaut_bgr())
    path.with_suffix(".png").rename(path)


def _jpeg(path: Path) -> None:
    cv2.imwrite(str(path.with_suffix(".jpg")), astronaut_bgr())
    if path.suffix != ".jpg":
        path.with_suffix(".jpg").rename(path)


def _truncated(path: Path) -> None:
    data = EXAMPLE.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _corrupted_middle(path: Path) -> None:
    data = bytearray(EXAMPLE.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20_000] = (
        np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    )
    path.write_bytes(bytes(data))


def _audio_only(path: Path) -> None:
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", str(path))


def _solid(width: int, height: int, count: int) -> list[np.ndarray]:
    return [np.full((height, width, 3), 40 * i % 255, np.uint8) for i in range(count)]


def _tiny(size: int) -> Callable[[Path], None]:
    return lambda path: write_opencv(_solid(size, size, 10), path, fourcc="MJPG")


def _one_frame(path: Path) -> None:
    write_h264(astronaut_frames(1), path)


def _eight_k(path: Path) -> None:
    frame = np.zeros((4320, 7680, 3), np.uint8)
    frame[:, 1680:6000] = cv2.resize(astronaut_bgr(), (4320, 4320))
    write_h264([frame] * 3, path, fps=1)


def _too_many_pixels(path: Path) -> None:
    write_opencv(_solid(8192, 4352, 2), path, fourcc="MJPG")


def _two_hours(path: Path) -> None:
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=32x32:r=5:d=7200",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(path),
    )


def _zero_fps(path: Path) -> None:
    # A raw MJPEG stream has no container and so no frame rate of its own.
    frames = [cv2.imencode(".jpg", f)[1].tobytes() for f in astronaut_frames(10, size=160)]
    path.write_bytes(b"".join(frames))


def _rotated(path: Path) -> None:
    # As a phone stores a portrait clip: pixels turned sideways, plus "rotate 90" metadata.
    plain = path.with_name("plain-" + path.name)
    sideways = (cv2.rotate(cv2.resize(f, (240, 320)), cv2.ROTATE_90_CLOCKWISE) for f in astronaut_frames(20))
    write_h264(sideways, plain)
    _ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path))
    plain.unlink()


def _transcode(*options: str, count: int = 20) -> Callable[[Path], None]:
    """A maker that encodes the astronaut clip with ffmpeg ``options``."""

    def make(path: Path) -> None:
        source = path.with_name(path.name + ".source.avi")
        write_opencv(astronaut_frames(count), source, fourcc="MJPG")
        _ffmpeg("-i", str(source), *options, str(path))
        source.unlink()

    return make


def _tiny_faces(path: Path) -> None:
    head = cv2.resize(astronaut_bgr()[40:200, 140:300], (48, 48))  # a face about 27 pixels wide

    def frame(i: int) -> np.ndarray:
        canvas = np.full((480, 640, 3), 90, np.uint8)
        canvas[200 + i : 248 + i, 300:348] = head
        return canvas

    write_h264((frame(i) for i in range(20)), path)


def _cartoon(path: Path) -> None:
    def frame(i: int) -> np.ndarray:
        canvas = np.full((320, 320, 3), 230, np.uint8)
        cv2.circle(canvas, (160 + i, 160), 90, (80, 200, 250), -1)
        cv2.circle(canvas, (125 + i, 135), 12, (0, 0, 0), -1)
        cv2.circle(canvas, (195 + i, 135), 12, (0, 0, 0), -1)
        cv2.ellipse(canvas, (160 + i, 200), (40, 20), 0, 0, 180, (0, 0, 120), 5)
        return canvas

    write_h264((frame(i) for i in range(20)), path)


def _many_faces(path: Path) -> None:
    def frame(big: np.ndarray, small: np.ndarray, i: int) -> np.ndarray:
        canvas = np.zeros((360, 640, 3), np.uint8)
        canvas[20:340, 300 + i : 620 + i] = big
        canvas[100:260, 40:200] = small
        return canvas

    big = cv2.resize(astronaut_bgr(), (320, 320))
    small = cv2.resize(astronaut_bgr(), (160, 160))
    write_h264((frame(big, small, i) for i in range(15)), path)


def _copy_example(path: Path) -> None:
    shutil.copyfile(EXAMPLE, path)


def _wide_strip(path: Path) -> None:
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=4000x16:rate=10:d=2", "-c:v", "libx264", str(path))


def _unknown_codec(path: Path) -> None:
    # An AVI whose stream is tagged with a FourCC that no decoder knows.
    plain = path.with_name("plain-" + path.name)
    _transcode("-c:v", "mpeg4", "-vtag", "XVID", count=10)(plain)
    path.write_bytes(plain.read_bytes().replace(b"XVID", b"QZQZ"))
    plain.unlink()


def _size_change(codec: str, small: str, large: str, *options: str) -> Callable[[Path], None]:
    """A clip whose first second has ``small`` frames and next second ``large`` ones (WxH), in one
    stream: ``probe`` sees the first size only, the decoder meets the second."""

    def make(path: Path) -> None:
        # Each part carries its stream headers in band: H.264 in MPEG-TS (joined byte for byte),
        # AV1 in IVF (joined by FFmpeg's concat demuxer; this FFmpeg puts no AV1 in MPEG-TS).
        suffix = ".ivf" if "av1" in codec else ".ts"
        parts = [path.with_name(f"{path.name}.{number}{suffix}") for number in range(2)]
        for part, size in zip(parts, (small, large), strict=True):
            source = f"testsrc=size={size}:rate=10:d=1"
            _ffmpeg("-f", "lavfi", "-i", source, "-c:v", codec, *options, "-pix_fmt", "yuv420p", str(part))
        listing = path.with_name(path.name + ".txt")
        listing.write_text("".join(f"file '{part.name}'\n" for part in parts))
        if suffix == ".ts":
            _ffmpeg("-i", "concat:" + "|".join(str(part) for part in parts), "-c", "copy", str(path))
        else:
            _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(path))
        for made in (*parts, listing):
            made.unlink()

    return make


def _signed(then: Callable[[Path, Path], None] | None = None) -> Callable[[Path], None]:
    """The example signed with Content Credentials declaring AI generation, then changed by ``then``."""

    def make(path: Path) -> None:
        if then is None:
            sign(EXAMPLE, path, "trainedAlgorithmicMedia")
            return
        signed = path.with_name("signed-" + path.name)
        sign(EXAMPLE, signed, "trainedAlgorithmicMedia")
        then(signed, path)
        signed.unlink()

    return make


# What reading each C2PA entry's Content Credentials (no trust anchors) must give, checked by
# tests/test_provenance.py: the statuses allowed and a validation code that must be among the codes.
C2PA_EXPECTED: dict[str, tuple[frozenset[str], str | None]] = {
    "c2pa_declared_ai.mp4": (frozenset({"valid"}), None),
    "c2pa_tampered.mp4": (frozenset({"invalid"}), "assertion.bmffHash.mismatch"),
    "c2pa_truncated_manifest.mp4": (frozenset({"invalid", "unreadable"}), None),
}


ENTRIES = [
    Entry("empty.mp4", _bytes(b""), "error"),
    Entry("text_renamed.mp4", _bytes(b"just some text, renamed to look like a video\n" * 200), "error"),
    Entry(
        "random_bytes.mp4",
        _bytes(np.random.default_rng(1).integers(0, 256, 300_000, np.uint8).tobytes()),
        "error",
    ),
    Entry("png_renamed.mp4", _png, "either"),
    Entry("photo.png", _png, "either"),
    Entry("photo.jpg", _jpeg, "either"),
    Entry("truncated.mp4", _truncated, "either"),
    Entry("corrupted_middle.mp4", _corrupted_middle, "either"),
    Entry("audio_only.m4a", _audio_only, "error"),
    Entry("one_by_one.avi", _tiny(1), "either"),
    Entry("two_by_two.avi", _tiny(2), "either"),
    Entry("one_frame.mp4", _one_frame, "result"),
    Entry("no_frame_rate.mjpeg", _zero_fps, "either"),
    Entry("rotated_phone.mp4", _rotated, "result"),
    Entry(
        "variable_frame_rate.mkv",
        _transcode("-vf", "setpts='N*N/40/TB'", "-fps_mode", "vfr", "-c:v", "mpeg4", count=30),
        "result",
    ),
    Entry("ten_bit.mp4", _transcode("-c:v", "libx264", "-pix_fmt", "yuv420p10le"), "either"),
    Entry("grayscale.mkv", _transcode("-c:v", "ffv1", "-pix_fmt", "gray"), "result"),
    Entry("tiny_faces.mp4", _tiny_faces, "result"),
    Entry("cartoon_face.mp4", _cartoon, "result"),
    Entry("many_faces.mp4", _many_faces, "result"),
    Entry("..%2F..%2Fetc%2Fpasswd; rm -rf $HOME 'ü'.mp4", _copy_example, "result"),
    # Codecs people upload; OpenCV's wheel cannot decode AV1, PyAV takes over.
    Entry(
        "av1.mp4",
        _transcode("-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-b:v", "300k"),
        "result",
    ),
    Entry(
        "vp9.webm",
        _transcode("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k"),
        "result",
    ),
    Entry(
        "hevc.mp4",
        _transcode(
            "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none", "-tag:v", "hvc1"
        ),
        "result",
    ),
    Entry("animated_gif_renamed.mp4", _transcode("-f", "gif"), "result"),
    Entry("ffv1.mkv", _transcode("-c:v", "ffv1"), "result"),
    Entry("wide_4000x16.mp4", _wide_strip, "result"),
    Entry("unknown_codec.avi", _unknown_codec, "error"),
    # The size changes inside the stream, past the limits set from the first frame's size.
    Entry(
        "size_change_h264.mp4", _size_change("libx264", "64x64", "1280x720", "-preset", "ultrafast"), "error"
    ),
    Entry(
        "size_change_shrinks.mp4",
        _size_change("libx264", "640x360", "64x64", "-preset", "ultrafast"),
        "error",
    ),
    Entry(
        "size_change_av1.mkv",
        _size_change("libaom-av1", "64x64", "640x360", "-usage", "realtime", "-cpu-used", "8"),
        "error",
    ),
    # Content Credentials: declared AI (untrusted here), tampered after signing, a cut manifest.
    Entry("c2pa_declared_ai.mp4", _signed(), "result"),
    Entry("c2pa_tampered.mp4", _signed(flip_media_byte), "result"),
    Entry("c2pa_truncated_manifest.mp4", _signed(truncate_manifest), "result"),
    Entry("eight_k.mp4", _eight_k, "result", large=True),
    Entry("too_many_pixels.avi", _too_many_pixels, "error", large=True),
    Entry("two_hours_tiny.mp4", _two_hours, "result", large=True),
]


def make_corpus(out_dir: Path, large: bool = False) -> list[tuple[Path, Entry]]:
    """Write the corpus into ``out_dir``; returns (file, entry) pairs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for entry in ENTRIES:
        if entry.large and not large:
            continue
        path = out_dir / entry.name
        if not path.exists():
            entry.make(path)
        made.append((path, entry))
    return made


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the hostile-input corpus.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--large", action="store_true", help="include 8K and two-hour inputs")
    options = parser.parse_args()
    for made, _ in make_corpus(options.out_dir, options.large):
        print(made)
