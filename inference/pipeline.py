"""From a video file to an :class:`AnalysisResult`: sampling, faces, scoring, verdict."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from inference.errors import LimitExceededError, VideoError
from inference.faces.detect import Box, area
from inference.faces.profiles import Profile
from inference.faces.profiles import get as get_profile
from inference.faces.tracking import PeopleTracker
from inference.models.classifier import BatchDone, Classifier, pick_device
from inference.result import AnalysisResult, FrameScore, Person, decide_video, judge_person
from inference.settings import Settings
from inference.video.sampling import (
    DecodeAhead,
    DecodePlan,
    VideoInfo,
    Window,
    analysis_window,
    plan_sampling,
    probe,
    sample_frames,
)
from inference.weights import hub
from inference.weights.config import PER_FRAME
from inference.weights.registry import CheckpointSpec

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], what is happening) after every sampled frame and every
batch of faces scored or explained; it may raise to stop the analysis there."""
# Share of the progress bar that finding faces fills; scoring (and explaining) fill the rest.
DECODED = 0.8
SCORED = 0.9


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


class Detector:
    """Analyses videos with one loaded classifier; create it once and reuse it."""

    def __init__(self, classifier: Classifier, settings: Settings) -> None:
        self.classifier = classifier
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Detector:
        """Build a detector for ``settings`` (default: from the environment).

        The classifier is loaded once per process and checkpoint, then reused.

        Raises:
            WeightsUnavailableError: If the weights cannot be found or downloaded.
            CheckpointFormatError: If the weights file is not of the expected format.
        """
        settings = settings or Settings.from_env()
        classifier = load_classifier(settings.checkpoint_spec(), settings.device, settings.torch_threads)
        return cls(classifier, settings)

    def profile(self, name: str | None = None) -> Profile:
        """The preprocessing profile: ``name``, else DEEPFAKE_PROFILE, else the checkpoint's.

        Raises:
            UnknownProfileError: If the name is not a profile.
        """
        return get_profile(name or self.settings.profile or self.classifier.config.preprocessing)

    @property
    def default_frames(self) -> int:
        """Frames sampled when the caller does not say: the checkpoint's sequence length."""
        return min(self.classifier.config.frames, self.settings.max_frames)

    def analyze(
        self,
        path: str | Path,
        frames: int | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
        progress: Progress | None = None,
        explain: bool = False,
        profile: str | None = None,
    ) -> AnalysisResult:
        """Analyse one video.

        Args:
            path: Video file (any container OpenCV's FFmpeg can read).
            frames: How many frames to sample evenly; default :attr:`default_frames`.
            start_s: Start of the window to sample from, seconds; default the beginning.
            end_s: End of the window, seconds; default the end of the clip.
            progress: Optional callback for progress reports.
            explain: Also compute a Grad-CAM heatmap for every scored face (costs about as
                much again as scoring).
            profile: Preprocessing profile ("training" or "app"); default :meth:`profile`.

        Returns:
            The result; its verdict is CANNOT JUDGE when too few frames show a face.

        Raises:
            VideoError: If the file cannot be decoded.
            LimitExceededError: If the file or request is beyond a configured limit.
            InvalidWindowError: If start_s/end_s is negative, not finite, or the end is not
                after the start.
            NonFiniteScoreError: If the model gives NaN or infinite scores (broken weights).
        """
        started = time.perf_counter()
        report = progress or (lambda fraction, message: None)
        path = Path(path)
        count = self._check_request(path, frames)
        info = probe(path, self.settings.max_pixels)
        window = analysis_window(info, start_s, end_s, self.settings.max_duration_s)
        chosen = self.profile(profile)
        size = self.classifier.config.image_size
        collected = collect_faces(path, info, window, count, chosen, self.settings, size, report)
        if collected.sampled == 0:
            raise VideoError(f"{path.name}: no frame could be decoded")
        report(DECODED, "scoring faces")
        model_started = time.perf_counter()
        faces, dropped = self._keep_most_seen(collected.faces)
        crops = chosen.finish([face.crop_bgr for face in faces])
        scores = self._score(faces, crops, _stage(report, DECODED, SCORED if explain else 1.0, "scoring"))
        timings = {"decode": collected.decode_s, "faces": collected.faces_s}
        timings["model"] = time.perf_counter() - model_started
        heatmaps: list[np.ndarray | None] = [None] * len(faces)
        notes = self._notes(collected, count, window, info)
        if explain and self.classifier.config.kind != PER_FRAME:
            explain = False
            notes.append(
                f"no heatmaps: they are computed for per-frame models, and this checkpoint is "
                f"{self.classifier.config.kind!r}"
            )
        if explain:
            explain_started = time.perf_counter()
            heatmaps = list(self.classifier.explain(crops, _stage(report, SCORED, 1.0, "explaining")))
            timings["explain"] = time.perf_counter() - explain_started
        frame_scores = [
            FrameScore(face.frame_index, face.timestamp_s, face.box, float(score), heatmap, face.person)
            for face, score, heatmap in zip(faces, scores, heatmaps, strict=True)
        ]
        people = self._people(frame_scores, collected.sampled)
        frames_with_face = len({face.frame_index for face in faces})
        verdict = decide_video(
            people,
            collected.sampled,
            frames_with_face,
            self.settings.min_face_fraction,
            self.settings.uncertain_margin,
        )
        logger.info("%s: %s", path.name, verdict.message)
        report(1.0, "done")
        return AnalysisResult(
            file_name=path.name,
            verdict=verdict,
            frames_sampled=collected.sampled,
            frames=frame_scores,
            crops=[cv2.cvtColor(face_crop, cv2.COLOR_BGR2RGB) for face_crop in crops],
            weights=self.classifier.info,
            video=info,
            timings={**timings, "total": time.perf_counter() - started},
            notes=notes
            + self._dropped_note(dropped)
            + _unrefined_note(collected.unrefined, len(collected.faces), chosen),
            people=people,
            profile=chosen.name,
        )

    def _score(self, faces: list[Face], crops: list[np.ndarray], done: BatchDone) -> np.ndarray:
        """Fake probability per face: per crop, or per person's sequence for ``temporal`` models."""
        if self.classifier.config.kind == PER_FRAME:
            return self.classifier.fake_probabilities(crops, done)
        scores = np.zeros(len(faces))
        scored = 0
        for person in sorted({face.person for face in faces}):
            mine = [i for i, face in enumerate(faces) if face.person == person]
            scores[mine] = self.classifier.window_probabilities([crops[i] for i in mine])
            scored += len(mine)
            done(scored, len(faces))
        return scores

    def _keep_most_seen(self, faces: list[Face]) -> tuple[list[Face], int]:
        """The faces of the most-seen people (at most DEEPFAKE_MAX_PEOPLE), renumbered from 1.

        Returns:
            The kept faces in time order (by person within a frame), and how many people were
            left out.
        """
        seen = Counter(face.person for face in faces)
        first = {}
        for face in faces:
            first.setdefault(face.person, face.frame_index)
        ranked = sorted(seen, key=lambda person: (-seen[person], first[person]))
        numbers = {person: rank + 1 for rank, person in enumerate(ranked[: self.settings.max_people])}
        kept = [replace(face, person=numbers[face.person]) for face in faces if face.person in numbers]
        return sorted(kept, key=lambda face: (face.frame_index, face.person)), len(ranked) - len(numbers)

    def _people(self, frames: list[FrameScore], sampled: int) -> list[Person]:
        people = []
        for number in sorted({frame.person for frame in frames}):
            mine = [i for i, frame in enumerate(frames) if frame.person == number]
            scores = [frames[i].fake_probability for i in mine]
            people.append(
                Person(
                    id=number,
                    verdict=judge_person(
                        number,
                        scores,
                        sampled,
                        self.settings.min_face_fraction,
                        self.settings.uncertain_margin,
                    ),
                    seen=len(mine),
                    first_seen_s=frames[mine[0]].timestamp_s,
                    last_seen_s=frames[mine[-1]].timestamp_s,
                    representative=max(mine, key=lambda i: area(frames[i].box)),
                )
            )
        return people

    def _dropped_note(self, dropped: int) -> list[str]:
        if not dropped:
            return []
        return [
            f"{dropped} more people were seen but not analysed: at most {self.settings.max_people} "
            "per video, the most seen first (DEEPFAKE_MAX_PEOPLE)"
        ]

    def _notes(self, collected: CollectedFaces, count: int, window: Window, info: VideoInfo) -> list[str]:
        notes = []
        plan = collected.plan
        # Frames the decoding plan leaves out on purpose are told by its own note, not here.
        expected = plan.samples if plan is not None else min(count, window.stop - window.first)
        if collected.sampled < expected:
            notes.append(
                f"only {collected.sampled} of the {expected} requested frames could be decoded "
                "(the file is shorter than it claims, or partly broken)"
            )
        if plan is not None and (decoding := plan.note()):
            notes.append(decoding)
        if window.truncated:
            notes.append(
                f"only the first {self.settings.max_duration_s:g} s of the window were analysed "
                f"(DEEPFAKE_MAX_DURATION_S); the video is {info.duration_s:.0f} s long"
            )
        return notes

    def _check_request(self, path: Path, frames: int | None) -> int:
        count = self.default_frames if frames is None else int(frames)
        if not 1 <= count <= self.settings.max_frames:
            raise LimitExceededError(
                f"asked for {count} frames; allowed is 1 to {self.settings.max_frames} (DEEPFAKE_MAX_FRAMES)"
            )
        if path.is_file():
            size_mb = path.stat().st_size / 1e6
            if size_mb > self.settings.max_upload_mb:
                raise LimitExceededError(
                    f"{path.name} is {size_mb:.0f} MB; the limit is "
                    f"{self.settings.max_upload_mb:g} MB (DEEPFAKE_MAX_UPLOAD_MB)"
                )
        return count


def collect_faces(
    path: Path,
    info: VideoInfo,
    window: Window,
    count: int,
    profile: Profile,
    settings: Settings,
    image_size: int,
    report: Progress | None = None,
) -> CollectedFaces:
    """Decode ``count`` frames of ``window``, follow every face and crop it with ``profile``.

    The one place crops are made, for analysis and for training (:mod:`inference.tools.training`).
    The crops are resized to ``image_size`` but not yet through :meth:`Profile.finish`.

    Raises:
        DecodeBudgetError: If no frame of the window can be had within settings.max_decode_pixels.
    """
    plan = plan_sampling(path, info, window, count, settings.max_decode_pixels)
    tracker = PeopleTracker(settings.face_model, settings.detect_max_side, count)
    refiner = profile.refiner()
    collected = CollectedFaces(plan=plan)
    frames = DecodeAhead(sample_frames(path, window, count, info.decoder, plan))
    total = max(1, plan.samples)
    for frame in frames:
        tick = time.perf_counter()
        for person, found in tracker.locate(frame.image):
            box, refined = refiner.box(frame.image, found)
            collected.unrefined += not refined
            face_crop = profile.crop(frame.image, box, image_size)
            collected.faces.append(Face(frame.index, frame.timestamp_s, box, face_crop, person))
        collected.faces_s += time.perf_counter() - tick
        collected.sampled += 1
        if report is not None:
            report(DECODED * collected.sampled / total, f"frame {collected.sampled} of {total}")
    collected.decode_s = frames.busy_s
    return collected


def _stage(report: Progress, start: float, end: float, doing: str) -> BatchDone:
    """Progress of a model stage, from ``start`` to ``end`` of the whole analysis."""

    def done(crops: int, total: int) -> None:
        report(start + (end - start) * crops / max(1, total), f"{doing} faces: {crops} of {total}")

    return done


def _unrefined_note(unrefined: int, faces: int, profile: Profile) -> list[str]:
    if not unrefined:
        return []
    return [
        f"{unrefined} of {faces} faces were cropped from the face finder's own box: the "
        f"{profile.detector.upper()} detector of the '{profile.name}' profile did not confirm them"
    ]


_loading = threading.Lock()


def load_classifier(spec: CheckpointSpec, device: str, torch_threads: int) -> Classifier:
    """Resolve and load a checkpoint once per process (cached by spec, device and threads).

    Requests that arrive together while it loads wait for the one load.
    """
    with _loading:
        return _load_classifier(spec, device, torch_threads)


@lru_cache(maxsize=4)
def _load_classifier(spec: CheckpointSpec, device: str, torch_threads: int) -> Classifier:
    return Classifier.load(hub.resolve(spec), pick_device(device), torch_threads)
