"""From a video file to an :class:`AnalysisResult`: sampling, faces, scoring, verdict."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from inference import second_opinion as opinions
from inference.assemble import Assembler
from inference.collect import DECODED, CollectedFaces, Face, Progress, collect_faces
from inference.errors import (
    CheckpointFormatError,
    LimitExceededError,
    RuntimeUnavailableError,
    VideoError,
    WeightsUnavailableError,
)
from inference.faces.profiles import Profile
from inference.faces.profiles import get as get_profile
from inference.links import fetch_link
from inference.models.classifier import BatchDone, Classifier, pick_device
from inference.models.runtime import EAGER, Runtime
from inference.phases import throttled
from inference.provenance import credentials
from inference.provenance.claims import Provenance
from inference.result import AnalysisResult, DetectorInfo
from inference.second_opinion import SecondOpinion
from inference.settings import OFF, Settings, SettingsError
from inference.video.identity import identify
from inference.video.probe import VideoInfo, probe
from inference.video.window import analysis_window
from inference.weights import hub
from inference.weights.config import PER_FRAME
from inference.weights.registry import EFFICIENTNET, RESNEXT, CheckpointSpec

logger = logging.getLogger(__name__)

# Share of the progress bar filled once the faces are scored (DECODED: once they are found);
# explaining fills the rest.
SCORED = 0.9


class Detector(Assembler):
    """Analyses videos with one loaded classifier; create it once and reuse it.

    The result is assembled by the methods of :class:`~inference.assemble.Assembler`.
    """

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
        classifier = load_classifier(
            settings.checkpoint_spec(), settings.device, settings.torch_threads, settings.network_runtime()
        )
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
        notes = self._notes(collected, count, window, info)
        result = self._scored(
            path.name,
            collected,
            chosen,
            second,
            detectors,
            info=info,
            notes=notes,
            provenance=provenance,
            explain=explain,
            report=report,
            started=started,
        )
        result.file = identity
        report(1.0, "done")
        return result

    def _scored(
        self,
        name: str,
        collected: CollectedFaces,
        chosen: Profile,
        second: SecondOpinion | None,
        detectors: list[DetectorInfo],
        *,
        info: VideoInfo,
        notes: list[str],
        provenance: Provenance,
        explain: bool,
        report: Progress,
        started: float,
    ) -> AnalysisResult:
        """The rest of :meth:`analyze` once the faces are collected: scored, judged, explained.

        Raises:
            NonFiniteScoreError: If the model gives NaN or infinite scores (broken weights).
        """
        report(DECODED, "scoring faces")
        model_started = time.perf_counter()
        numbers = self.ranking(collected.faces)
        faces, dropped = self.keep_most_seen(collected.faces, numbers)
        collected.sightings = [s for s in collected.sightings if s.person in numbers]
        crops = chosen.finish([face.crop_bgr for face in faces])
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
        return self.build_result(
            name,
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
                spec,
                self.settings.blazeface_specs(),
                self.settings.device,
                self.settings.torch_threads,
                self.settings.network_runtime(),
            )
        except (WeightsUnavailableError, CheckpointFormatError, RuntimeUnavailableError) as exc:
            reason = opinions.unavailable_reason(exc)
            return None, [first, DetectorInfo(name, EFFICIENTNET, "second opinion", "unavailable", reason)]
        return second, [
            first,
            DetectorInfo(name, EFFICIENTNET, "second opinion", "used", weights=second.info),
        ]

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


def _stage(report: Progress, start: float, end: float, doing: str) -> BatchDone:
    """Progress of a model stage, from ``start`` to ``end`` of the whole analysis."""

    def done(crops: int, total: int) -> None:
        report(start + (end - start) * crops / max(1, total), f"{doing} faces: {crops} of {total}")

    return done


_loading = threading.Lock()


def load_classifier(
    spec: CheckpointSpec, device: str, torch_threads: int, runtime: Runtime = EAGER
) -> Classifier:
    """Resolve and load a checkpoint once per process (cached by spec, device and threads).

    Requests that arrive together while it loads wait for the one load.
    """
    with _loading:
        return _load_classifier(spec, device, torch_threads, runtime)


@lru_cache(maxsize=4)
def _load_classifier(spec: CheckpointSpec, device: str, torch_threads: int, runtime: Runtime) -> Classifier:
    # The bytes hashed while resolving are the ones parsed: the file is read and hashed once.
    return Classifier.load(hub.resolve(spec, keep_bytes=True), pick_device(device), torch_threads, runtime)
