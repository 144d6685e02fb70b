"""The typed, JSON-serialisable outcome of analysing one video, and its labels.

The rules that give the verdicts are in :mod:`inference.verdict`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inference.faces.detect import Box
from inference.provenance.claims import Provenance
from inference.video.identity import FileIdentity, utc_now
from inference.video.probe import VideoInfo
from inference.weights.hub import WeightsInfo

FAKE = "FAKE"
REAL = "REAL"
UNCERTAIN = "UNCERTAIN"
CANNOT_JUDGE = "CANNOT JUDGE"
LABELS = (FAKE, REAL, UNCERTAIN, CANNOT_JUDGE)
THRESHOLD = 0.5
DISAGREE = "the detectors disagree"
# What each label means, in the words the app, the API and the CLI use.
MEANING = {
    FAKE: "strong signs of manipulation",
    REAL: "no sign of manipulation the model can see",
    UNCERTAIN: "the model cannot tell",
    CANNOT_JUDGE: "too few frames show a face to judge",
}


@dataclass(frozen=True)
class FrameScore:
    """The score of one sampled frame in which a face was found.

    Attributes:
        frame_index: Frame number in the file (0-based).
        timestamp_s: Time of the frame in seconds.
        box: Face box (top, right, bottom, left) in full-resolution pixels.
        fake_probability: The network's probability that this face is manipulated.
        heatmap: When asked for, the Grad-CAM map of the FAKE probability over the crop,
            shape (h, w) (7x7 for 112 px crops), values in [0, 1], row 0 at the top.
        person: Which person (see :class:`Person`) the face belongs to, from 1.
    """

    frame_index: int
    timestamp_s: float
    box: Box
    fake_probability: float
    heatmap: np.ndarray | None = None
    person: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Return the score as plain JSON types (the heatmap as rows of numbers, when present)."""
        data: dict[str, Any] = {
            "person": self.person,
            "frame_index": self.frame_index,
            "timestamp_s": round(self.timestamp_s, 3),
            "box_top_right_bottom_left": list(self.box),
            "fake_probability": self.fake_probability,
        }
        if self.heatmap is not None:
            data["heatmap"] = np.round(self.heatmap, 3).tolist()
        return data


@dataclass(frozen=True)
class Verdict:
    """The video-level decision derived from the per-frame scores."""

    label: str
    fake_probability: float | None
    confidence: float | None
    message: str


@dataclass(frozen=True)
class OpinionFrame:
    """One face the second detector scored.

    Attributes:
        frame_index: Frame number in the file (0-based).
        blazeface_box: (left, top, right, bottom), margin included: the float32 box the
            face was cut from, in the pixels of the image of ``blazeface_frame_size``. The
            ICPR 2020 crop of that image for this box is the scored face, pixel for pixel (see
            :func:`inference.faces.icpr_crops.rebuild`).
        blazeface_frame_size: (width, height) of the image BlazeFace looked at and the face
            was cut from: the frame itself, or, when its short side is above 1080 px, the frame
            shrunk to that size with OpenCV's INTER_AREA.
        fake_probability: sigmoid of the detector's logit for this face.
        attention: When asked for, the detector's own attention map over its 224 px crop,
            (28, 28) in [0, 1], row 0 at the top (AutoAtt networks only).
    """

    frame_index: int
    blazeface_box: tuple[float, float, float, float]
    blazeface_frame_size: tuple[int, int]
    fake_probability: float
    attention: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """The frame as plain JSON types."""
        data: dict[str, Any] = {
            "frame_index": self.frame_index,
            "blazeface_box": list(self.blazeface_box),
            "blazeface_frame_size": list(self.blazeface_frame_size),
            "fake_probability": self.fake_probability,
        }
        if self.attention is not None:
            data["attention"] = np.round(self.attention, 3).tolist()
        return data


@dataclass(frozen=True)
class Opinion:
    """One detector's verdict on one person or on the whole video.

    Attributes:
        detector: The detector's registry name.
        verdict: Its verdict, same labels and margin as every verdict.
        frames_scored: How many faces it scored.
        frames: The faces it scored, for the second detector (the first detector's are
            :attr:`AnalysisResult.frames`).
    """

    detector: str
    verdict: Verdict
    frames_scored: int = 0
    frames: tuple[OpinionFrame, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The opinion as plain JSON types."""
        data: dict[str, Any] = {
            "detector": self.detector,
            "verdict": self.verdict.label,
            "fake_probability": self.verdict.fake_probability,
            "confidence": self.verdict.confidence,
            "message": self.verdict.message,
            "frames_scored": self.frames_scored,
        }
        if self.frames:
            data["frames"] = [frame.to_dict() for frame in self.frames]
        return data


@dataclass(frozen=True)
class DetectorInfo:
    """A detector of this analysis: what it is and whether it answered.

    Attributes:
        name: Registry name.
        family: "resnext-lstm" or "icpr2020-efficientnet".
        role: "first" or "second opinion".
        status: "used", "off" (not asked for) or "unavailable" (asked for, could not load).
        reason: Why it is unavailable.
        weights: Where its weights came from and their hash, when used.
        frames_scored: Faces it scored in this video.
    """

    name: str
    family: str
    role: str
    status: str
    reason: str | None = None
    weights: WeightsInfo | None = None
    frames_scored: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The detector as plain JSON types."""
        return {
            "name": self.name,
            "family": self.family,
            "role": self.role,
            "status": self.status,
            "reason": self.reason,
            "weights": self.weights.location if self.weights else None,
            "sha256": self.weights.sha256 if self.weights else None,
            "frames_scored": self.frames_scored,
        }


@dataclass(frozen=True)
class Person:
    """One person followed through the clip, and their own verdict.

    Attributes:
        id: Number from 1, the most-seen person first.
        verdict: The person's verdict: the detectors' verdicts combined by
            :func:`~inference.verdict.combine` (with one detector, its verdict, see
            :func:`~inference.verdict.decide`); CANNOT JUDGE when seen briefly.
        seen: In how many sampled frames the person's face was found and scored.
        first_seen_s: Time of the first of those frames, seconds.
        last_seen_s: Time of the last of those frames, seconds.
        representative: Index into :attr:`AnalysisResult.frames` of the person's largest face.
        opinions: Each detector's own verdict on the person, the first detector first.
    """

    id: int
    verdict: Verdict
    seen: int
    first_seen_s: float
    last_seen_s: float
    representative: int
    opinions: tuple[Opinion, ...] = ()

    @property
    def judged(self) -> bool:
        """Whether the person was seen often enough to get a verdict."""
        return self.verdict.label != CANNOT_JUDGE

    def to_dict(self, frames: list[FrameScore]) -> dict[str, Any]:
        """The person as plain JSON types, with their frames taken from ``frames``."""
        return {
            "id": self.id,
            "verdict": self.verdict.label,
            "fake_probability": self.verdict.fake_probability,
            "confidence": self.verdict.confidence,
            "message": self.verdict.message,
            "seen_in_frames": self.seen,
            "first_seen_s": round(self.first_seen_s, 3),
            "last_seen_s": round(self.last_seen_s, 3),
            "representative_frame_index": frames[self.representative].frame_index,
            "frames": [frame.to_dict() for frame in frames if frame.person == self.id],
            "detectors": [opinion.to_dict() for opinion in self.opinions],
        }


@dataclass
class AnalysisResult:
    """Everything the engine found out about one video.

    Attributes:
        file_name: Base name of the analysed file.
        verdict: The decision, see :func:`~inference.verdict.decide`.
        frames_sampled: How many frames were decoded and searched for a face.
        frames: One entry per scored face, in time order (by person within a frame).
        crops: The face crops the network scored, each (S, S, 3) uint8 RGB, same order as
            ``frames``. Not part of the JSON.
        people: Every person followed (at most DEEPFAKE_MAX_PEOPLE), the most seen first.
        weights: Which checkpoint produced the scores.
        video: Size, frame rate and length of the file.
        timings: Seconds per stage: decode, faces, model, total.
        notes: Anything the user should know about what was not analysed.
        profile: The preprocessing profile the crops were made with ("training" or "app").
        detectors: The detectors asked, the first one first, and whether they answered.
        opinions: Each answering detector's own verdict on the video; :attr:`verdict`
            combines them (see :func:`~inference.verdict.combine`, applied per person).
        second_crops: When explanations were asked for, the second detector's 224 px RGB
            crops by (person, frame_index). Not part of the JSON.
        provenance: The file's Content Credentials (C2PA); see :func:`~inference.verdict.with_provenance`.
        source: For a video fetched from a link: the link, the final URL, the extractor,
            the downloaded size and its sha256 (see :mod:`inference.links`); else None.
        file: Size and sha256 of the analysed file's bytes; None for a live stream.
        analysed_at: When the result was made, UTC, ISO 8601.
    """

    file_name: str
    verdict: Verdict
    frames_sampled: int
    frames: list[FrameScore]
    crops: list[np.ndarray]
    weights: WeightsInfo
    video: VideoInfo
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    profile: str = "training"
    detectors: list[DetectorInfo] = field(default_factory=list)
    opinions: list[Opinion] = field(default_factory=list)
    second_crops: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    source: dict[str, Any] | None = None
    file: FileIdentity | None = None
    analysed_at: str = field(default_factory=utc_now)

    @property
    def frames_with_face(self) -> int:
        """Number of sampled frames in which at least one face was found and scored."""
        return len({frame.frame_index for frame in self.frames})

    @property
    def people_judged(self) -> int:
        """How many people were seen often enough to be judged."""
        return sum(person.judged for person in self.people)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON types (without the crops)."""
        return {
            "file_name": self.file_name,
            "file": {"name": self.file_name, **self.file.to_dict()} if self.file else None,
            "analysed_at": self.analysed_at,
            "verdict": self.verdict.label,
            "fake_probability": self.verdict.fake_probability,
            "confidence": self.verdict.confidence,
            "message": self.verdict.message,
            "frames_sampled": self.frames_sampled,
            "frames_with_face": self.frames_with_face,
            "people_judged": self.people_judged,
            "people": [person.to_dict(self.frames) for person in self.people],
            "frames": [frame.to_dict() for frame in self.frames],
            "weights": self.weights.to_dict(),
            "detectors": [detector.to_dict() for detector in self.detectors],
            "opinions": [opinion.to_dict() for opinion in self.opinions],
            "provenance": self.provenance.to_dict(),
            "source": self.source,
            "profile": self.profile,
            "video": self.video.to_dict(),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Return :meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)
