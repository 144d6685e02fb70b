"""The verdict rule's edges: non-finite scores, the frames needed, and why nobody was judged."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import random_state_dict

from inference import CANNOT_JUDGE, Detector, Settings
from inference.errors import NonFiniteScoreError
from inference.models.classifier import Classifier
from inference.models.network import build_network
from inference.result import Person, Verdict
from inference.verdict import decide, decide_video, judge_person, needed_frames
from inference.weights.config import ModelConfig
from inference.weights.hub import WeightsInfo


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_scores_are_an_error_not_a_verdict(bad: float):
    with pytest.raises(NonFiniteScoreError, match=r"non-finite scores \(NaN or infinity\) for 1 of 3 faces"):
        decide([0.2, bad, 0.3], sampled=3, min_face_fraction=0.5)
    with pytest.raises(NonFiniteScoreError, match="nothing was judged"):
        judge_person(1, [bad, 0.1, 0.2], sampled=3, min_face_fraction=0.5, uncertain_margin=0.1)
    # A person seen too briefly to be judged still must not carry a NaN into the report.
    with pytest.raises(NonFiniteScoreError):
        judge_person(2, [bad], sampled=20, min_face_fraction=0.25, uncertain_margin=0.1)
    broken = Person(1, Verdict(CANNOT_JUDGE, bad, None, "person 1"), 1, 0.0, 0.0, 0)
    with pytest.raises(NonFiniteScoreError):
        decide_video([broken], 20, 1, 0.25, 0.1)


def test_nan_weights_give_an_error_from_the_engine(genuine_clip: Path):
    state = random_state_dict()
    state["linear1.weight"].fill_(math.nan)
    info = WeightsInfo("nan", "memory", None, None, None, None, None, None, "0" * 64)
    classifier = Classifier(build_network(state), ModelConfig(), info, torch.device("cpu"))
    detector = Detector(classifier, Settings.from_env({}))
    with pytest.raises(NonFiniteScoreError, match="weights are broken or were changed while loaded"):
        detector.analyze(genuine_clip, frames=4)


# 0.07 * 100 = 7.000000000000001, 0.55 * 100 = 55.00000000000001, 0.28 * 25 = 7.000000000000001:
# a plain ceil asked one frame more than the fraction says.
@pytest.mark.parametrize(
    ("sampled", "fraction", "needed"),
    [
        (100, 0.07, 7),
        (100, 0.55, 55),
        (25, 0.28, 7),
        (30, 0.1, 3),
        (20, 0.25, 5),
        (21, 0.25, 6),
        (1, 0.01, 1),
    ],
)
def test_needed_frames_has_no_floating_point_extra(sampled: int, fraction: float, needed: int):
    assert needed_frames(sampled, fraction) == needed


def test_faces_split_over_people_do_not_read_as_enough():
    brief = [
        Person(n, Verdict(CANNOT_JUDGE, 0.3, None, f"person {n}"), 4, 1.0 * n, 2.0 * n, 0) for n in (1, 2)
    ]
    verdict = decide_video(brief, 20, 8, 0.25, 0.1)
    assert verdict.label == CANNOT_JUDGE
    assert verdict.message.startswith(
        "cannot judge: no one person's face was found in enough frames (at least 5 of 20 sampled "
        "frames needed; faces were found in 8, split over 2 people, each seen in at most 4)."
    )
    few = decide_video(brief[:1], 20, 4, 0.25, 0.1)
    assert few.message.startswith("cannot judge: face found in 4 of 20 sampled frames (at least 5 needed).")
