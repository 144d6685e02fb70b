"""The decoding plan: which frames to read and how, bounded per request, decided before decoding.

Decoding is bounded per request (:func:`plan_sampling`): a clip whose sampled frames would take
more than :data:`DECODE_BUDGET_PIXELS` of decoding is read from its keyframes instead. The frames
are listed by PyAV's demuxer (:func:`inference.video.keyframes.index_frames`), none decoded.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inference.errors import LimitExceededError, VideoError
from inference.video import pyav as video_pyav
from inference.video.backend import OPENCV
from inference.video.keyframes import FrameIndex, Run, index_frames
from inference.video.opencv import SEEK_BACK, SEEK_GAP
from inference.video.probe import VideoInfo
from inference.video.window import Window, sample_indices, second_pass_picks

logger = logging.getLogger(__name__)

# Decoding allowed per request, in decoded pixels: 2000 frames of 1920x1080 (125 frames of 8K).
# On 2 cores that is 7-14 s of 1080p H.264 or 2-7 s of black 8K, quiet to busy (the busy
# figures are in benchmarks/decode_bound.md); a one-minute 1080p 30 fps clip still reads as
# it always did.
DECODE_BUDGET_PIXELS = 2000 * 1920 * 1080


# DecodePlan.mode values.
SEQUENTIAL = "sequential"
SEEK = "seek"
KEYFRAMES = "keyframes"


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
    runs: tuple[Run, ...] = ()
    index: FrameIndex | None = field(default=None, repr=False)

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
    index: FrameIndex,
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


def _index(path: str | Path, stop: int) -> FrameIndex:
    try:
        return index_frames(path, stop)
    except video_pyav.UndecodableError as exc:
        raise VideoError(str(exc)) from exc


def _sequential_cost(targets: list[int], index: FrameIndex | None, opencv: bool) -> int:
    """Frames :func:`_read` (OpenCV) or PyAV's sequential reader decodes for ``targets``.

    Without ``index``, a seek is counted as decoding from the first frame (the worst case).
    """
    cost = position = 0
    for target in targets:
        if opencv and target - position > SEEK_GAP:
            start = index.keyframe_before(max(target - SEEK_BACK, 0)) if index else 0
            cost += target - start + 1
        else:
            cost += target - position + 1
        position = target + 1
    return cost


def _indexed_sequential_cost(targets: list[int], window: Window, index: FrameIndex, opencv: bool) -> int:
    """Like :func:`_sequential_cost`, with the second pass when the stream ends early."""
    end = index.count if index.complete else None
    reached = [target for target in targets if end is None or target < end]
    if end is None or len(reached) == len(targets):
        return _sequential_cost(targets, index, opencv)
    # The first pass reads on to the end of the stream; the second picks the missing frames.
    cost = _sequential_cost(reached, index, opencv) + end - (reached[-1] + 1 if reached else 0)
    picks = second_pass_picks(window.first, end, reached, len(targets) - len(reached))
    return cost + _sequential_cost(picks, index, opencv)


def _bounded_plan(
    targets: list[int],
    window: Window,
    count: int,
    index: FrameIndex,
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


def _runs(frames: dict[int, int], pts: np.ndarray, reorder: int) -> tuple[Run, ...]:
    """Group the wanted frames (frame -> keyframe to decode it from) into runs of decoding.

    A frame joins the current run when decoding on to it costs no more than seeking back to
    its keyframe; otherwise a new run starts there. ``pts`` and ``reorder`` are those of the
    :class:`~inference.video.keyframes.FrameIndex`.
    """
    groups: list[tuple[int, list[int]]] = []
    for frame in sorted(frames):
        keyframe = frames[frame]
        if groups and groups[-1][1][-1] >= keyframe - 1:
            groups[-1][1].append(frame)
        else:
            groups.append((keyframe, [frame]))
    return tuple(
        Run(
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
    index: FrameIndex,
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
