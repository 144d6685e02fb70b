"""The verdict rules: from scores to a verdict, for a person, several detectors, and the video.

Every verdict the engine gives, for a file or a live stream, follows these functions; the
labels, their meaning and the result's types are in :mod:`inference.result`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from inference.errors import NonFiniteScoreError
from inference.provenance.claims import Provenance
from inference.result import (
    CANNOT_JUDGE,
    DISAGREE,
    FAKE,
    MEANING,
    REAL,
    THRESHOLD,
    UNCERTAIN,
    Opinion,
    Person,
    Verdict,
)


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
    # The person the verdict's numbers are about: the most suspicious of those with the video's
    # label (of UNCERTAIN ones, those the detectors disagree about first).
    about = disputed if label == UNCERTAIN and disputed else [p for p in judged if p.verdict.label == label]
    top = max(about, key=lambda p: p.verdict.fake_probability or 0.0)
    fake = float(top.verdict.fake_probability or 0.0)
    tail = f" {len(people)} people seen, {len(judged)} judged" + (
        f", {brief} seen briefly." if brief else "."
    )
    text = _video_message(label, judged, disputed, top, sampled)
    return Verdict(label=label, fake_probability=fake, confidence=max(fake, 1.0 - fake), message=text + tail)


def _video_message(
    label: str, judged: list[Person], disputed: list[Person], top: Person, sampled: int
) -> str:
    """The video's message with several judged people: everyone its verdict rests on is named once.

    FAKE names every FAKE person (the most suspicious first) and whom the detectors disagree
    about; UNCERTAIN names everyone the detectors disagree about (with who said what) and everyone
    the model cannot tell about; REAL names the person closest to the margin.
    """
    fake = float(top.verdict.fake_probability or 0.0)
    if label == FAKE:
        fakes = sorted(
            (p for p in judged if p.verdict.label == FAKE), key=lambda p: -(p.verdict.fake_probability or 0.0)
        )
        verb, high = ("shows", "") if len(fakes) == 1 else ("show", "highest ")
        text = (
            f"FAKE: {_listed(_seen(p, sampled) for p in fakes)} {verb} {MEANING[FAKE]} "
            f"({high}mean fake probability {fake:.2f})."
        )
        if disputed:
            text += f" Besides, {DISAGREE} about person {_listed(str(p.id) for p in disputed)}."
        return text
    if label == REAL:
        closest = _seen(top, sampled)
        return f"REAL: every judged person shows {MEANING[REAL]} (highest mean {fake:.2f}: {closest})."
    parts = []
    if disputed:
        said = [f"{_seen(p, sampled, '; '.join(_said(o) for o in p.opinions))}" for p in disputed]
        parts.append(f"{DISAGREE} about {_listed(said)}")
    unsure = [p for p in judged if p.verdict.label == UNCERTAIN and p not in disputed]
    if unsure:
        means = [
            _seen(p, sampled, f"mean fake probability {p.verdict.fake_probability or 0.0:.2f}")
            for p in unsure
        ]
        parts.append(f"{MEANING[UNCERTAIN]} for {_listed(means)}")
    # With a disagreement one detector does see signs of manipulation: "nobody" would be untrue.
    end = "." if disputed else "; nobody shows strong signs of manipulation."
    return f"UNCERTAIN: {'; '.join(parts)}{end}"


def _seen(person: Person, sampled: int, more: str = "") -> str:
    """ "person 2 (seen 0.0–4.0 s, in 10 of 20 frames)", with ``more`` added inside the brackets."""
    span = f"{person.first_seen_s:.1f}–{person.last_seen_s:.1f} s"
    return (
        f"person {person.id} (seen {span}, in {person.seen} of {sampled} frames{'; ' + more if more else ''})"
    )


def _listed(items: Iterable[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    words = list(items)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


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
