"""The second opinion watches frames on its own thread: the same sightings, Stop and errors still work."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_clip

from inference.collect import collect_faces, faces_in_frame, most_seen
from inference.faces.tracking import PeopleTracker
from inference.models.efficientnet import AUTOATT, INPUT, IcprScorer, build
from inference.second_opinion import SecondOpinion, Sighting
from inference.second_watch import WatchBeside
from inference.video.plan import plan_sampling
from inference.video.probe import probe
from inference.video.read import sample_frames
from inference.video.window import analysis_window

CLIP = "aaronchong888__DeepFake-Detect__abqwwspghj.mp4"
FRAMES = 6


class Stopped(Exception):
    """The caller's Stop, raised from the progress callback."""


def watching_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "second-opinion-watch"]


@pytest.fixture(scope="module")
def setup(second_detector):
    second = second_detector.load_detectors(None)[0]
    assert second is not None
    path = shared_clip(CLIP)
    info = probe(path, second_detector.settings.max_pixels)
    window = analysis_window(info, None, None, second_detector.settings.max_duration_s)
    return second_detector, second, path, info, window


def watched_in_turn(detector, second: SecondOpinion, path, info, window) -> tuple[list[Sighting], Counter]:
    """The sightings as collected before: each due frame watched in the loop, before the next frame."""
    settings, profile = detector.settings, detector.profile()
    plan = plan_sampling(path, info, window, FRAMES, settings.max_decode_pixels)
    tracker = PeopleTracker(settings.face_model, settings.detect_max_side, FRAMES)
    refiner = profile.refiner()
    appearances: Counter[int] = Counter()
    looked_at: Counter[int] = Counter()
    sightings: list[Sighting] = []
    for frame in sample_frames(path, window, FRAMES, info.decoder, plan):
        found, _ = faces_in_frame(frame, tracker, refiner, profile, detector.classifier.config.image_size)
        located = [(face.person, face.box) for face in found]
        appearances.update(person for person, _ in located)
        due = {person for person, _ in located if second.due(appearances[person], max(1, plan.samples))}
        if due:
            looked_at.update(due)
            sightings += second.watch(frame.image, frame.index, located, due)
    return sightings, looked_at


def collected_with(setup, second: SecondOpinion):
    """The shared clip's faces collected with ``second`` watching beside."""
    detector, _, path, info, window = setup
    size = detector.classifier.config.image_size
    return collect_faces(
        path, info, window, FRAMES, detector.profile(), detector.settings, size, second=second
    )


def test_sightings_are_those_of_watching_each_frame_in_turn(setup):
    """Same people, frames, boxes and face pixels, in the same order, as watching in the loop."""
    detector, second, path, info, window = setup
    collected = collected_with(setup, second)
    expected, looked_at = watched_in_turn(detector, second, path, info, window)
    assert expected, "BlazeFace found no face: the comparison would be vacuous"
    assert collected.looked_at == looked_at
    # The float boxes too, bit for bit: the frames watched by the caller at the end included.
    assert [(s.person, s.frame_index, s.crop.box, s.crop.margin_box) for s in collected.sightings] == [
        (s.person, s.frame_index, s.crop.box, s.crop.margin_box) for s in expected
    ]
    assert all(
        np.array_equal(a.crop.face, b.crop.face) for a, b in zip(collected.sightings, expected, strict=True)
    )
    assert not watching_threads()


@pytest.fixture(scope="module")
def telling_apart(setup) -> SecondOpinion:
    """The second opinion with an EfficientNet whose scores differ from face to face.

    A randomly initialised B4 gives every face the same logit (its activations fade through the
    blocks); its batch norms' statistics taken from a batch of noise keep them apart.
    """
    detector, second, *_ = setup
    torch.manual_seed(2)
    network = build(AUTOATT)
    for layer in network.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None  # the plain mean over the batch
    network.train()
    with torch.no_grad():
        network.forward_with_attention(torch.rand(6, 3, INPUT, INPUT) * 4 - 2)
    settings = detector.settings
    runtime = settings.network_runtime()
    scorer = IcprScorer(network.eval(), torch.device("cpu"), settings.torch_threads, runtime)
    return SecondOpinion(second.name, second.architecture, second.finder, scorer, second.info)


@pytest.fixture(scope="module")
def scored_ahead(setup, telling_apart: SecondOpinion) -> list[Sighting]:
    """The shared clip's sightings as :func:`telling_apart` watched and scored them."""
    return collected_with(setup, telling_apart).sightings


def test_faces_scored_while_watching_equal_scoring_them_together(
    telling_apart: SecondOpinion, scored_ahead: list[Sighting]
):
    """Each face scored on the watching thread, one frame's faces at a time on one thread, has the
    logit and attention map of scoring them all in batches, as judging did before (the report's
    per-frame scores, within 1e-5)."""
    sightings = scored_ahead
    assert sightings and all(s.logit is not None for s in sightings)
    logits, maps = telling_apart.scorer.score([s.crop.face for s in sightings], attention=True)
    assert np.ptp(logits) > 1e-3, "every face scores the same: a mix-up of faces would not show"
    watched = np.array([s.logit for s in sightings], dtype=np.float64)
    np.testing.assert_allclose(watched, logits, rtol=0, atol=1e-5)
    np.testing.assert_allclose(1 / (1 + np.exp(-watched)), 1 / (1 + np.exp(-logits)), rtol=0, atol=1e-5)
    assert maps is not None
    np.testing.assert_allclose(np.stack([s.attention for s in sightings]), maps, rtol=0, atol=1e-5)


def test_stop_while_collecting_ends_the_watching_thread(setup):
    """The caller's Stop raised from the progress callback ends collection and the thread with it."""
    detector, second, path, info, window = setup
    seen: list[str] = []

    def report(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith("frame 2 "):
            assert watching_threads(), "the second opinion should be watching beside the tracking"
            raise Stopped

    with pytest.raises(Stopped):
        collect_faces(
            path, info, window, FRAMES, detector.profile(), detector.settings,
            detector.classifier.config.image_size, report, second,
        )  # fmt: skip
    assert "frame 2 of 6" in seen[-1]
    assert not watching_threads()


def test_an_error_while_watching_is_raised_to_the_caller(setup):
    """A frame the second opinion cannot read raises in the caller's thread, the thread ended."""
    _, second, *_ = setup
    with WatchBeside(second) as beside:
        beside.submit(np.zeros((0, 0, 3), np.uint8), 0, [(0, (0, 10, 10, 0))], {0})
        with pytest.raises(cv2.error, match="empty"):
            beside.finish()
    assert not watching_threads()


def test_sightings_come_in_the_order_submitted(setup):
    """Frames watched by the thread and those still queued at the end (by the caller) keep their order."""
    _, second, path, info, _ = setup
    frame = next(iter(sample_frames(path, analysis_window(info, None, None, 60.0), 1, info.decoder)))
    rgb_rows = second.finder.detect(frame.image[:, :, ::-1].copy())
    assert len(rgb_rows)
    top, left, bottom, right = (float(v) for v in rgb_rows[0][:4])
    located = [(0, (top, right, bottom, left))]
    with WatchBeside(second, depth=3) as beside:
        for number in range(3):
            beside.submit(frame.image, number, located, {0})
        sightings = beside.finish()
    assert [s.frame_index for s in sightings] == [0, 1, 2]
    assert all(np.array_equal(s.crop.face, sightings[0].crop.face) for s in sightings)
    assert not watching_threads()


def test_faces_not_scored_ahead_are_scored_when_judged(
    telling_apart: SecondOpinion, scored_ahead: list[Sighting]
):
    """Faces the watching thread left unscored (people not among the most seen when their frame
    was watched) are scored when judged: the same logits and maps, in order, and the progress
    only moves forward."""
    scored = scored_ahead
    mixed = [s if i % 2 else replace(s, logit=None, attention=None) for i, s in enumerate(scored)]
    progress: list[tuple[int, int]] = []
    logits, maps = telling_apart._scores(mixed, True, lambda done, total: progress.append((done, total)))
    np.testing.assert_allclose(logits, [s.logit for s in scored], rtol=0, atol=1e-5)
    assert maps is not None
    np.testing.assert_allclose(maps, np.stack([s.attention for s in scored]), rtol=0, atol=1e-5)
    assert progress and progress[-1] == (len(scored), len(scored))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_the_people_scored_ahead_are_the_most_seen_so_far():
    appearances = Counter({7: 3, 2: 5, 9: 3, 4: 1})
    first_seen = {7: 10, 2: 0, 9: 4, 4: 1}
    assert most_seen(appearances, first_seen, 2) == [2, 9]  # 9 and 7 tie: 9 was seen first
    assert most_seen(appearances, first_seen, 10) == [2, 9, 7, 4]
