"""The typed, JSON-serialisable outcome of analysing one video, and the verdict rule."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from inference.errors import NonFiniteScoreError
from inference.faces.detect import Box
from inference.video.sampling import VideoInfo
from inference.weights.hub import WeightsInfo

FAKE = "FAKE"
REAL = "REAL"
UNCERTAIN = "UNCERTAIN"
CANNOT_JUDGE = "CANNOT JUDGE"
LABELS = (FAKE, REAL, UNCERTAIN, CANNOT_JUDGE)
THRESHOLD = 0.5
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
    # The small slack keeps the edges (0.4 and 0.6 at the default margin) out of the band
    # despite floating-point error.
    if abs(fake - THRESHOLD) < uncertain_margin - 1e-9:
        label = UNCERTAIN
    else:
        label = FAKE if fake >= THRESHOLD else REAL
    confidence = max(fake, 1.0 - fake)
    counts = f"mean fake probability {fake:.2f} over {len(scores)} of {sampled} sampled frames with a face"
    if label == UNCERTAIN:
        message = f"UNCERTAIN: {MEANING[UNCERTAIN]} ({counts}, within 0.5 ± {uncertain_margin:g})."
    else:
        message = f"{label} with {confidence:.0%} confidence, {MEANING[label]}: {counts}."
    return Verdict(label=label, fake_probability=fake, confidence=confidence, message=message)


@dataclass(frozen=True)
class Person:
    """One person followed through the clip, and their own verdict.

    Attributes:
        id: Number from 1, the most-seen person first.
        verdict: The person's verdict (see :func:`decide`); CANNOT JUDGE when seen briefly.
        seen: In how many sampled frames the person's face was found and scored.
        first_seen_s: Time of the first of those frames, seconds.
        last_seen_s: Time of the last of those frames, seconds.
        representative: Index into :attr:`AnalysisResult.frames` of the person's largest face.
    """

    id: int
    verdict: Verdict
    seen: int
    first_seen_s: float
    last_seen_s: float
    representative: int

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
    (and how many more faces were seen briefly).

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
    top = max(judged, key=lambda p: p.verdict.fake_probability or 0.0)
    fake = float(top.verdict.fake_probability or 0.0)
    labels = {p.verdict.label for p in judged}
    label = FAKE if FAKE in labels else REAL if labels == {REAL} else UNCERTAIN
    span = f"{top.first_seen_s:.1f}–{top.last_seen_s:.1f} s"
    who = f"person {top.id} (seen {span}, in {top.seen} of {sampled} frames)"
    tail = f" {len(people)} people seen, {len(judged)} judged" + (
        f", {brief} seen briefly." if brief else "."
    )
    if label == FAKE:
        text = f"FAKE: {who} shows {MEANING[FAKE]} (mean fake probability {fake:.2f})."
    elif label == REAL:
        text = f"REAL: every judged person shows {MEANING[REAL]} (highest mean {fake:.2f}: {who})."
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
            "profile": self.profile,
            "video": self.video.to_dict(),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Return :meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)
