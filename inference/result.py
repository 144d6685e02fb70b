"""The typed, JSON-serialisable outcome of analysing one video, and the verdict rule."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from inference.errors import NonFiniteScoreError
from inference.faces.detect import Box
from inference.provenance.credentials import Provenance
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


def needed_frames(sampled: int, min_face_fraction: float) -> int:
    """Sampled frames in which a person must be seen to be judged (at least one)."""
    # The slack (as for the margin in decide) keeps 0.07 * 100 = 7.000000000000001 at 7.
    return max(1, int(np.ceil(min_face_fraction * sampled - 1e-9)))


def check_finite(scores: list[float], what: str = "faces") -> None:
    """Refuse scores that are NaN or infinite: they come from broken weights, never a verdict.

    Args:
        scores: Fake probabilities.
        what: What the scores belong to, for the message ("faces", "people").

    Raises:
        NonFiniteScoreError: Naming how many of the scores are not finite.
    """
    bad = int(np.count_nonzero(~np.isfinite(np.asarray(scores, dtype=np.float64))))
    if bad:
        raise NonFiniteScoreError(
            f"the model gave non-finite scores (NaN or infinity) for {bad} of {len(scores)} {what}: "
            "the weights are broken or were changed while loaded; nothing was judged. Restart with "
            "weights whose sha256 you have checked (DEEPFAKE_WEIGHTS_SHA256)"
        )


def decide(
    scores: list[float], sampled: int, min_face_fraction: float, uncertain_margin: float = 0.1
) -> Verdict:
    """Turn per-frame fake probabilities into a verdict.

    Rule: when at least ``min_face_fraction`` of the ``sampled`` frames (and at least one)
    showed a face, the video's fake probability is the mean over those frames. Within
    ``uncertain_margin`` of 0.5 the answer is UNCERTAIN (a mean near 0.5 is no evidence either
    way); above that FAKE, below it REAL. The confidence is the probability of the more likely
    label (for UNCERTAIN too). With fewer faces the answer is CANNOT JUDGE, with the counts.

    Raises:
        NonFiniteScoreError: If any score is NaN or infinite.
    """
    check_finite(scores)
    needed = needed_frames(sampled, min_face_fraction)
    if len(scores) < needed:
        return Verdict(
            label=CANNOT_JUDGE,
            fake_probability=None,
            confidence=None,
            message=(
                f"cannot judge: face found in {len(scores)} of {sampled} sampled frames "
                f"(at least {needed} needed). Try a clip where one face is clearly visible."
            ),
        )
    fake = float(np.mean(scores))
    counts = f"mean fake probability {fake:.2f} over {len(scores)} of {sampled} sampled frames with a face"
    return verdict_for(fake, counts, uncertain_margin)


def verdict_for(fake: float, counts: str, uncertain_margin: float) -> Verdict:
    """The verdict for a fake probability: UNCERTAIN within ``uncertain_margin`` of 0.5, else FAKE or REAL.

    Args:
        fake: The fake probability, in [0, 1].
        counts: What it is computed from, for the message.
        uncertain_margin: Half-width of the UNCERTAIN band around 0.5.
    """
    # The small slack keeps the edges (0.4 and 0.6 at the default margin) out of the band
    # despite floating-point error.
    if abs(fake - THRESHOLD) < uncertain_margin - 1e-9:
        label = UNCERTAIN
    else:
        label = FAKE if fake >= THRESHOLD else REAL
    confidence = max(fake, 1.0 - fake)
    if label == UNCERTAIN:
        message = f"UNCERTAIN: {MEANING[UNCERTAIN]} ({counts}, within 0.5 ± {uncertain_margin:g})."
    else:
        message = f"{label} with {confidence:.0%} confidence, {MEANING[label]}: {counts}."
    return Verdict(label=label, fake_probability=fake, confidence=confidence, message=message)


@dataclass(frozen=True)
class OpinionFrame:
    """One face the second detector scored.

    Attributes:
        frame_index: Frame number in the file (0-based).
        blazeface_box: (left, top, right, bottom) in frame pixels, margin included, as the
            ICPR 2020 extraction stored it.
        fake_probability: sigmoid of the detector's logit for this face.
        attention: When asked for, the detector's own attention map over its 224 px crop,
            (28, 28) in [0, 1], row 0 at the top (AutoAtt networks only).
    """

    frame_index: int
    blazeface_box: tuple[int, int, int, int]
    fake_probability: float
    attention: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """The frame as plain JSON types."""
        data: dict[str, Any] = {
            "frame_index": self.frame_index,
            "blazeface_box": list(self.blazeface_box),
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


def combine(opinions: list[Opinion]) -> Verdict:
    """The combined verdict of several detectors on one person: the rule every verdict follows.

    - FAKE when a detector says FAKE and none says REAL;
    - REAL when a detector says REAL and none says FAKE;
    - UNCERTAIN when they contradict ("the detectors disagree", with who said what), or when
      none leans either way (UNCERTAIN, or UNCERTAIN beside one that could not judge);
    - CANNOT JUDGE when none could judge.

    The fake probability is the mean of those of the detectors the verdict rests on (those that
    say FAKE, or REAL; for UNCERTAIN, all that judged), so a FAKE or REAL stays beyond the
    margin; the confidence is that of the more likely label. The message names the detector(s)
    the verdict rests on.
    With one detector, its own verdict, with its name added.
    """
    if len(opinions) == 1:
        only = opinions[0]
        return replace(
            only.verdict, message=f"{only.verdict.message.rstrip('.')} (detector: {only.detector})."
        )
    judged = [o for o in opinions if o.verdict.label != CANNOT_JUDGE]
    if not judged:
        reasons = "; ".join(f"{o.detector}: {o.verdict.message}" for o in opinions)
        return Verdict(CANNOT_JUDGE, None, None, f"cannot judge: no detector could. {reasons}")
    says = {label: [o for o in judged if o.verdict.label == label] for label in (FAKE, REAL)}
    who = "; ".join(_said(o) for o in opinions)
    if says[FAKE] and says[REAL]:
        fake = _mean(judged)
        return Verdict(UNCERTAIN, fake, max(fake, 1.0 - fake), f"UNCERTAIN: {DISAGREE} ({who}).")
    for label in (FAKE, REAL):
        if says[label]:
            # The probability of the detectors the verdict rests on: it stays beyond the margin.
            fake = _mean(says[label])
            confidence = max(fake, 1.0 - fake)
            names = " and ".join(o.detector for o in says[label])
            message = (
                f"{label} with {confidence:.0%} confidence, {MEANING[label]}, according to {names} ({who})."
            )
            return Verdict(label, fake, confidence, message)
    fake = _mean(judged)
    return Verdict(
        UNCERTAIN, fake, max(fake, 1.0 - fake), f"UNCERTAIN: no detector leans either way ({who})."
    )


def _mean(opinions: list[Opinion]) -> float:
    return float(np.mean([o.verdict.fake_probability for o in opinions]))


def _said(opinion: Opinion) -> str:
    verdict = opinion.verdict
    if verdict.label == CANNOT_JUDGE:
        return f"{opinion.detector} could not judge: {verdict.message}"
    return f"{opinion.detector} says {verdict.label}, fake probability {verdict.fake_probability:.2f}"


@dataclass(frozen=True)
class Person:
    """One person followed through the clip, and their own verdict.

    Attributes:
        id: Number from 1, the most-seen person first.
        verdict: The person's verdict: the detectors' verdicts combined by :func:`combine`
            (with one detector, its verdict, see :func:`decide`); CANNOT JUDGE when seen briefly.
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


def judge_person(
    person: int,
    scores: list[float],
    sampled: int,
    min_face_fraction: float,
    uncertain_margin: float,
) -> Verdict:
    """A person's verdict by :func:`decide`, or CANNOT JUDGE ("seen briefly") below the minimum.

    Raises:
        NonFiniteScoreError: If any score is NaN or infinite.
    """
    check_finite(scores)
    needed = needed_frames(sampled, min_face_fraction)
    if len(scores) < needed:
        return Verdict(
            label=CANNOT_JUDGE,
            fake_probability=float(np.mean(scores)) if scores else None,
            confidence=None,
            message=(
                f"person {person}: seen briefly (in {len(scores)} of {sampled} sampled frames, "
                f"at least {needed} needed), not judged."
            ),
        )
    return decide(scores, sampled, min_face_fraction, uncertain_margin)


def decide_video(
    people: list[Person],
    sampled: int,
    frames_with_face: int,
    min_face_fraction: float,
    uncertain_margin: float,
) -> Verdict:
    """The video's verdict from its people's.

    FAKE when any judged person is FAKE (the message names the most suspicious one and when
    they appear), REAL only when every judged person is REAL, UNCERTAIN otherwise, CANNOT JUDGE
    when nobody was seen often enough. The fake probability and confidence are those of the
    judged person with the highest mean fake probability. With one judged person, their verdict
    (and how many more faces were seen briefly). Whenever the detectors disagree about a judged
    person, the message says so (and the app then shows no FAKE/REAL bars).

    Raises:
        NonFiniteScoreError: If a person's fake probability is NaN or infinite.
    """
    check_finite(
        [p.verdict.fake_probability for p in people if p.verdict.fake_probability is not None], "people"
    )
    judged = [p for p in people if p.judged]
    if not judged:
        return Verdict(
            label=CANNOT_JUDGE,
            fake_probability=None,
            confidence=None,
            message=_cannot_judge(people, sampled, frames_with_face, min_face_fraction),
        )
    brief = len(people) - len(judged)
    if len(judged) == 1:
        verdict = judged[0].verdict
        if brief:
            note = f" {brief} more face{'s' if brief > 1 else ''} seen briefly, not judged."
            verdict = replace(verdict, message=verdict.message + note)
        return verdict
    labels = {p.verdict.label for p in judged}
    label = FAKE if FAKE in labels else REAL if labels == {REAL} else UNCERTAIN
    # Whoever the detectors disagree about is named, whatever the others' verdicts.
    disputed = [p for p in judged if DISAGREE in p.verdict.message]
    # The person the verdict is about: the most suspicious of those with the video's label
    # (of UNCERTAIN ones, those the detectors disagree about first).
    about = disputed if label == UNCERTAIN and disputed else [p for p in judged if p.verdict.label == label]
    top = max(about, key=lambda p: p.verdict.fake_probability or 0.0)
    fake = float(top.verdict.fake_probability or 0.0)
    span = f"{top.first_seen_s:.1f}–{top.last_seen_s:.1f} s"
    who = f"person {top.id} (seen {span}, in {top.seen} of {sampled} frames)"
    tail = f" {len(people)} people seen, {len(judged)} judged" + (
        f", {brief} seen briefly." if brief else "."
    )
    if label == FAKE:
        text = f"FAKE: {who} shows {MEANING[FAKE]} (mean fake probability {fake:.2f})."
        if disputed:
            text += f" Besides, {DISAGREE} about person {', '.join(str(p.id) for p in disputed)}."
    elif label == REAL:
        text = f"REAL: every judged person shows {MEANING[REAL]} (highest mean {fake:.2f}: {who})."
    elif disputed:
        text = f"UNCERTAIN: {DISAGREE} about {who}: {top.verdict.message}"
    else:
        text = (
            f"UNCERTAIN: {MEANING[UNCERTAIN]} for {who} (mean fake probability {fake:.2f}); "
            "nobody shows strong signs of manipulation."
        )
    return Verdict(label=label, fake_probability=fake, confidence=max(fake, 1.0 - fake), message=text + tail)


def _cannot_judge(people: list[Person], sampled: int, frames_with_face: int, min_face_fraction: float) -> str:
    """Why nobody was judged: too few frames with a face, or faces spread over several people."""
    needed = needed_frames(sampled, min_face_fraction)
    advice = "Try a clip where one face is clearly visible."
    if frames_with_face < needed:
        return (
            f"cannot judge: face found in {frames_with_face} of {sampled} sampled frames "
            f"(at least {needed} needed). {advice}"
        )
    # Enough frames show a face, but no one person's: the faces were followed as several people
    # (different people, or one face the tracker lost and found again as someone new).
    most = max((p.seen for p in people), default=0)
    return (
        f"cannot judge: no one person's face was found in enough frames (at least {needed} of "
        f"{sampled} sampled frames needed; faces were found in {frames_with_face}, split over "
        f"{len(people)} {'person' if len(people) == 1 else 'people'}, each seen in at most {most}). "
        f"{advice}"
    )


def with_provenance(verdict: Verdict, provenance: Provenance) -> Verdict:
    """The video's verdict once its Content Credentials are read.

    Valid credentials from a trusted signer whose own actions declare AI generation decide: FAKE
    (fake probability and confidence 1), whatever the face detectors say; their verdict follows
    in the message. A declaration carried in by an ingredient does not decide. Anything else
    (untrusted, broken or absent credentials) leaves the verdict to the face detectors: a forger
    can sign genuine footage as "AI" to discredit it.
    """
    if not provenance.decides:
        return verdict
    return Verdict(
        FAKE, 1.0, 1.0, f"FAKE: {provenance.declaration()}. The face detectors said: {verdict.message}"
    )


@dataclass
class AnalysisResult:
    """Everything the engine found out about one video.

    Attributes:
        file_name: Base name of the analysed file.
        verdict: The decision, see :func:`decide`.
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
            combines them (see :func:`combine`, applied per person).
        second_crops: When explanations were asked for, the second detector's 224 px RGB
            crops by (person, frame_index). Not part of the JSON.
        provenance: The file's Content Credentials (C2PA); see :func:`with_provenance`.
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
