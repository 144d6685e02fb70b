"""The whole engine on real files: verdicts, cannot-judge, limits, JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import shared_clip

from inference import CANNOT_JUDGE, FAKE, REAL, UNCERTAIN, Detector, LimitExceededError, VideoError
from inference.verdict import decide


def test_genuine_example_is_judged(detector: Detector, genuine_clip: Path):
    result = detector.analyze(genuine_clip, frames=8)
    assert result.frames_sampled == 8
    assert result.frames_with_face >= 7
    assert result.verdict.label in (FAKE, REAL, UNCERTAIN)
    assert 0.5 <= result.verdict.confidence <= 1.0
    probs = [f.fake_probability for f in result.frames]
    assert result.verdict.fake_probability == pytest.approx(sum(probs) / len(probs))
    assert len(result.crops) == result.frames_with_face
    assert result.crops[0].shape == (112, 112, 3)
    stamps = [f.timestamp_s for f in result.frames]
    assert stamps == sorted(stamps) and stamps[-1] > 3.0
    assert set(result.timings) == {"decode", "faces", "model", "total"}


def test_result_is_json_serialisable(detector: Detector, manipulated_clip: Path):
    result = detector.analyze(manipulated_clip, frames=3)
    data = json.loads(result.to_json())
    assert data["verdict"] == result.verdict.label
    assert data["frames_with_face"] == len(data["frames"]) == result.frames_with_face
    assert data["weights"]["repo_id"] == "ishandutta/mukh-models"
    assert data["weights"]["revision"]
    assert data["video"]["width"] == 320
    assert "crops" not in data


def test_no_face_gives_cannot_judge_with_counts(detector: Detector, no_face_clip: Path):
    result = detector.analyze(no_face_clip, frames=10)
    assert result.verdict.label == CANNOT_JUDGE
    assert result.verdict.fake_probability is None
    assert "face found in 0 of 10 sampled frames" in result.verdict.message
    assert result.frames == [] and result.crops == []


def test_decide_rule():
    assert decide([0.9, 0.7], sampled=4, min_face_fraction=0.5).label == FAKE
    real = decide([0.1, 0.3, 0.2], sampled=4, min_face_fraction=0.5)
    assert real.label == REAL and real.confidence == pytest.approx(0.8)
    unsure = decide([0.9], sampled=20, min_face_fraction=0.25)
    assert unsure.label == CANNOT_JUDGE
    assert "face found in 1 of 20 sampled frames (at least 5 needed)" in unsure.message


def test_near_one_half_is_uncertain():
    near = decide([0.54, 0.56], sampled=2, min_face_fraction=0.5)
    assert near.label == UNCERTAIN and near.fake_probability == pytest.approx(0.55)
    assert near.confidence == pytest.approx(0.55)
    assert "the model cannot tell" in near.message and "0.5 ± 0.1" in near.message
    assert decide([0.4], sampled=1, min_face_fraction=0.5).label == REAL  # the margin's edge
    assert decide([0.6], sampled=1, min_face_fraction=0.5).label == FAKE
    assert decide([0.45], sampled=1, min_face_fraction=0.5, uncertain_margin=0.2).label == UNCERTAIN
    assert decide([0.45], sampled=1, min_face_fraction=0.5, uncertain_margin=0.0).label == REAL
    assert "strong signs of manipulation" in decide([0.9], 1, 0.5).message
    assert "no sign of manipulation the model can see" in decide([0.1], 1, 0.5).message


def test_frame_limit_is_named(detector: Detector, genuine_clip: Path):
    with pytest.raises(LimitExceededError, match="DEEPFAKE_MAX_FRAMES"):
        detector.analyze(genuine_clip, frames=detector.settings.max_frames + 1)


def test_upload_limit_is_named(detector: Detector, genuine_clip: Path):
    small = Detector(detector.classifier, replace(detector.settings, max_upload_mb=0.01))
    with pytest.raises(LimitExceededError, match=r"genuine_astronaut.mp4 is 0 MB; the limit is 0.01 MB"):
        small.analyze(genuine_clip)


def test_broken_file_raises_video_error(detector: Detector, tmp_path: Path):
    bad = tmp_path / "random.mp4"
    bad.write_bytes(bytes(range(256)) * 100)
    with pytest.raises(VideoError, match="random.mp4"):
        detector.analyze(bad)


def test_progress_is_reported(detector: Detector, genuine_clip: Path):
    seen: list[float] = []
    detector.analyze(genuine_clip, frames=4, progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 5


@pytest.mark.parametrize(
    "name",
    ["aaronchong888__DeepFake-Detect__abqwwspghj.mp4", "polimi-ispl__icpr2020dfdc__ffpp-youtube-634.mp4"],
)
def test_shared_clips(detector: Detector, name: str):
    # Twelve frames of a 1080p and a 720p clip; every shared clip at 20 frames with -m slow.
    result = detector.analyze(shared_clip(name), frames=12)
    assert result.frames_sampled == 12
    assert result.frames_with_face >= 9
    assert result.verdict.label in (FAKE, REAL, UNCERTAIN)


SHARED = [
    "OpenTalker__SadTalker__WDA_KatieHill_000.mp4",
    "ageitgey__face_recognition__short_hamilton_clip.mp4",
    "iperov__DeepFaceLive__Obama_speaking.mp4",
    "polimi-ispl__icpr2020dfdc__brtujopkby.mp4",
    "polimi-ispl__icpr2020dfdc__ffpp-Deepfakes-519_515.mp4",
    "polimi-ispl__icpr2020dfdc__ffpp-FaceSwap-634_660.mp4",
    "polimi-ispl__icpr2020dfdc__ffpp-NeuralTextures-004_982.mp4",
    "polimi-ispl__icpr2020dfdc__ffpp-youtube-519.mp4",
    "polimi-ispl__icpr2020dfdc__lynaeydofd.mp4",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHARED)
def test_every_shared_clip(detector: Detector, name: str):
    result = detector.analyze(shared_clip(name), frames=20)
    assert result.frames_sampled == 20
    assert result.verdict.label in (FAKE, REAL, UNCERTAIN, CANNOT_JUDGE)
    assert result.people and all(person.seen >= 1 for person in result.people)
    json.loads(result.to_json())


def test_a_clip_over_the_decoding_budget_says_how_its_frames_were_taken(detector: Detector, tmp_path: Path):
    """Past DEEPFAKE_MAX_DECODE_PIXELS the frames come from keyframes, and the report says so."""
    from test_video import long_gop_clip

    clip = long_gop_clip(tmp_path / "long.mp4", 1000, 100)
    bounded = Detector(detector.classifier, replace(detector.settings, max_decode_pixels=40 * 160 * 96))
    result = bounded.analyze(clip, frames=20)
    assert any("to bound decoding" in note for note in result.notes), result.notes
    assert not any("could be decoded" in note for note in result.notes), result.notes
    assert not any("to bound decoding" in note for note in detector.analyze(clip, frames=20).notes)
