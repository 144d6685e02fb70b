"""Long clips with PyAV: the stream's frames listed without decoding, and decoding from keyframes.

:func:`index_frames` tells the decoding plan (:mod:`inference.video.plan`) where the keyframes
are and what each way of sampling would cost; :func:`read_runs` decodes the plan's runs, each
from the keyframe before its frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from inference.video import pyav as video_pyav
from inference.video.frame_guard import FrameGuard

logger = logging.getLogger(__name__)


# Frames a decoder may hold back to reorder B-frames; past `limit` packets in decoding order,
# this many more are read so that the first `limit` frames in display order are all known.
REORDER_SLACK = 64
# Frames decoded to check that a stream with B-frames but timestamps in decoding order (AVI
# writes them so) really shows its frames in that order.
ORDER_CHECK_FRAMES = 16


class TimestampOrderError(Exception):
    """Frames came out of the decoder in another order than their timestamps say."""


@dataclass(frozen=True)
class FrameIndex:
    """The video stream's frames as the container lists them, found without decoding any.

    Attributes:
        pts: Presentation timestamp of every frame in display order (frame i is ``pts[i]``),
            in ``time_base`` units; None when the container gives no usable timestamps (a raw
            stream, repeated timestamps, or AVI's made up in decoding order), and then frames
            are in decoding order.
        keyframes: Display-order indices of the frames that decode on their own, increasing.
        count: Frames listed: the real frame count when ``complete``, else ``limit``.
        complete: The stream ended before the ``limit`` asked of :func:`index_frames`.
        time_base: Seconds per timestamp unit.
        origin: Timestamp of the stream's start (seconds are ``(pts - origin) * time_base``).
        reorder: The most packets any frame comes after its display place in decoding order
            (0 without B-frames): decoding up to a frame may take that many later frames too.
        checked: Frames decoded to check the timestamps (0 unless they were in doubt).
    """

    pts: np.ndarray | None
    keyframes: np.ndarray
    count: int
    complete: bool
    time_base: Fraction
    origin: int
    reorder: int = 0
    checked: int = 0

    def keyframe_before(self, index: int) -> int:
        """The last keyframe at or before frame ``index`` (0 when the stream starts without one)."""
        at = int(np.searchsorted(self.keyframes, index, side="right"))
        return int(self.keyframes[at - 1]) if at else 0


def index_frames(path: str | Path, limit: int) -> FrameIndex:
    """List the first ``limit`` frames of the video stream by demuxing it (no decoding).

    Reading packets costs a small fraction of decoding them (36 000 packets of an 8K clip in
    about 0.2 s), so this tells before decoding what each way of sampling would cost.

    Raises:
        UndecodableError: If the file cannot be opened or has no video stream.
    """
    stamps: list[int | None] = []
    keys: list[bool] = []
    name = Path(path).name
    with video_pyav.open_video(path) as container:
        stream = container.streams.video[0]
        complete = True
        try:
            for packet in container.demux(stream):
                if not packet.size:  # the empty packet that marks the end
                    continue
                stamps.append(packet.pts)
                keys.append(packet.is_keyframe)
                if len(stamps) >= limit + REORDER_SLACK:
                    complete = False
                    break
        except av.FFmpegError as exc:
            # As when decoding: a broken packet ends the usable part of the stream.
            logger.info("%s: demuxing stopped at packet %d: %s", name, len(stamps), exc)
        time_base = stream.time_base or Fraction(1, 1)
        start = stream.start_time
        may_reorder = bool(stream.codec_context.has_b_frames)
    keyframe_flags = np.array(keys, bool)
    pts: np.ndarray | None = None
    count = len(stamps) if complete else limit
    reorder = 0
    if stamps and None not in stamps:
        raw = np.array(stamps, np.int64)
        order = np.argsort(raw, kind="stable")  # decoding position of each frame in display order
        if len(np.unique(raw)) == len(raw):
            pts = raw[order]
            keyframe_flags = keyframe_flags[order]
            reorder = max(0, int((order[:count] - np.arange(min(count, len(order)))).max(initial=0)))
    checked = 0
    if pts is not None and may_reorder and reorder == 0:
        # B-frames, yet timestamps that never go back: either no frame is reordered, or the
        # container made the timestamps up in decoding order. Only decoding tells which.
        agrees, checked = _shown_in_timestamp_order(path, pts[: min(count, ORDER_CHECK_FRAMES)])
        if not agrees:
            logger.info("%s: timestamps are not in display order; no seeking by them", name)
            pts = None
    keyframes = np.flatnonzero(keyframe_flags[:count])
    if pts is not None:
        pts = pts[:count]
    origin = start if start is not None else int(pts[0]) if pts is not None and count else 0
    return FrameIndex(
        pts=pts,
        keyframes=keyframes,
        count=count,
        complete=complete,
        time_base=time_base,
        origin=origin,
        reorder=reorder,
        checked=checked,
    )


def _shown_in_timestamp_order(path: str | Path, expected: np.ndarray) -> tuple[bool, int]:
    """Whether the first frames come out of the decoder with the timestamps ``expected``.

    Returns:
        The answer, and how many frames were decoded to find it.
    """
    shown: list[int | None] = []
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                shown.append(frame.pts)
                if len(shown) == len(expected):
                    break
        except av.FFmpegError as exc:
            logger.info("%s: decoding stopped at frame %d: %s", Path(path).name, len(shown), exc)
    return shown == [int(value) for value in expected[: len(shown)]] and bool(shown), len(shown)


@dataclass(frozen=True)
class Run:
    """One stretch of decoding: from the keyframe at ``start`` to the last wanted frame.

    Attributes:
        start: Display index of the keyframe decoding starts from.
        start_pts: Its timestamp.
        wanted: (display index, timestamp) of the frames to keep, increasing, none before ``start``.
        reorder: Frames after the last wanted one that its decoding may need (B-frames'
            references, :attr:`FrameIndex.reorder`); 0 for a run of the keyframe alone.
    """

    start: int
    start_pts: int
    wanted: tuple[tuple[int, int], ...]
    reorder: int = 0

    @property
    def decodes(self) -> int:
        """Frames decoded at most: from the keyframe to the last wanted frame, and references after it."""
        span = self.wanted[-1][0] - self.start + 1
        return span + (self.reorder if span > 1 else 0)


def read_runs(
    path: str | Path,
    runs: Sequence[Run],
    index: FrameIndex,
    on_decoded: Callable[[int], None],
    guard: FrameGuard | None = None,
) -> Generator[tuple[int, float, np.ndarray], None, None]:
    """Seek to each run's keyframe, decode up to its last wanted frame and yield the wanted ones.

    A run that wants only its keyframe decodes that one frame. ``on_decoded`` is called with
    1 for every frame the decoder returns (wanted or not), so the caller can count the work.

    Yields:
        (index, timestamp in seconds, image (H, W, 3) uint8 BGR, rotation applied), in
        increasing index order.

    Raises:
        TimestampOrderError: If frames come out of the decoder against their timestamps'
            order, so that a timestamp does not tell which frame it is.
        FrameSizeError: If ``guard`` finds a frame of another size than planned.
    """
    name = Path(path).name
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if guard is not None:
            guard.configure(stream.codec_context)

        def decoded(frame: av.VideoFrame) -> None:
            on_decoded(1)
            if guard is not None:
                guard.check(frame.width, frame.height, run.start)

        for run in runs:
            try:
                yield from _read_run(container, stream, run, index, decoded)
            except av.FFmpegError as exc:
                if guard is not None:
                    guard.check_context(stream.codec_context, run.start, exc)
                # A broken stretch loses its frames; the others may still decode.
                logger.warning("%s: decoding from frame %d failed: %s", name, run.start, exc)


def _read_run(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    run: Run,
    index: FrameIndex,
    on_decoded: Callable[[av.VideoFrame], None],
) -> Generator[tuple[int, float, np.ndarray], None, None]:
    wanted = {pts: number for number, pts in run.wanted}
    last_pts = run.wanted[-1][1]
    # Packets come in decoding order: feeding stops once every frame from the keyframe to
    # the last wanted one (display order) is in the decoder, and draining outputs the rest.
    missing = run.wanted[-1][0] - run.start + 1
    codec = stream.codec_context
    shown: list[int] = []
    for packet in _packets_from(container, stream, run.start_pts, index.origin):
        if packet.pts is not None and run.start_pts <= packet.pts <= last_pts:
            missing -= 1
        yield from _keep(codec.decode(packet), wanted, shown, index, on_decoded)
        if missing == 0:
            break
    yield from _keep(codec.decode(None), wanted, shown, index, on_decoded)
    if wanted:
        logger.warning(
            "%s: frames %s did not come out of the decoder",
            Path(container.name).name,
            sorted(wanted.values()),
        )


def _packets_from(
    container: av.container.InputContainer, stream: av.VideoStream, start_pts: int, origin: int
) -> Generator[av.Packet, None, None]:
    """The stream's packets in decoding order, from the keyframe at ``start_pts`` on.

    Some containers (MPEG-TS) have no index and land past the keyframe: then the seek goes
    back one second, two, four... before it, and packets are skipped up to the keyframe.
    """
    back = 0
    second = max(1, round(1 / stream.time_base)) if stream.time_base else 1
    while True:
        target = start_pts - back
        container.seek(target, stream=stream, backward=True)
        packets = (packet for packet in container.demux(stream) if packet.size)
        found = _skip_to(packets, start_pts)
        if found is not None:
            yield found
            yield from packets
            return
        if target < origin:  # read from before the start of the stream: it is not there
            logger.warning("%s: no keyframe with timestamp %d found", Path(container.name).name, start_pts)
            return
        back = max(2 * back, second)


def _skip_to(packets: Iterator[av.Packet], start_pts: int) -> av.Packet | None:
    """The packet at ``start_pts``, or None once it is clear the seek landed past it."""
    for number, packet in enumerate(packets):
        if packet.pts == start_pts:
            return packet
        # Past it: the landing packet already comes later, or a later keyframe is reached.
        if packet.pts is not None and packet.pts > start_pts and (number == 0 or packet.is_keyframe):
            return None
    return None


def _keep(
    frames: list[av.VideoFrame],
    wanted: dict[int, int],
    shown: list[int],
    index: FrameIndex,
    on_decoded: Callable[[av.VideoFrame], None],
) -> Generator[tuple[int, float, np.ndarray], None, None]:
    """Yield the wanted ones among ``frames``, checking that timestamps keep increasing."""
    for frame in frames:
        on_decoded(frame)
        if frame.pts is None:
            continue
        if shown and frame.pts <= shown[-1]:
            raise TimestampOrderError(
                f"frame with timestamp {frame.pts} came out of the decoder after {shown[-1]}"
            )
        shown.append(frame.pts)
        number = wanted.pop(frame.pts, None)
        if number is None:
            continue
        image = np.rot90(frame.to_ndarray(format="bgr24"), video_pyav.quarter_turns(frame))
        seconds = float((frame.pts - index.origin) * index.time_base)
        yield number, seconds, np.ascontiguousarray(image)
