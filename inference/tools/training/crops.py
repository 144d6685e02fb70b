"""Face-crop sequences for training, made by the engine's crop code and cached on disk.

Each video's crops are those :func:`inference.collect.collect_faces` makes for analysis with
the same profile (boxes, resize, MJPG round trip), of the person seen most often, saved as one
``.npy`` array (N, S, S, 3) uint8 BGR. A file is named by a hash of the video (path, size,
modification time) and the settings, so a stopped run resumes where it stopped and a changed
setting makes new files. Videos are processed in parallel worker processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inference.collect import collect_faces
from inference.errors import DeepfakeDetectorError
from inference.faces.profiles import get as get_profile
from inference.settings import Settings
from inference.tools.datasets import LabelledVideo
from inference.video.probe import probe
from inference.video.window import analysis_window

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropRecipe:
    """How crops are made: frames sampled per video, profile, crop side."""

    frames: int
    profile: str
    image_size: int


@dataclass(frozen=True)
class CachedVideo:
    """One video's crops on disk.

    Attributes:
        video: The labelled video.
        file: ``.npy`` array (N, S, S, 3) uint8 BGR, in time order; N may be 0 (no face).
        count: N.
    """

    video: LabelledVideo
    file: Path
    count: int

    def load(self) -> np.ndarray:
        """The crops, memory-mapped (read from disk as they are used)."""
        return np.load(self.file, mmap_mode="r")


def cache_file(folder: Path, video: LabelledVideo, recipe: CropRecipe) -> Path:
    """Where ``video``'s crops for ``recipe`` are kept."""
    stat = video.path.stat()
    key = json.dumps([str(video.path.resolve()), stat.st_size, stat.st_mtime_ns, recipe.__dict__])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return folder / f"{video.path.stem}-{digest}.npy"


def video_crops(path: Path, recipe: CropRecipe, settings: Settings) -> np.ndarray:
    """The crops of the most-seen person of one video, (N, S, S, 3) uint8 BGR, time order.

    Raises:
        DeepfakeDetectorError: If the video cannot be decoded or is beyond a limit.
    """
    info = probe(path, settings.max_pixels)
    window = analysis_window(info, None, None, settings.max_duration_s)
    profile = get_profile(recipe.profile)
    collected = collect_faces(path, info, window, recipe.frames, profile, settings, recipe.image_size)
    if not collected.faces:
        return np.zeros((0, recipe.image_size, recipe.image_size, 3), np.uint8)
    person = Counter(face.person for face in collected.faces).most_common(1)[0][0]
    crops = profile.finish([face.crop_bgr for face in collected.faces if face.person == person])
    return np.stack(crops)


def _make(path: Path, target: Path, recipe: CropRecipe, settings: Settings) -> tuple[int, str | None]:
    """Make and save one video's crops (in a worker process); returns (count, error)."""
    try:
        crops = video_crops(path, recipe, settings)
    except DeepfakeDetectorError as exc:
        return 0, str(exc)
    partial = target.with_suffix(".partial.npy")
    np.save(partial, crops)
    os.replace(partial, target)  # a stop while saving never leaves a file that looks done
    return len(crops), None


def preprocess(
    videos: list[LabelledVideo], folder: Path, recipe: CropRecipe, settings: Settings, workers: int = 1
) -> list[CachedVideo]:
    """Make (or find in ``folder``) the crops of every video.

    Videos that cannot be decoded are logged and left out; videos without a face are kept
    with no crops (the datasets skip them).

    Returns:
        One entry per usable video, in the order given.
    """
    folder.mkdir(parents=True, exist_ok=True)
    targets = {video: cache_file(folder, video, recipe) for video in videos}
    todo = [video for video in videos if not targets[video].is_file()]
    failed: dict[LabelledVideo, str] = {}
    if todo:
        logger.info("making crops of %d videos (%d cached)", len(todo), len(videos) - len(todo))
        bar = tqdm(total=len(todo), desc="crops", unit="video", file=sys.stderr)
        if workers > 1:
            # Spawned workers: dlib, OpenCV and torch state is not shared with the parent.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                jobs = {pool.submit(_make, v.path, targets[v], recipe, settings): v for v in todo}
                for job in as_completed(jobs):
                    _note(failed, jobs[job], job.result()[1])
                    bar.update()
        else:
            for video in todo:
                _note(failed, video, _make(video.path, targets[video], recipe, settings)[1])
                bar.update()
        bar.close()
    for video, error in failed.items():
        logger.warning("left out %s: %s", video.path, error)
    return [
        CachedVideo(video, targets[video], len(np.load(targets[video], mmap_mode="r")))
        for video in videos
        if video not in failed
    ]


def _note(failed: dict[LabelledVideo, str], video: LabelledVideo, error: str | None) -> None:
    if error is not None:
        failed[video] = error
