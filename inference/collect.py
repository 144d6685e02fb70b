"""Collecting faces while decoding: every sampled frame's faces followed, cropped, and the second
opinion's faces found while the frame is in memory."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inference.faces.detect import Box
from inference.faces.profiles import Profile
from inference.faces.refine import BoxRefiner
from inference.faces.tracking import PeopleTracker
from inference.second_opinion import SecondOpinion, Sighting
from inference.second_watch import WatchBeside
from inference.settings import Settings
from inference.video.plan import DecodePlan, plan_sampling
from inference.video.probe import VideoInfo
from inference.video.read import DecodeAhead, Frame, sample_frames
from inference.video.window import Window

Progress = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], what is happening) between the phases before decoding
(probe, Content Credentials, frame listing; during a link's download, every 0.25 s at most),
after every sampled frame and every batch of faces scored or explained; it may raise to stop
the analysis there."""
# Share of the progress bar that finding faces fills; scoring (and explaining) fill the rest.
DECODED = 0.8


@dataclass(frozen=True)
class Face:
    """A face found while decoding: whose, where, and its crop already resized (S, S, 3) uint8 BGR."""

    frame_index: int
    timestamp_s: float
    box: Box
    crop_bgr: np.ndarray
    person: int


@dataclass
class CollectedFaces:
    """Faces gathered while decoding, and the time spent in each stage."""

    faces: list[Face] = field(default_factory=list)
    sampled: int = 0
    unrefined: int = 0
    decode_s: float = 0.0
    faces_s: float = 0.0
    plan: DecodePlan | None = None  # how the frames were decoded
    sightings: list[Sighting] = field(default_factory=list)  # the second opinion's faces
    looked_at: Counter[int] = field(default_factory=Counter)  # person -> frames BlazeFace looked at
    second_s: float = 0.0


def collect_faces(
    path: Path,
    info: VideoInfo,
    window: Window,
    count: int,
    profile: Profile,
    settings: Settings,
    image_size: int,
    report: Progress | None = None,
    second: SecondOpinion | None = None,
) -> CollectedFaces:
    """Decode ``count`` frames of ``window``, follow every face and crop it with ``profile``.

    The one place crops are made, for analysis and for training (:mod:`inference.tools.training`).
    The crops are resized to ``image_size`` but not yet through :meth:`Profile.finish`. With
    ``second``, BlazeFace also looks for each person in their due frames (see
    :meth:`SecondOpinion.due`), on a thread of its own beside the tracking
    (:class:`inference.second_watch.WatchBeside`).

    Raises:
        DecodeBudgetError: If no frame of the window can be had within settings.max_decode_pixels.
    """
    plan = plan_sampling(path, info, window, count, settings.max_decode_pixels)
    if report is not None:
        report(0.0, "decoding the frames")  # listing the frames for the plan may take a while
    tracker = PeopleTracker(settings.face_model, settings.detect_max_side, count)
    refiner = profile.refiner()
    collected = CollectedFaces(plan=plan)
    frames = DecodeAhead(sample_frames(path, window, count, info.decoder, plan))
    with ExitStack() as stack:
        beside = None if second is None else stack.enter_context(WatchBeside(second))
        total = max(1, plan.samples)
        _follow(frames, collected, tracker, refiner, profile, image_size, total, report, beside, settings)
        if beside is not None:
            collected.sightings = beside.finish()
            collected.second_s = beside.busy_s
    collected.decode_s = frames.busy_s
    return collected


def _follow(
    frames: DecodeAhead,
    collected: CollectedFaces,
    tracker: PeopleTracker,
    refiner: BoxRefiner,
    profile: Profile,
    image_size: int,
    total: int,
    report: Progress | None,
    beside: WatchBeside | None,
    settings: Settings,
) -> None:
    """Every decoded frame's faces into ``collected`` (``total`` frames expected); each person's
    due frames to ``beside``, which watches them while the next frames are decoded and tracked,
    and scores the faces of the people seen most so far (see :func:`most_seen`)."""
    appearances: Counter[int] = Counter()
    first_seen: dict[int, int] = {}
    for frame in frames:
        tick = time.perf_counter()
        found, unrefined = faces_in_frame(frame, tracker, refiner, profile, image_size)
        collected.faces += found
        collected.unrefined += unrefined
        located = [(face.person, face.box) for face in found]
        collected.faces_s += time.perf_counter() - tick
        appearances.update(person for person, _ in located)
        for person, _ in located:
            first_seen.setdefault(person, frame.index)
        if beside is not None:
            due = {person for person, _ in located if SecondOpinion.due(appearances[person], total)}
            if due:
                collected.looked_at.update(due)
                ahead = due & set(most_seen(appearances, first_seen, settings.max_people))
                beside.submit(frame.image, frame.index, located, due, ahead)
        collected.sampled += 1
        if report is not None:
            report(DECODED * collected.sampled / total, f"frame {collected.sampled} of {total}")


def most_seen(appearances: Counter[int], first_seen: dict[int, int], most: int) -> list[int]:
    """The ``most`` people seen most, the most seen first, ties to the first seen (frame index).

    The rule by which the result keeps people (:meth:`inference.assemble.Assembler.ranking`);
    while collecting, the second opinion scores ahead only the faces of those leading so far, so
    that a crowd's passers-by, whom the end drops, cost no EfficientNet time (a person who rises
    later has the rest of their faces scored when judged).
    """
    return sorted(appearances, key=lambda person: (-appearances[person], first_seen[person]))[:most]


def faces_in_frame(
    frame: Frame, tracker: PeopleTracker, refiner: BoxRefiner, profile: Profile, image_size: int
) -> tuple[list[Face], int]:
    """Follow the faces of one frame and crop each with ``profile`` (the one place crops are made).

    Args:
        frame: The frame, its image (H, W, 3) uint8 BGR.
        tracker: The video's tracker; it takes this frame as its next step.
        refiner: The profile's refiner of this video (see :meth:`Profile.refiner`).
        profile: How the crops are made.
        image_size: Side of the crops, pixels.

    Returns:
        The faces, left to right, with boxes (top, right, bottom, left) in frame pixels and crops
        (image_size, image_size, 3) uint8 BGR before :meth:`Profile.finish`; and how many of the
        boxes the profile's detector did not confirm.
    """
    faces = []
    unrefined = 0
    for person, found in tracker.locate(frame.image):
        box, refined = refiner.box(frame.image, found)
        unrefined += not refined
        face_crop = profile.crop(frame.image, box, image_size)
        faces.append(Face(frame.index, frame.timestamp_s, box, face_crop, person))
    return faces, unrefined
