"""Probing a video: its size, frame rate, frame count and codec, and which backend decodes it.

OpenCV (:mod:`inference.video.opencv`) is tried first; a stream it cannot open or decode (AV1,
for one) goes to PyAV (:mod:`inference.video.pyav`), which reads it with the same sampling and
timestamps.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from inference.errors import VideoError
from inference.video import opencv as video_opencv
from inference.video import pyav as video_pyav
from inference.video.backend import OPENCV, PYAV, StreamInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (sizes are after rotation metadata is applied).

    Attributes:
        decoder: Which library decodes it: "opencv", or "pyav" for streams OpenCV cannot.
        codec: The codec as FFmpeg names it, when known.
    """

    width: int
    height: int
    fps: float | None
    frame_count: int
    duration_s: float | None
    decoder: str = OPENCV
    codec: str | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        """Return the info as plain JSON types."""
        return {
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "frame_count": self.frame_count,
            "duration_s": self.duration_s,
            "decoder": self.decoder,
            "codec": self.codec,
        }


def probe(path: str | Path, max_pixels: int | None = None) -> VideoInfo:
    """Read the size, frame rate and frame count of a video, and pick its decoder.

    OpenCV is tried first; when it cannot open the file or decode its first frame, PyAV is.
    A missing or zero frame count is replaced by counting the frames.

    Raises:
        VideoError: If neither decoder can decode the file; names the codec when known.
        LimitExceededError: If a frame has more than ``max_pixels`` pixels.
    """
    stream = video_opencv.probe_stream(path, max_pixels)
    if stream is None:
        return _probe_pyav(path, max_pixels)
    count = stream.frame_count or count_frames(path)
    if count == 0:
        raise VideoError(f"{Path(path).name} has no decodable video frames")
    return _video_info(stream, count, OPENCV)


def _probe_pyav(path: str | Path, max_pixels: int | None) -> VideoInfo:
    try:
        stream = video_pyav.probe_stream(path, max_pixels)
    except video_pyav.UndecodableError as exc:
        codec = exc.codec or _ffprobe_codec(path)
        hint = (
            f" Its video codec ({codec}) cannot be decoded here; re-encode it as H.264, for "
            "example: ffmpeg -i IN -c:v libx264 OUT.mp4"
            if codec
            else ""
        )
        raise VideoError(f"{exc}.{hint}") from exc
    logger.info("%s: %s stream decoded with PyAV", Path(path).name, stream.codec)
    return _video_info(stream, stream.frame_count, PYAV)


def _video_info(stream: StreamInfo, frame_count: int, decoder: str) -> VideoInfo:
    """The video's info from what ``decoder`` read of its stream, with ``frame_count`` frames."""
    duration = frame_count / stream.fps if stream.fps else None
    return VideoInfo(
        width=stream.width,
        height=stream.height,
        fps=stream.fps,
        frame_count=frame_count,
        duration_s=duration,
        decoder=decoder,
        codec=stream.codec,
    )


def _ffprobe_codec(path: str | Path) -> str | None:
    """The codec tag of a stream that no decoder here knows (only ffprobe reports it), or None."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    command = [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_tag_string"]
    try:
        done = subprocess.run(
            [*command, "-of", "default=nw=1:nk=1", str(path)], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    tag = done.stdout.strip()
    return f"FourCC {tag}" if done.returncode == 0 and tag and tag.isprintable() else None


def count_frames(path: str | Path) -> int:
    """Count the frames by demuxing the whole file (used when the container does not say).

    Packets are counted, none decoded: decoding every frame of a long 8K clip would take
    minutes.

    Raises:
        VideoError: If the file cannot be demuxed.
    """
    try:
        return video_pyav.count_frames(path)
    except video_pyav.UndecodableError as exc:
        raise VideoError(str(exc)) from exc
