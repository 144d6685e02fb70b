"""A disagreement between the detectors about any judged person shows in the video's verdict
(issue 29, item 4): the message says so, and /predict's label shows no FAKE/REAL bars."""

from __future__ import annotations

from inference.result import DISAGREE, FAKE, REAL, UNCERTAIN, AnalysisResult, Opinion, Person, Verdict
from inference.verdict import combine, decide_video
from inference.video.probe import VideoInfo
from inference.weights.hub import WeightsInfo
from ui import render


def said(label: str, fake: float) -> Verdict:
    return Verdict(label, fake, max(fake, 1 - fake), f"{label} with some confidence.")


def person(number: int, first: Verdict, second: Verdict) -> Person:
    opinions = (Opinion("first", first, 10), Opinion("second", second, 10))
    return Person(number, combine(list(opinions)), 10, 0.0, 4.0, 0, opinions)


def result_of(verdict: Verdict) -> AnalysisResult:
    info = WeightsInfo("w", "memory", None, None, None, None, None, None, "0" * 64)
    video = VideoInfo(width=64, height=64, fps=10.0, frame_count=20, duration_s=2.0)
    return AnalysisResult("clip.mp4", verdict, 20, [], [], info, video, {})


def test_a_second_person_the_detectors_disagree_about_is_named():
    unsure = person(1, said(UNCERTAIN, 0.55), said(UNCERTAIN, 0.55))
    disputed = person(2, said(FAKE, 0.90), said(REAL, 0.10))
    assert DISAGREE in disputed.verdict.message and disputed.verdict.fake_probability == 0.5
    verdict = decide_video([unsure, disputed], 20, 20, 0.25, 0.1)
    assert verdict.label == UNCERTAIN
    assert f"{DISAGREE} about person 2" in verdict.message
    assert "nobody shows strong signs" not in verdict.message
    assert render.label_data(result_of(verdict)) == {"label": UNCERTAIN, "confidences": []}


def test_a_fake_video_also_says_whom_the_detectors_disagree_about():
    fake = person(1, said(FAKE, 0.95), said(FAKE, 0.85))
    disputed = person(2, said(FAKE, 0.90), said(REAL, 0.10))
    verdict = decide_video([fake, disputed], 20, 20, 0.25, 0.1)
    assert verdict.label == FAKE and verdict.message.startswith("FAKE: person 1")
    assert f"{DISAGREE} about person 2" in verdict.message
    assert render.label_data(result_of(verdict))["confidences"] == []


def test_without_a_disagreement_the_bars_stay():
    unsure = person(1, said(UNCERTAIN, 0.55), said(UNCERTAIN, 0.52))
    real = person(2, said(REAL, 0.1), said(REAL, 0.2))
    verdict = decide_video([unsure, real], 20, 20, 0.25, 0.1)
    assert verdict.label == UNCERTAIN and DISAGREE not in verdict.message
    assert len(render.label_data(result_of(verdict))["confidences"]) == 2


def test_two_uncertain_people_are_both_named_once():
    first = person(1, said(UNCERTAIN, 0.50), said(UNCERTAIN, 0.50))
    second = person(2, said(UNCERTAIN, 0.52), said(UNCERTAIN, 0.50))
    message = decide_video([first, second], 20, 20, 0.25, 0.1).message
    assert "person 1 (seen" in message and "person 2 (seen" in message, message
    assert message.count("UNCERTAIN") == 1 and message.count("the model cannot tell") == 1, message


def test_a_disagreement_and_an_uncertain_person_both_named_without_repeating():
    unsure = person(1, said(UNCERTAIN, 0.55), said(UNCERTAIN, 0.55))
    disputed = person(2, said(FAKE, 0.90), said(REAL, 0.10))
    message = decide_video([unsure, disputed], 20, 20, 0.25, 0.1).message
    assert "person 1 (seen" in message and "person 2 (seen" in message, message
    # Who said what about person 2 stays; the video's label and the disagreement are said once.
    assert "first says FAKE" in message and "second says REAL" in message, message
    assert message.count("UNCERTAIN") == 1 and message.count(DISAGREE) == 1, message


def test_every_fake_person_is_named():
    fakes = [person(n, said(FAKE, 0.9 - n / 100), said(FAKE, 0.85)) for n in (1, 2)]
    message = decide_video(fakes, 20, 20, 0.25, 0.1).message
    assert message.startswith("FAKE: person 1 (seen") and "and person 2 (seen" in message, message
