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
from typing import Any

import cv2
import numpy as np

from inference import second_opinion as opinions
from inference.errors import CheckpointFormatError, LimitExceededError, VideoError, WeightsUnavailableError
from inference.faces.detect import Box, area
from inference.faces.profiles import Profile
from inference.faces.profiles import get as get_profile
from inference.faces.refine import BoxRefiner
from inference.faces.tracking import PeopleTracker
from inference.links import fetch_link
from inference.models.classifier import BatchDone, Classifier, pick_device
from inference.phases import throttled
from inference.provenance import credentials
from inference.provenance.credentials import Provenance
from inference.result import (
    AnalysisResult,
    DetectorInfo,
    FrameScore,
    Opinion,
    Person,
    Verdict,
    combine,
    decide_video,
    judge_person,
    with_provenance,
)
from inference.second_opinion import SecondOpinion, Sighting
from inference.settings import OFF, Settings, SettingsError
from inference.video.identity import identify
from inference.video.plan import DecodePlan, plan_sampling
from inference.video.probe import VideoInfo, probe
from inference.video.read import DecodeAhead, Frame, sample_frames
from inference.video.window import Window, analysis_window
from inference.weights import hub
from inference.weights.config import PER_FRAME
from inference.weights.registry import EFFICIENTNET, RESNEXT, CheckpointSpec

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], what is happening) between the phases before decoding
(probe, Content Credentials, frame listing; during a link's download, every 0.25 s at most),
after every sampled frame and every batch of faces scored or explained; it may raise to stop
the analysis there."""
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
    sightings: list[Sighting] = field(default_factory=list)  # the second opinion's faces
    looked_at: Counter[int] = field(default_factory=Counter)  # person -> frames BlazeFace looked at
    second_s: float = 0.0


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
        second_opinion: str | None = None,
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
            second_opinion: The second detector, a registered ICPR 2020 entry or "off";
                default DEEPFAKE_SECOND_OPINION. When it cannot load, the first detector
                answers alone and the result says why.

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
        # The phases before decoding report no progress: the caller may stop the run between them.
        report(0.0, "reading the video")
        identity = identify(path)  # the bytes the report names, before anything else reads them
        info = probe(path, self.settings.max_pixels)
        report(0.0, "reading its Content Credentials")
        provenance = self._provenance(path)
        report(0.0, "choosing the frames")
        window = analysis_window(info, start_s, end_s, self.settings.max_duration_s)
        chosen = self.profile(profile)
        size = self.classifier.config.image_size
        second, detectors = self.load_detectors(second_opinion)
        collected = collect_faces(path, info, window, count, chosen, self.settings, size, report, second)
        if collected.sampled == 0:
            raise VideoError(f"{path.name}: no frame could be decoded")
        report(DECODED, "scoring faces")
        model_started = time.perf_counter()
        numbers = self.ranking(collected.faces)
        faces, dropped = self.keep_most_seen(collected.faces, numbers)
        collected.sightings = [s for s in collected.sightings if s.person in numbers]
        crops = chosen.finish([face.crop_bgr for face in faces])
        notes = self._notes(collected, count, window, info)
        # Grad-CAM is for per-frame first detectors; the second opinion's attention maps are its own.
        gradcam = explain and self.classifier.config.kind == PER_FRAME
        if explain and not gradcam:
            notes.append(
                f"no heatmaps of the first detector: they are computed for per-frame models, and this "
                f"checkpoint is {self.classifier.config.kind!r}"
            )
        scoring_end = SCORED if gradcam else 1.0
        second_start = scoring_end - (0.1 if second else 0.0)
        scores = self._score(faces, crops, _stage(report, DECODED, second_start, "scoring"))
        timings = {"decode": collected.decode_s, "faces": collected.faces_s}
        timings["model"] = time.perf_counter() - model_started
        second_started = time.perf_counter()
        frame_scores, people = self.judge_people(
            faces,
            scores,
            collected,
            numbers,
            second,
            explain,
            _stage(report, second_start, scoring_end, "second opinion"),
        )
        if second is not None:
            timings["second_opinion"] = collected.second_s + time.perf_counter() - second_started
        if gradcam:
            explain_started = time.perf_counter()
            heatmaps = self.classifier.explain(crops, _stage(report, SCORED, 1.0, "explaining"))
            frame_scores = [
                replace(frame, heatmap=heatmap) for frame, heatmap in zip(frame_scores, heatmaps, strict=True)
            ]
            timings["explain"] = time.perf_counter() - explain_started
        result = self.build_result(
            path.name,
            collected,
            frame_scores,
            crops,
            people,
            detectors,
            info=info,
            profile=chosen,
            notes=notes,
            dropped=dropped,
            timings={**timings, "total": time.perf_counter() - started},
            provenance=provenance,
            second_crops=self._second_crops(collected, numbers) if explain and second else {},
        )
        result.file = identity
        report(1.0, "done")
        return result

    def judge_people(
        self,
        faces: list[Face],
        scores: np.ndarray,
        collected: CollectedFaces,
        numbers: dict[int, int],
        second: SecondOpinion | None,
        explain: bool,
        done: BatchDone,
    ) -> tuple[list[FrameScore], list[Person]]:
        """The scored faces as frame scores, and each person judged by every detector.

        Args:
            faces: The kept faces in time order, renumbered (see :meth:`keep_most_seen`).
            scores: The first detector's fake probability of each face, same order.
            collected: What was gathered while decoding (sampled count, second opinion's faces).
            numbers: Tracker's person number -> our number (see :meth:`ranking`).
            second: The loaded second opinion, or None.
            explain: Also give the second opinion's attention maps.
            done: Told of the second opinion's faces after each batch (it may raise to stop).

        Raises:
            NonFiniteScoreError: If a score is NaN or infinite.
        """
        frame_scores = [
            FrameScore(face.frame_index, face.timestamp_s, face.box, float(score), None, face.person)
            for face, score in zip(faces, scores, strict=True)
        ]
        people = self._people(frame_scores, collected.sampled)
        return frame_scores, self._opinions(people, second, collected, numbers, explain, done)

    def build_result(
        self,
        name: str,
        collected: CollectedFaces,
        frame_scores: list[FrameScore],
        crops_bgr: list[np.ndarray],
        people: list[Person],
        detectors: list[DetectorInfo],
        *,
        info: VideoInfo,
        profile: Profile,
        notes: list[str],
        dropped: int,
        timings: dict[str, float],
        provenance: Provenance | None = None,
        second_crops: dict[tuple[int, int], np.ndarray] | None = None,
    ) -> AnalysisResult:
        """The result of an analysis once its faces are scored and its people judged.

        Args:
            name: The file's (or stream's) name for the report.
            collected: What was gathered while decoding.
            frame_scores: One per kept face, in time order (see :meth:`judge_people`).
            crops_bgr: The crops the network scored, (S, S, 3) uint8 BGR, same order.
            people: The people judged by every detector (see :meth:`judge_people`).
            detectors: The detectors asked, the first one first (see :meth:`load_detectors`).
            info: The video's size, frame rate and length.
            profile: The preprocessing profile the crops were made with.
            notes: What the report says first; the unavailable detectors, the people left out
                and the unconfirmed boxes follow.
            dropped: How many people were seen but left out (see :meth:`keep_most_seen`).
            timings: Seconds per stage, "total" included.
            provenance: The file's Content Credentials; none for a stream.
            second_crops: The second opinion's faces, when explained.

        Raises:
            NonFiniteScoreError: If a person's fake probability is NaN or infinite.
        """
        provenance = provenance or Provenance()
        detectors = list(detectors)
        detectors[0] = replace(detectors[0], frames_scored=len(frame_scores))
        if detectors[1].status == "used":
            detectors[1] = replace(
                detectors[1], frames_scored=sum(p.opinions[1].frames_scored for p in people)
            )
        frames_with_face = len({frame.frame_index for frame in frame_scores})
        verdict, video_opinions = self._video_verdicts(people, collected.sampled, frames_with_face, detectors)
        verdict = with_provenance(verdict, provenance)
        logger.info("%s: %s", name, verdict.message)
        return AnalysisResult(
            file_name=name,
            verdict=verdict,
            frames_sampled=collected.sampled,
            frames=frame_scores,
            crops=[cv2.cvtColor(face_crop, cv2.COLOR_BGR2RGB) for face_crop in crops_bgr],
            weights=self.classifier.info,
            video=info,
            timings=timings,
            notes=notes
            + [
                f"second opinion {d.name} unavailable: {d.reason}"
                for d in detectors
                if d.status == "unavailable"
            ]
            + self._dropped_note(dropped)
            + _unrefined_note(collected.unrefined, len(collected.faces), profile),
            people=people,
            profile=profile.name,
            detectors=detectors,
            opinions=video_opinions,
            second_crops=second_crops or {},
            provenance=provenance,
        )

    def analyze_link(self, url: str, **options: Any) -> AnalysisResult:
        """Fetch the video behind ``url`` safely, analyse it like a file, then delete it.

        A direct link to a video file or the page of a video site (through yt-dlp); see
        :mod:`inference.links` for what is vetted. The download is capped by
        DEEPFAKE_MAX_UPLOAD_MB, DEEPFAKE_LINK_MAX_DURATION_S and DEEPFAKE_LINK_TIMEOUT_S. The
        result's ``source`` records the link, the final URL, the extractor, the size and the
        sha256 of what was analysed.

        Args:
            url: An http or https link.
            **options: As for :meth:`analyze`.

        Raises:
            LinkError: A subclass that says why the link cannot be used (not allowed, too
                large, too long, not a video, timed out, refused by the site, ...).
            And whatever :meth:`analyze` raises.
        """
        settings = self.settings
        if settings.allow_private_urls:
            logger.warning(
                "DEEPFAKE_ALLOW_PRIVATE_URLS is on: links may reach private addresses (tests only)"
            )
        with fetch_link(
            url,
            max_bytes=int(settings.max_upload_mb * 1_000_000),
            max_duration_s=settings.link_max_duration_s,
            max_pixels=settings.max_pixels,
            timeout_s=settings.link_timeout_s,
            allow_private=settings.allow_private_urls,
            stop=throttled(options.get("progress"), "fetching the video behind the link"),
        ) as fetched:
            result = self.analyze(fetched.path, **options)
        # Named by its link (shortened), not by the temporary file it was fetched into.
        result.file_name = url if len(url) <= 100 else url[:99] + "…"
        result.source = fetched.to_dict()
        return result

    def _provenance(self, path: Path) -> Provenance:
        """The file's Content Credentials, read with the operator's trust anchors.

        Raises:
            SettingsError: If DEEPFAKE_C2PA_TRUST_ANCHORS can no longer be read.
            VideoError: If the video can no longer be read.
        """
        anchors = self.settings.c2pa_trust_anchors
        try:
            return credentials.read(path, anchors)
        except OSError as exc:
            if anchors and exc.filename is not None and Path(exc.filename) == Path(anchors):
                raise SettingsError(
                    f"cannot read the C2PA trust anchors {anchors} (DEEPFAKE_C2PA_TRUST_ANCHORS): "
                    f"{exc.strerror or exc}"
                ) from exc
            raise VideoError(f"{path.name}: cannot be read: {exc.strerror or exc}") from exc

    def load_detectors(self, requested: str | None) -> tuple[SecondOpinion | None, list[DetectorInfo]]:
        """The loaded second opinion (or None) and the detectors of this analysis, first one first.

        Raises:
            SettingsError: If ``requested`` is not a registered second opinion or "off".
            UnpinnedCheckpointError: If DEEPFAKE_PINNED_ONLY is set and it has no pin.
        """
        info = self.classifier.info
        first = DetectorInfo(info.name, RESNEXT, "first", "used", weights=info)
        name = requested or self.settings.second_opinion
        spec = self.settings.second_opinion_spec(name)
        if spec is None:
            return None, [first, DetectorInfo(OFF, EFFICIENTNET, "second opinion", "off")]
        try:
            second = opinions.load(
                spec, self.settings.blazeface_specs(), self.settings.device, self.settings.torch_threads
            )
        except (WeightsUnavailableError, CheckpointFormatError) as exc:
            reason = opinions.unavailable_reason(exc)
            return None, [first, DetectorInfo(name, EFFICIENTNET, "second opinion", "unavailable", reason)]
        return second, [
            first,
            DetectorInfo(name, EFFICIENTNET, "second opinion", "used", weights=second.info),
        ]

    def _opinions(
        self,
        people: list[Person],
        second: SecondOpinion | None,
        collected: CollectedFaces,
        numbers: dict[int, int],
        explain: bool,
        done: BatchDone,
    ) -> list[Person]:
        """Each person with every detector's opinion and their combined verdict.

        ``done`` is told of the second opinion's faces after each batch (it may raise to stop).
        """
        raw = {new: old for old, new in numbers.items()}
        total = len(collected.sightings)
        scored = 0
        judged = []
        for person in people:
            mine = [Opinion(self.classifier.info.name, person.verdict, person.seen)]
            if second is not None:
                sightings = [s for s in collected.sightings if s.person == raw[person.id]]
                looked_at = collected.looked_at[raw[person.id]]

                def batch_done(faces: int, _: int, before: int = scored) -> None:
                    done(before + faces, total)

                mine.append(second.judge(person, sightings, looked_at, self.settings, explain, batch_done))
                scored += len(sightings)
            judged.append(replace(person, verdict=combine(mine), opinions=tuple(mine)))
        return judged

    def _video_verdicts(
        self, people: list[Person], sampled: int, frames_with_face: int, detectors: list[DetectorInfo]
    ) -> tuple[Verdict, list[Opinion]]:
        """The video's combined verdict (from its people's) and each answering detector's own."""
        rule = (sampled, frames_with_face, self.settings.min_face_fraction, self.settings.uncertain_margin)
        verdict = decide_video(people, *rule)
        names = [detector.name for detector in detectors if detector.status == "used"]
        if not any(name in verdict.message for name in names):
            verdict = replace(verdict, message=f"{verdict.message} (detectors: {', '.join(names)})")
        video_opinions = []
        for index, name in enumerate(names):
            own = [replace(p, verdict=p.opinions[index].verdict) for p in people]
            scored = sum(p.opinions[index].frames_scored for p in people)
            video_opinions.append(Opinion(name, decide_video(own, *rule), scored))
        return verdict, video_opinions

    def _second_crops(
        self, collected: CollectedFaces, numbers: dict[int, int]
    ) -> dict[tuple[int, int], np.ndarray]:
        """The second opinion's 224 px RGB faces by (our person number, frame index)."""
        return {
            (numbers[s.person], s.frame_index): s.crop.face
            for s in collected.sightings
            if s.person in numbers
        }

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

    def ranking(self, faces: list[Face]) -> dict[int, int]:
        """Tracker's person number -> our number from 1 for the most-seen people (at most
        DEEPFAKE_MAX_PEOPLE), the most seen first, ties by first appearance."""
        seen = Counter(face.person for face in faces)
        first: dict[int, int] = {}
        for face in faces:
            first.setdefault(face.person, face.frame_index)
        ranked = sorted(seen, key=lambda person: (-seen[person], first[person]))
        return {person: rank + 1 for rank, person in enumerate(ranked[: self.settings.max_people])}

    def keep_most_seen(self, faces: list[Face], numbers: dict[int, int]) -> tuple[list[Face], int]:
        """The faces of the people ``numbers`` keeps, renumbered.

        Returns:
            The kept faces in time order (by person within a frame), and how many people were
            left out.
        """
        kept = [replace(face, person=numbers[face.person]) for face in faces if face.person in numbers]
        left_out = len({face.person for face in faces}) - len(numbers)
        return sorted(kept, key=lambda face: (face.frame_index, face.person)), left_out

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
    second: SecondOpinion | None = None,
) -> CollectedFaces:
    """Decode ``count`` frames of ``window``, follow every face and crop it with ``profile``.

    The one place crops are made, for analysis and for training (:mod:`inference.tools.training`).
    The crops are resized to ``image_size`` but not yet through :meth:`Profile.finish`. With
    ``second``, BlazeFace also looks for each person in their due frames (see
    :meth:`SecondOpinion.due`) while those are in memory.

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
    total = max(1, plan.samples)
    appearances: Counter[int] = Counter()
    for frame in frames:
        tick = time.perf_counter()
        found, unrefined = faces_in_frame(frame, tracker, refiner, profile, image_size)
        collected.faces += found
        collected.unrefined += unrefined
        located = [(face.person, face.box) for face in found]
        collected.faces_s += time.perf_counter() - tick
        appearances.update(person for person, _ in located)
        due = {
            person for person, _ in located if second is not None and second.due(appearances[person], total)
        }
        if due:
            tick = time.perf_counter()
            collected.looked_at.update(due)
            collected.sightings += second.watch(frame.image, frame.index, located, due)
            collected.second_s += time.perf_counter() - tick
        collected.sampled += 1
        if report is not None:
            report(DECODED * collected.sampled / total, f"frame {collected.sampled} of {total}")
    collected.decode_s = frames.busy_s
    return collected


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
