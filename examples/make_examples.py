"""Make the bundled example clips from scikit-image's public-domain photos.

Run ``python examples/make_examples.py`` to regenerate ``examples/*.mp4``. The clips are:

- ``genuine_astronaut.mp4``: the ``astronaut`` photo (NASA, public domain) seen by a slowly
  panning and zooming camera with sensor noise: real pixels, natural motion.
- ``manipulated_astronaut.mp4``: the same camera path, but the face is replaced every frame by
  a mirrored, re-coloured copy of itself, pasted with a soft mask that wobbles from frame to
  frame: the blending seams and flicker of a crude face swap.
- ``no_face_coffee.mp4``: the ``coffee`` photo (public domain) with the same camera motion; no
  face at all.

The frame functions are also used by the tests to make videos in other containers.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from skimage import data

HERE = Path(__file__).resolve().parent
SIZE = 320
FPS = 15
SECONDS = 4
# Tight face box of the astronaut photo (top, right, bottom, left), found once with
# face_recognition's HOG detector on the full 512x512 image.
ASTRONAUT_FACE = (76, 265, 166, 175)


def _camera(photo_at: Callable[[int], np.ndarray], count: int, size: int, seed: int) -> Iterator[np.ndarray]:
    """Views of the photo ``photo_at(i)`` (BGR) from a camera that pans, zooms and has noise."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        photo_bgr = photo_at(i)
        height, width = photo_bgr.shape[:2]
        t = i / max(1, count - 1)
        zoom = 1.0 + 0.15 * math.sin(math.pi * t)
        side = min(height, width) / (1.25 * zoom)
        cx = width / 2 + 0.08 * width * math.sin(2 * math.pi * t)
        cy = height / 2 + 0.05 * height * math.cos(2 * math.pi * t) - 0.1 * height
        cx = min(max(cx, side / 2), width - side / 2)
        cy = min(max(cy, side / 2), height - side / 2)
        matrix = cv2.getRotationMatrix2D((cx, cy), 2.0 * math.sin(3 * t), size / side)
        matrix[0, 2] += size / 2 - cx
        matrix[1, 2] += size / 2 - cy
        view = cv2.warpAffine(photo_bgr, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
        noise = rng.normal(0, 3.0, view.shape)
        yield np.clip(view + noise, 0, 255).astype(np.uint8)


def astronaut_bgr(manipulated: bool = False, seed: int = 0) -> np.ndarray:
    """The astronaut photo, shape (512, 512, 3), uint8, BGR; optionally with a swapped face."""
    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    if not manipulated:
        return photo
    rng = np.random.default_rng(seed)
    top, right, bottom, left = ASTRONAUT_FACE
    face = photo[top:bottom, left:right]
    swapped = cv2.flip(face, 1).astype(np.float32)
    swapped *= np.array([1.0, 0.85, 1.25]) * rng.uniform(0.95, 1.05)
    mask = np.zeros(face.shape[:2], np.float32)
    centre = (face.shape[1] // 2 + int(rng.integers(-4, 5)), face.shape[0] // 2 + int(rng.integers(-4, 5)))
    axes = (face.shape[1] // 2 - 6, face.shape[0] // 2 - 4)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 3)[..., None]
    out = photo.copy()
    out[top:bottom, left:right] = np.clip(mask * swapped + (1 - mask) * face, 0, 255).astype(np.uint8)
    return out


def astronaut_frames(count: int, size: int = SIZE, manipulated: bool = False) -> Iterator[np.ndarray]:
    """``count`` BGR frames (size x size) of the astronaut clip, genuine or manipulated."""
    if manipulated:
        # A new paste every frame: the seams move, as in a frame-by-frame face swap.
        return _camera(lambda i: astronaut_bgr(True, seed=i), count, size, seed=1)
    photo = astronaut_bgr()
    return _camera(lambda i: photo, count, size, seed=1)


def no_face_frames(count: int, size: int = SIZE) -> Iterator[np.ndarray]:
    """``count`` BGR frames (size x size) of the coffee photo: no face anywhere."""
    photo = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)
    return _camera(lambda i: photo, count, size, seed=2)


def write_h264(frames: Iterable[np.ndarray], path: Path, fps: int = FPS) -> None:
    """Encode BGR frames as browser-playable H.264 MP4 with the ffmpeg command."""
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    command = [
        shutil.which("ffmpeg") or "ffmpeg", "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        "-c:v", "libx264", "-preset", "slow", "-crf", "26", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    with subprocess.Popen(command, stdin=subprocess.PIPE) as encoder:
        assert encoder.stdin is not None
        encoder.stdin.write(first.tobytes())
        for frame in frames:
            encoder.stdin.write(frame.tobytes())
        encoder.stdin.close()
    if encoder.returncode:
        raise RuntimeError(f"ffmpeg failed with exit code {encoder.returncode} for {path}")


def write_opencv(frames: Iterable[np.ndarray], path: Path, fourcc: str = "mp4v", fps: float = FPS) -> None:
    """Encode BGR frames with OpenCV's writer (any container its FFmpeg supports)."""
    writer = None
    for frame in frames:
        if writer is None:
            height, width = frame.shape[:2]
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
            if not writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {path.name} with codec {fourcc}")
        writer.write(frame)
    if writer is not None:
        writer.release()


EXAMPLES = {
    "genuine_astronaut.mp4": astronaut_frames,
    "manipulated_astronaut.mp4": lambda n: astronaut_frames(n, manipulated=True),
    "no_face_coffee.mp4": no_face_frames,
}


def main(out_dir: Path = HERE) -> None:
    """Write every example clip into ``out_dir``."""
    for name, frames in EXAMPLES.items():
        target = out_dir / name
        write_h264(frames(FPS * SECONDS), target)
        print(f"wrote {target} ({target.stat().st_size / 1e3:.0f} kB)", file=sys.stderr)


if __name__ == "__main__":
    main()
