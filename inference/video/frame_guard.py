"""Every decoded frame checked against the size the decoding plan was made for.

:func:`~inference.video.probe.probe` reads the size of the first frame, and both
DEEPFAKE_MAX_PIXELS and the decoding budget are computed from it. H.264, HEVC, VP9 and AV1 may
change size inside the stream (a 64x64 first frame, then 8K ones), so the size is checked again
for every frame the decoder returns, and FFmpeg is told the plan's pixel count (its
``max_pixels`` option) so that it refuses a larger frame before allocating it.

OpenCV neither takes decoder options nor says the size of what it decoded (it silently scales
every frame to the first one's size), so before OpenCV reads a stretch of the stream,
:func:`scan_sizes` reads the frame headers of that stretch with PyAV: only keyframes are
decoded (H.264 and HEVC change size only at one), and a larger one is refused by FFmpeg itself.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from pathlib import Path

import av

from inference.errors import FrameSizeError

logger = logging.getLogger(__name__)

# FFmpeg pads a frame buffer's rows to a multiple of up to 64 pixels (STRIDE_ALIGN, AVX-512)
# and checks max_pixels on the padded size.
ALIGN = 64


@dataclass(frozen=True)
class FrameGuard:
    """The frame size a decoding plan was made for.

    Attributes:
        name: The file's name, for messages.
        width: Width of the first frame, pixels, after rotation metadata.
        height: Its height, pixels.
    """

    name: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        """Pixels per frame the plan was made for."""
        return self.width * self.height

    def fits(self, width: int, height: int) -> bool:
        """Whether a frame of ``width`` x ``height`` (before or after rotation) is the planned size."""
        return sorted((width, height)) == sorted((self.width, self.height))

    def configure(self, context: av.VideoCodecContext) -> None:
        """Tell FFmpeg's decoder to refuse frames of more pixels than planned (before it opens).

        FFmpeg checks ``max_pixels`` against its buffers, whose rows are padded to up to
        :data:`ALIGN` pixels: the limit leaves that room, and :meth:`check` is the exact test.
        """
        options = dict(context.options)
        options["max_pixels"] = str((self.width + ALIGN) * (self.height + ALIGN))
        context.options = options

    def check(self, width: int, height: int, index: int) -> None:
        """Refuse a decoded frame (``index`` in decoding order) of another size than planned.

        Raises:
            FrameSizeError: If the frame's size is not the planned one.
        """
        if not self.fits(width, height):
            raise self.error(width, height, index)

    def check_context(self, context: av.VideoCodecContext, index: int, exc: av.FFmpegError) -> None:
        """After a decoding error ``exc``: refuse it as a size change when ``max_pixels`` caused it.

        FFmpeg's decoders tell it each their way: H.264 and HEVC leave the new size in the
        context, VP9 zeroes the size, dav1d (AV1) answers ERANGE. Any other error is a broken
        packet, left to the caller.

        Raises:
            FrameSizeError: If the error is the decoder refusing another size than planned.
        """
        width, height = context.width, context.height
        if width > 0 and height > 0:
            self.check(width, height, index)
        if width == 0 or height == 0 or exc.errno == errno.ERANGE:
            raise self.error(0, 0, index) from exc

    def error(self, width: int, height: int, index: int) -> FrameSizeError:
        """The error for a frame of ``width`` x ``height`` found at frame ``index``."""
        size = f"{width}x{height}" if width and height else "a larger size"
        return FrameSizeError(
            f"{self.name}: the video changes size inside the stream, from {self.width}x{self.height} "
            f"to {size} at about frame {index}; the pixel limit "
            "(DEEPFAKE_MAX_PIXELS) and the decoding budget are set from the first frame's size, so such a "
            "file is refused. Re-encode it at one size, for example: "
            f"ffmpeg -i IN -vf scale={self.width}:{self.height} -c:v libx264 OUT.mp4"
        )


def scan_sizes(path: str | Path, guard: FrameGuard, packets: int) -> None:
    """Check the size of the first ``packets`` frames without decoding more than keyframes.

    Every packet's headers reach FFmpeg's decoder with non-keyframes skipped; a keyframe of
    another size is refused by ``max_pixels`` when larger, or by :meth:`FrameGuard.check` once
    decoded when smaller, and a VP9 or AV1 inter frame that announces another size sets it in
    the decoder's context before being skipped.

    Raises:
        FrameSizeError: If a frame among them has another size than planned.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        guard.configure(context)
        context.skip_frame = "NONKEY"
        seen = 0
        try:
            for packet in container.demux(stream):
                for frame in context.decode(packet):
                    guard.check(frame.width, frame.height, seen)
                if context.width > 0 and context.height > 0:
                    guard.check(context.width, context.height, seen)
                seen += bool(packet.size)
                if seen >= packets:
                    break
        except av.FFmpegError as exc:
            guard.check_context(context, seen, exc)
            # Not a size change: a broken packet, which the reader itself will meet and report.
            logger.info("%s: size check stopped at packet %d: %s", guard.name, seen, exc)
