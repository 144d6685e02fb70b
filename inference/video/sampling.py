"""Video probing and frame sampling, one frame in memory at a time.

OpenCV decodes what its FFmpeg can; a stream it cannot open or decode (AV1, for one) goes to
PyAV (:mod:`inference.video.pyav`), with the same sampling and timestamps.

Decoding is bounded per request (:func:`plan_sampling`): a clip whose sampled frames would take
more than :data:`DECODE_BUDGET_PIXELS` of decoding is read from its keyframes instead.
"""

from __future__ import annotations

import bisect
import logging
import math
import shutil
import subprocess
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from queue import Full, Queue

import cv2
import numpy as np

from inference.errors import DeepfakeDetectorError, LimitExceededError, VideoError
from inference.video import pyav as video_pyav
from inference.video.frame_guard import FrameGuard, scan_sizes
from inference.video.identity import fourcc_codec

logger = logging.getLogger(__name__)

# Beyond this many frames between two targets, seeking beats decoding every frame.
SEEK_GAP = 600
OPENCV = "opencv"
PYAV = "pyav"

# Decoding allowed per request, in decoded pixels: 2000 frames of 1920x1080 (125 frames of 8K).
# On 2 cores that is 7-14 s of 1080p H.264 or 2-7 s of black 8K, quiet to busy (the busy
# figures are in benchmarks/decode_bound.md); a one-minute 1080p 30 fps clip still reads as
# it always did.
DECODE_BUDGET_PIXELS = 2000 * 1920 * 1080

# DecodePlan.mode values.
SEQUENTIAL = "sequential"
SEEK = "seek"
KEYFRAMES = "keyframes"
# OpenCV seeks this many frames before its target, then decodes forward (cap_ffmpeg_impl.hpp).
_OPENCV_SEEK_BACK = 16


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


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: Frame number from the start of the file (0-based).
        timestamp_s: Presentation time in seconds (from the container when it gives one).
        image: Pixels, shape (H, W, 3), uint8, BGR.
    """

    index: int
    timestamp_s: float
    image: np.ndarray


@dataclass(frozen=True)
class Window:
    """The frames to sample from: ``[first, stop)`` and whether the duration limit cut it."""

    first: int
    stop: int
    truncated: bool


def open_capture(path: str | Path) -> cv2.VideoCapture:
    """Open ``path`` with OpenCV, rotation metadata applied.

    Raises:
        VideoError: If the file is missing or OpenCV cannot decode it as a video.
    """
    capture = _try_capture(path)
    if capture is None:
        raise VideoError(f"{Path(path).name} is not a video that can be decoded (unknown or broken format)")
    return capture


def _try_capture(path: str | Path) -> cv2.VideoCapture | None:
    """An opened OpenCV capture of ``path``, or None when OpenCV cannot open it.

    Raises:
        VideoError: If the file is missing or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video file {path.name} does not exist")
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes)")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        return None
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def probe(path: str | Path, max_pixels: int | None = None) -> VideoInfo:
    """Read the size, frame rate and frame count of a video, and pick its decoder.

    OpenCV is tried first; when it cannot open the file or decode its first frame, PyAV is.
    A missing or zero frame count is replaced by counting the frames.

    Raises:
        VideoError: If neither decoder can decode the file; names the codec when known.
        LimitExceededError: If a frame has more than ``max_pixels`` pixels.
    """
    capture = _try_capture(path)
    if capture is None:
        return _probe_pyav(path, max_pixels)
    try:
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = _valid_fps(capture.get(cv2.CAP_PROP_FPS))
        reported = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        codec = fourcc_codec(capture.get(cv2.CAP_PROP_FOURCC))
        _check_pixels(width, height, max_pixels)
        decodes = width > 0 and height > 0 and capture.grab()
    finally:
        capture.release()
    if not decodes:
        return _probe_pyav(path, max_pixels)
    count = int(reported) if math.isfinite(reported) and reported > 0 else count_frames(path)
    if count == 0:
        raise VideoError(f"{Path(path).name} has no decodable video frames")
    duration = count / fps if fps else None
    return VideoInfo(width=width, height=height, fps=fps, frame_count=count, duration_s=duration, codec=codec)


def _probe_pyav(path: str | Path, max_pixels: int | None) -> VideoInfo:
    try:
        stream = video_pyav.probe_stream(path)
    except video_pyav.UndecodableError as exc:
        codec = exc.codec or _ffprobe_codec(path)
        hint = (
            f" Its video codec ({codec}) cannot be decoded here; re-encode it as H.264, for "
            "example: ffmpeg -i IN -c:v libx264 OUT.mp4"
            if codec
            else ""
        )
        raise VideoError(f"{exc}.{hint}") from exc
    _check_pixels(stream.width, stream.height, max_pixels)
    logger.info("%s: %s stream decoded with PyAV", Path(path).name, stream.codec)
    duration = stream.frame_count / stream.fps if stream.fps else None
    return VideoInfo(
        width=stream.width,
        height=stream.height,
        fps=stream.fps,
        frame_count=stream.frame_count,
        duration_s=duration,
        decoder=PYAV,
        codec=stream.codec,
    )


def _check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise LimitExceededError(
            f"frames of {width}x{height} ({width * height} pixels) exceed the limit of "
            f"{max_pixels} pixels per frame (DEEPFAKE_MAX_PIXELS)"
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


class InvalidWindowError(DeepfakeDetectorError):
    """The requested start/end window is not a span of time: negative, not finite, or reversed."""


def check_window(start_s: float | None, end_s: float | None) -> None:
    """Check a start/end window on its own, before any file is opened.

    Raises:
        InvalidWindowError: If a bound is negative, NaN or infinite, or the end is not after
            the start.
    """
    for name, value in (("start", start_s), ("end", end_s)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise InvalidWindowError(
                f"the window's {name} must be a finite number of seconds, 0 or more; got {value}"
            )
    if end_s is not None and end_s <= (start_s or 0.0):
        raise InvalidWindowError(
            f"the window's end ({end_s} s) must come after its start ({start_s or 0.0} s)"
        )


def analysis_window(
    info: VideoInfo, start_s: float | None, end_s: float | None, max_duration_s: float
) -> Window:
    """Frame range to sample: the user's start/end window, cut to ``max_duration_s`` seconds.

    Raises:
        InvalidWindowError: If a bound is negative or not finite, or the end is not after the
            start (see :func:`check_window`).
        VideoError: If the window holds no frame of the file or needs a frame rate the file
            does not give.
    """
    check_window(start_s, end_s)
    fps = info.fps
    if fps is None and (start_s is not None or end_s is not None):
        raise VideoError("this file gives no frame rate, so a start/end time cannot be applied")
    first = round(start_s * fps) if fps and start_s else 0
    stop = min(round(end_s * fps), info.frame_count) if fps and end_s is not None else info.frame_count
    limit = first + round(max_duration_s * fps) if fps else stop
    if first >= stop:
        raise VideoError(
            f"the start/end window ({start_s} s to {end_s} s) holds no frame of this "
            f"{info.duration_s or 0:.1f} s video"
        )
    return Window(first=first, stop=min(stop, limit), truncated=limit < stop)


def sample_indices(first: int, stop: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``[first, stop)``, first and last included."""
    if stop - first <= count:
        return list(range(first, stop))
    return sorted({int(i) for i in np.linspace(first, stop - 1, count).round()})


class DecodeBudgetError(LimitExceededError):
    """The requested frames cannot be reached within the decoding budget, not even at keyframes."""


@dataclass
class DecodePlan:
    """How :func:`sample_frames` decodes one request, decided before decoding (:func:`plan_sampling`).

    Attributes:
        mode: "sequential": as always, every frame up to each sample (OpenCV seeks over gaps
            of more than ``SEEK_GAP`` frames). "seek": the same frames, each decoded from the
            keyframe before it. "keyframes": to stay within the budget, some samples are the
            keyframe nearest their evenly spread position, and some may be left out.
        width: Frame width in pixels.
        height: Frame height in pixels.
        budget: Frames of this size the decoding budget allows.
        requested: Distinct frames asked for (fewer than the count when the window is shorter).
        samples: Frames the plan takes; fewer than ``requested`` only in "keyframes" mode.
        moved: Samples taken at a keyframe instead of their evenly spread position.
        decodes: Frames the plan decodes, estimated before decoding (an upper bound in "seek"
            and "keyframes" modes), with any decoded to check doubtful timestamps.
        decoded: Frames decoded so far, counted while reading. The decoding OpenCV does inside
            a seek, from a keyframe to the target, is not seen here (``decodes`` includes it).
        runs: What "seek" and "keyframes" modes decode.
        index: The frame list the runs refer to (None when it was not needed).
    """

    mode: str
    width: int
    height: int
    budget: int
    requested: int
    samples: int
    moved: int = 0
    decodes: int = 0
    decoded: int = 0
    runs: tuple[video_pyav.Run, ...] = ()
    index: video_pyav.FrameIndex | None = field(default=None, repr=False)

    def count_decoded(self, frames: int) -> None:
        """Add ``frames`` to :attr:`decoded` (called by the readers)."""
        self.decoded += frames

    def note(self) -> str | None:
        """A sentence for the report when frames were moved or left out, else None."""
        done = []
        if self.mode == KEYFRAMES and self.moved:
            done.append(
                f"{self.moved} of the {self.samples} frames are the keyframe nearest their evenly "
                "spread place"
            )
        if self.mode == KEYFRAMES and self.samples < self.requested:
            done.append(
                f"{self.requested - self.samples} of the {self.requested} requested frames were left "
                "out because the clip has too few keyframes"
            )
        if not done:
            return None
        return (
            f"long or high-resolution clip: to bound decoding ({self.decoded} frames of "
            f"{self.width}x{self.height} decoded), {' and '.join(done)}; ask for a shorter "
            "start/end window for exact frames"
        )


def plan_sampling(
    path: str | Path,
    info: VideoInfo,
    window: Window,
    count: int,
    budget_pixels: int = DECODE_BUDGET_PIXELS,
) -> DecodePlan:
    """Decide how to decode ``count`` frames of ``window`` within ``budget_pixels`` decoded pixels.

    Reading as always ("sequential") is kept whenever it fits the budget, so that short clips
    give the same frames as before. Otherwise the stream's packets are listed (demuxing, no
    decoding) and the exact frames are decoded from the keyframe before each ("seek") if that
    fits; else every sample becomes the keyframe nearest it, one decoded frame each, and when
    the window has fewer keyframes than samples, the leftover budget buys exact frames for
    the rest, cheapest first ("keyframes"). That mode decodes at most the larger of the budget
    and one frame per sample.

    Raises:
        DecodeBudgetError: If no frame of the window can be reached within the budget (the
            window holds no keyframe and starts far from one), or the file's timestamps cannot
            locate keyframes (a raw stream has none; AVI with B-frames has them in decoding
            order).
        VideoError: If the stream cannot be demuxed.
    """
    targets = sample_indices(window.first, window.stop, count) if count > 0 else []
    budget = max(1, budget_pixels // max(1, info.width * info.height))
    shape = {"width": info.width, "height": info.height, "budget": budget}
    # Before listing keyframes: a seek may decode from the very start, and a container that
    # overstates its length costs a second pass of up to as many frames.
    bound = _sequential_cost(targets, None, info.decoder == OPENCV) + (targets[-1] + 1 if targets else 0)
    if bound <= budget:
        return DecodePlan(SEQUENTIAL, requested=len(targets), samples=len(targets), decodes=bound, **shape)
    index = _index(path, window.stop)
    plan = _plan_with_index(path, info, window, count, targets, index, budget - index.checked, shape)
    # The frames decoded to check doubtful timestamps are spent already.
    plan.decodes += index.checked
    plan.decoded += index.checked
    if plan.mode != SEQUENTIAL:
        logger.info(
            "%s: %s mode, %d of %d frames, %d decodes planned (budget %d)",
            Path(path).name,
            plan.mode,
            plan.samples,
            plan.requested,
            plan.decodes,
            budget,
        )
    return plan


def _plan_with_index(
    path: str | Path,
    info: VideoInfo,
    window: Window,
    count: int,
    targets: list[int],
    index: video_pyav.FrameIndex,
    budget: int,
    shape: dict[str, int],
) -> DecodePlan:
    """:func:`plan_sampling` once the frames are listed; ``budget`` is what is left of it."""
    opencv = info.decoder == OPENCV
    cost = _indexed_sequential_cost(targets, window, index, opencv)
    if cost <= budget:
        return DecodePlan(
            SEQUENTIAL, requested=len(targets), samples=len(targets), decodes=cost, index=index, **shape
        )
    pts = index.pts
    if pts is None:
        raise DecodeBudgetError(
            f"{Path(path).name}: the {len(targets)} frames asked for take decoding {cost} frames of "
            f"{info.width}x{info.height}, more than the {shape['budget']} the decoding budget allows "
            "(DEEPFAKE_MAX_DECODE_PIXELS), and its timestamps cannot locate keyframes (it has none, or "
            "not in display order). "
            "Ask for fewer frames or a shorter start/end window, or re-encode it: "
            "ffmpeg -i IN -c:v libx264 OUT.mp4"
        )
    plan = _bounded_plan(targets, window, count, index, pts, budget, shape)
    if not plan.runs and plan.requested:
        raise _unreachable(path, window, index, pts, shape["budget"], info)
    return plan


def _index(path: str | Path, stop: int) -> video_pyav.FrameIndex:
    try:
        return video_pyav.index_frames(path, stop)
    except video_pyav.UndecodableError as exc:
        raise VideoError(str(exc)) from exc


def _sequential_cost(targets: list[int], index: video_pyav.FrameIndex | None, opencv: bool) -> int:
    """Frames :func:`_read` (OpenCV) or PyAV's sequential reader decodes for ``targets``.

    Without ``index``, a seek is counted as decoding from the first frame (the worst case).
    """
    cost = position = 0
    for target in targets:
        if opencv and target - position > SEEK_GAP:
            start = index.keyframe_before(max(target - _OPENCV_SEEK_BACK, 0)) if index else 0
            cost += target - start + 1
        else:
            cost += target - position + 1
        position = target + 1
    return cost


def _indexed_sequential_cost(
    targets: list[int], window: Window, index: video_pyav.FrameIndex, opencv: bool
) -> int:
    """Like :func:`_sequential_cost`, with the second pass when the stream ends early."""
    end = index.count if index.complete else None
    reached = [target for target in targets if end is None or target < end]
    if end is None or len(reached) == len(targets):
        return _sequential_cost(targets, index, opencv)
    # The first pass reads on to the end of the stream; the second picks the missing frames.
    cost = _sequential_cost(reached, index, opencv) + end - (reached[-1] + 1 if reached else 0)
    picks = _second_pass_picks(window.first, end, reached, len(targets) - len(reached))
    return cost + _sequential_cost(picks, index, opencv)


def _second_pass_picks(first: int, end: int, taken: list[int], missing: int) -> list[int]:
    """``missing`` frames spread evenly among the real frames ``[first, end)`` not yet taken."""
    seen = set(taken)
    candidates = [i for i in range(first, end) if i not in seen]
    return [candidates[i] for i in sample_indices(0, len(candidates), missing)]


def _bounded_plan(
    targets: list[int],
    window: Window,
    count: int,
    index: video_pyav.FrameIndex,
    pts: np.ndarray,
    budget: int,
    shape: dict[str, int],
) -> DecodePlan:
    """The "seek" plan when it fits the budget, else the "keyframes" plan (``pts``: ``index.pts``)."""
    stop = min(window.stop, index.count)
    if index.complete and index.count < window.stop:
        # The frame list knows the real length: spread the samples over the frames there are.
        targets = sample_indices(window.first, stop, count) if stop > window.first else []
    exact = {target: index.keyframe_before(target) for target in targets}
    runs = _runs(exact, pts, index.reorder)
    decodes = sum(run.decodes for run in runs)
    if decodes <= budget:
        return DecodePlan(
            SEEK,
            requested=len(targets),
            samples=len(targets),
            decodes=decodes,
            runs=runs,
            index=index,
            **shape,
        )
    keyframes = [int(k) for k in index.keyframes if window.first <= k < stop]
    if len(keyframes) >= len(targets):
        at_keyframe = {t: keyframes[j] for t, j in zip(targets, _match(targets, keyframes), strict=True)}
    else:
        at_keyframe = {targets[j]: k for k, j in zip(keyframes, _match(keyframes, targets), strict=True)}
    frames = {k: k for k in at_keyframe.values()}  # a keyframe decodes alone
    runs = _runs(frames, pts, index.reorder)
    decodes = sum(run.decodes for run in runs)
    # What is left of the budget buys exact frames for the targets that got no keyframe (the
    # window has too few), cheapest first: each adds a sample. Moving a sample from its
    # keyframe back to its exact place would cost as much and add nothing to the evidence.
    for target in sorted((t for t in targets if t not in at_keyframe), key=lambda t: t - exact[t]):
        trial_runs = _runs({**frames, target: exact[target]}, pts, index.reorder)
        trial = sum(run.decodes for run in trial_runs)
        if trial <= max(budget, decodes):
            frames[target] = exact[target]
            runs, decodes = trial_runs, trial
    return DecodePlan(
        KEYFRAMES,
        requested=len(targets),
        samples=len(frames),
        moved=sum(1 for t, k in at_keyframe.items() if k != t),
        decodes=decodes,
        runs=runs,
        index=index,
        **shape,
    )


def _match(few: list[int], many: list[int]) -> list[int]:
    """For each of ``few`` (sorted), the position of the nearest of ``many`` (sorted, at least as
    many), each used once and in the same order."""
    chosen: list[int] = []
    for i, value in enumerate(few):
        low = chosen[-1] + 1 if chosen else 0
        # Leave one of `many` for each of `few` still to come.
        high = len(many) - (len(few) - i)
        at = bisect.bisect_left(many, value, low, high + 1)
        options = [j for j in (at - 1, at) if low <= j <= high]
        chosen.append(min(options, key=lambda j: abs(many[j] - value)))
    return chosen


def _runs(frames: dict[int, int], pts: np.ndarray, reorder: int) -> tuple[video_pyav.Run, ...]:
    """Group the wanted frames (frame -> keyframe to decode it from) into runs of decoding.

    A frame joins the current run when decoding on to it costs no more than seeking back to
    its keyframe; otherwise a new run starts there. ``pts`` and ``reorder`` are those of the
    :class:`~inference.video.pyav.FrameIndex`.
    """
    groups: list[tuple[int, list[int]]] = []
    for frame in sorted(frames):
        keyframe = frames[frame]
        if groups and groups[-1][1][-1] >= keyframe - 1:
            groups[-1][1].append(frame)
        else:
            groups.append((keyframe, [frame]))
    return tuple(
        video_pyav.Run(
            start=start,
            start_pts=int(pts[start]),
            wanted=tuple((frame, int(pts[frame])) for frame in members),
            reorder=reorder,
        )
        for start, members in groups
    )


def _unreachable(
    path: str | Path,
    window: Window,
    index: video_pyav.FrameIndex,
    pts: np.ndarray,
    budget: int,
    info: VideoInfo,
) -> DecodeBudgetError:
    """The error for a window that holds no keyframe and starts too far after one."""
    before = index.keyframe_before(window.first)
    after = [int(k) for k in index.keyframes if k >= window.stop][:1]
    times = " or ".join(
        f"{float((int(pts[k]) - index.origin) * index.time_base):.2f} s" for k in [before, *after]
    )
    return DecodeBudgetError(
        f"{Path(path).name}: no frame of the window can be decoded within the decoding budget: "
        f"the window holds no keyframe, and reaching its first frame takes decoding "
        f"{window.first - before + 1} frames of {info.width}x{info.height} from the keyframe before "
        f"it, more than the {budget} the budget allows (DEEPFAKE_MAX_DECODE_PIXELS). Start the "
        f"window at a keyframe ({times}), or re-encode the clip with more keyframes: "
        "ffmpeg -i IN -g 60 OUT.mp4"
    )


def sample_frames(
    path: str | Path, window: Window, count: int, decoder: str = OPENCV, plan: DecodePlan | None = None
) -> Iterator[Frame]:
    """Decode ``count`` frames spread evenly over ``window``, one at a time.

    ``decoder`` is :attr:`VideoInfo.decoder` from :func:`probe`; ``plan`` comes from
    :func:`plan_sampling` (made here with the default budget when not given) and counts the
    frames decoded as they are.

    When the container claims more frames than it holds (common with variable frame rate),
    the first pass ends early; a second pass then picks the missing number of frames evenly
    among the real frames not yet taken.

    Yields:
        Frames, each (H, W, 3) uint8 BGR; in increasing index order within each pass.

    Raises:
        DecodeBudgetError: If ``plan`` is not given and making one fails (see :func:`plan_sampling`).
        FrameSizeError: If a frame has another size than the first (the plan's).
    """
    if plan is None:
        plan = plan_sampling(path, replace(probe(path), decoder=decoder), window, count)
    guard = FrameGuard(Path(path).name, plan.width, plan.height)
    if plan.mode != SEQUENTIAL:
        yield from _read_runs(path, plan, guard)
        return
    targets = sample_indices(window.first, window.stop, count)
    if decoder == PYAV:
        read = partial(_read_pyav, guard=guard)
    else:
        # OpenCV shows no frame's real size: the headers are checked first, up to where it reads.
        scan_sizes(path, guard, max(targets, default=0) + 1 + video_pyav.REORDER_SLACK)
        read = _read
    seen: list[int] = []
    end = yield from read(path, targets, seen, plan)
    missing = len(targets) - len(seen)
    if end is not None and missing:
        logger.info("container claimed %d frames but ended at %d", window.stop, end)
        yield from read(path, _second_pass_picks(window.first, end, seen, missing), seen, plan)


def _read_runs(path: str | Path, plan: DecodePlan, guard: FrameGuard) -> Iterator[Frame]:
    """The frames of a "seek" or "keyframes" plan, decoded with PyAV.

    Raises:
        VideoError: If the container's timestamps turn out not to be in display order.
    """
    assert plan.index is not None  # plan_sampling always lists the frames for these modes
    reader = video_pyav.read_runs(path, plan.runs, plan.index, plan.count_decoded, guard)
    try:
        for index, timestamp, image in reader:
            yield Frame(index=index, timestamp_s=timestamp, image=image)
    except video_pyav.TimestampOrderError as exc:
        raise VideoError(
            f"{Path(path).name}: {exc}, so frames cannot be found by their timestamps in this long "
            "clip; re-encode it (ffmpeg -i IN -c:v libx264 OUT.mp4) or ask for a shorter start/end "
            "window"
        ) from exc
    finally:
        reader.close()


def _read(
    path: str | Path, targets: list[int], seen: list[int], plan: DecodePlan
) -> Generator[Frame, None, int | None]:
    """Yield the frames at ``targets`` (sorted), noting their indices in ``seen``.

    Returns:
        The real frame count if the file ended before the last target, else None.
    """
    capture = open_capture(path)
    position = 0
    try:
        for target in targets:
            if target - position > SEEK_GAP:
                capture.set(cv2.CAP_PROP_POS_FRAMES, target)
                position = target
            while position < target:
                if not capture.grab():
                    return position
                plan.count_decoded(1)
                position += 1
            ok, image = capture.read()
            if not ok or image is None:
                return position
            plan.count_decoded(1)
            position += 1
            seen.append(target)
            yield Frame(index=target, timestamp_s=_timestamp(capture, target), image=image)
    finally:
        capture.release()
    return None


def _read_pyav(
    path: str | Path, targets: list[int], seen: list[int], plan: DecodePlan, guard: FrameGuard
) -> Generator[Frame, None, int | None]:
    """Like :func:`_read`, with PyAV, every decoded frame's size checked by ``guard``."""
    reader = video_pyav.read_frames(path, targets, plan.count_decoded, guard)
    try:
        while True:
            try:
                index, timestamp, image = next(reader)
            except StopIteration as stop:
                return stop.value
            seen.append(index)
            yield Frame(index=index, timestamp_s=timestamp, image=image)
    finally:
        reader.close()


class DecodeAhead:
    """Runs a frame iterator in a background thread, a few frames ahead of the caller.

    OpenCV releases the GIL while it decodes, so decoding overlaps with the caller's work
    (face detection) on another core. Errors raised while decoding are re-raised in the
    caller; the thread stops when the caller stops iterating.

    Attributes:
        busy_s: Seconds the background thread spent decoding.
    """

    _END = object()

    def __init__(self, frames: Generator[Frame, None, None], depth: int = 3) -> None:
        self._frames = frames
        self._queue: Queue[object] = Queue(maxsize=depth)
        self._stop = threading.Event()
        self.busy_s = 0.0

    def __iter__(self) -> Iterator[Frame]:
        thread = threading.Thread(target=self._produce, name="decode-ahead", daemon=True)
        thread.start()
        try:
            # The producer always ends by queueing the end marker or its exception.
            while (item := self._queue.get()) is not self._END:
                if isinstance(item, Exception):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            self._stop.set()
            thread.join()

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                started = time.perf_counter()
                frame = next(self._frames, self._END)
                self.busy_s += time.perf_counter() - started
                self._put(frame)
                if frame is self._END:
                    return
        except Exception as exc:  # handed to the caller's thread and raised there
            self._put(exc)
        finally:
            self._frames.close()

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except Full:
                continue


def _timestamp(capture: cv2.VideoCapture, index: int) -> float:
    msec = capture.get(cv2.CAP_PROP_POS_MSEC)
    if math.isfinite(msec) and msec >= 0 and (msec > 0 or index == 0):
        return msec / 1000.0
    fps = _valid_fps(capture.get(cv2.CAP_PROP_FPS))
    return index / fps if fps else 0.0


def _valid_fps(value: float) -> float | None:
    return value if math.isfinite(value) and 0 < value <= 1000 else None
