"""Live streams: the incremental analyser against the file path, dropping frames, errors, the CLI."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SECOND

from inference import Detector, LimitExceededError, NonFiniteScoreError, VideoError
from inference.models.classifier import Classifier
from inference.result import FAKE, REAL, UNCERTAIN
from inference.stream import LiveAnalyser, LiveError, LiveSlots
from inference.tools import cli
from inference.video.probe import probe
from inference.video.read import sample_frames
from inference.video.window import analysis_window
from inference.weights.config import TEMPORAL

# Frames of the short clip: the tracker of a file analysis of up to 32 frames searches the whole
# frame as often as the live tracker does (see inference.stream.analyser.TRACKER_FRAMES).
SHORT_FRAMES = 8


def first_frames(clip: Path, count: int, path: Path) -> Path:
    """The first ``count`` frames of ``clip`` written to ``path`` (MPEG-4, 15 fps)."""
    capture = cv2.VideoCapture(str(clip))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, size)
    for _ in range(count):
        ok, image = capture.read()
        assert ok
        writer.write(image)
    writer.release()
    capture.release()
    return path


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory, genuine_clip: Path) -> Path:
    """The first SHORT_FRAMES frames of the genuine example (320x320), 15 fps."""
    return first_frames(genuine_clip, SHORT_FRAMES, tmp_path_factory.mktemp("live") / "short.mp4")


def decoded(path: Path, count: int) -> list[tuple[float, np.ndarray]]:
    """(timestamp, RGB frame) of ``count`` frames spread over the clip, decoded as analyze decodes them."""
    info = probe(path)
    frames = sample_frames(path, analysis_window(info, None, None, 600.0), count, info.decoder)
    return [(frame.timestamp_s, cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)) for frame in frames]


@pytest.fixture(scope="module")
def astronaut(genuine_clip: Path) -> list[tuple[float, np.ndarray]]:
    return decoded(genuine_clip, 60)


def copy_of(classifier: Classifier, as_class: type[Classifier] = Classifier, **config: object) -> Classifier:
    """The same network as ``classifier`` in a classifier of class ``as_class``, its config changed."""
    return as_class(
        classifier.network, replace(classifier.config, **config), classifier.info, classifier.device
    )


@pytest.mark.parametrize("profile", ["training", "app"])
def test_live_frames_get_the_boxes_and_scores_of_the_file_path(
    detector: Detector, short_clip: Path, profile: str
):
    expected = detector.analyze(short_clip, frames=SHORT_FRAMES, profile=profile, second_opinion="off")
    with LiveAnalyser(detector, profile=profile, threaded=False) as live:
        for timestamp, frame in decoded(short_clip, SHORT_FRAMES):
            state = live.score(frame, timestamp)
        result = live.finish()
    assert len(expected.frames) >= SHORT_FRAMES - 2
    assert [(f.frame_index, f.timestamp_s, f.box) for f in result.frames] == [
        (f.frame_index, f.timestamp_s, f.box) for f in expected.frames
    ]
    live_scores = [f.fake_probability for f in result.frames]
    assert live_scores == pytest.approx([f.fake_probability for f in expected.frames], abs=1e-5)
    assert result.frames_sampled == state.scored == SHORT_FRAMES and state.dropped == 0
    assert result.verdict.label == expected.verdict.label and result.profile == profile
    assert result.to_dict().keys() == expected.to_dict().keys()
    assert result.source["frames_scored"] == SHORT_FRAMES and result.video.decoder == "live"
    assert result.notes[0].startswith(f"live stream: {SHORT_FRAMES} frames received, {SHORT_FRAMES} scored")
    # The rolling verdict: the last window_s seconds of the person's frames, with the file's labels.
    (person,) = state.people
    in_window = [f for f in result.frames if f.timestamp_s >= state.scored_s - live.window_s]
    assert [t for t, _ in person.history] == [f.timestamp_s for f in in_window]
    assert person.fake_probability == pytest.approx(np.mean([f.fake_probability for f in in_window]))
    assert person.box == result.frames[-1].box and person.seen_s == state.scored_s
    assert person.verdict in (FAKE, REAL, UNCERTAIN)
    assert person.message.startswith(f"{person.verdict} ({person.fake_probability:.2f} over the last 3 s")


def test_a_temporal_model_scores_the_window_the_file_path_scores(detector: Detector, short_clip: Path):
    temporal = Detector(copy_of(detector.classifier, kind=TEMPORAL, frames=4), detector.settings)
    expected = temporal.analyze(short_clip, frames=4, profile="app", second_opinion="off")
    with LiveAnalyser(temporal, profile="app", threaded=False) as live:
        for timestamp, frame in decoded(short_clip, 4):
            live.score(frame, timestamp)
        result = live.finish()
    # The file path scores the 4 faces as one window; live, the 4th face closes that window.
    assert len(result.frames) == len(expected.frames) == 4
    assert result.frames[-1].fake_probability == pytest.approx(expected.frames[-1].fake_probability, abs=1e-5)
    assert "window of the person's last 4 faces" in " ".join(result.notes)


class SlowClassifier(Classifier):
    """Scores like the real one after a real pause, as a slow machine would."""

    delay_s = 0.2

    def fake_probabilities(self, crops_bgr, done=None, threads=None):
        time.sleep(self.delay_s)
        return super().fake_probabilities(crops_bgr, done, threads)


def test_a_slow_scorer_drops_frames_and_its_latency_stays_bounded(
    detector: Detector, astronaut: list[tuple[float, np.ndarray]]
):
    slow = Detector(copy_of(detector.classifier, SlowClassifier), detector.settings)
    slow.classifier.fake_probabilities([astronaut[0][1][:112, :112]])  # warm: no first-call cost
    offered = 75  # 3 s at 25 frames/s, in real time
    started = time.monotonic()
    with LiveAnalyser(slow, profile="app") as live:
        for number in range(offered):
            time.sleep(max(0.0, started + number / 25 - time.monotonic()))
            live.offer(astronaut[number % len(astronaut)][1], number / 25)
            state = live.state()
            # At most one frame waiting, one whose faces are found (or waiting for the scorer)
            # and one being scored.
            assert state.received - 3 <= state.scored + state.dropped <= state.received
        result = live.finish()
    figures = result.source
    assert figures["frames_received"] == offered
    assert figures["frames_dropped"] > 0
    assert figures["frames_scored"] + figures["frames_dropped"] == offered == result.video.frame_count
    # Only the freshest frame waits: at most the frame being scored and its own scoring.
    per_frame = (result.timings["faces"] + result.timings["model"]) / result.frames_sampled
    assert per_frame > SlowClassifier.delay_s
    # A queue would grow by about 20 frames a second here (25 come, under 5 are scored): frames
    # would wait seconds by the end. The 95th percentile, not the maximum: one frame held up by a
    # busy machine is no queue.
    assert figures["latency_s"]["p95"] <= 3 * per_frame + 0.5, (figures, per_frame)


def test_finish_while_frames_still_come_ignores_the_late_ones(
    detector: Detector, astronaut: list[tuple[float, np.ndarray]]
):
    live = LiveAnalyser(detector, profile="app")
    stop = threading.Event()

    def camera() -> None:
        number = 0
        while not stop.is_set():
            live.offer(astronaut[number % len(astronaut)][1], number / 30)
            number += 1
            time.sleep(1 / 30)

    sender = threading.Thread(target=camera)
    sender.start()
    try:
        while live.state().scored < 3:
            time.sleep(0.05)
        result = live.finish()
        after = live.state()
        time.sleep(0.2)
        assert live.state() == after  # frames after finish() are ignored
    finally:
        stop.set()
        sender.join()
    figures = result.source
    assert (
        figures["frames_scored"] + figures["frames_dropped"] == figures["frames_received"] == after.received
    )
    assert (after.scored, after.dropped) == (figures["frames_scored"], figures["frames_dropped"])
    assert live.finish() is result
    live.close()


def test_a_stream_that_ends_before_its_first_frame_is_scored_reports_it(
    detector: Detector, astronaut: list[tuple[float, np.ndarray]]
):
    # Ended (Stop, or the time limit on a busy server) while its first frames are still looked
    # at: the report scores one of them rather than saying no frame was scored.
    with LiveAnalyser(detector, profile="app") as live:
        live.offer(astronaut[0][1], 0.0)
        live.offer(astronaut[1][1], 1 / 25)
        result = live.finish()
        live.offer(astronaut[2][1], 2 / 25)  # ignored: the stream is finished
    figures = result.source
    assert figures["frames_scored"] >= 1
    assert figures["frames_scored"] + figures["frames_dropped"] == figures["frames_received"] == 2


class BrokenClassifier(Classifier):
    """Fails as broken weights or a broken library would."""

    answer = "raise"

    def fake_probabilities(self, crops_bgr, done=None, threads=None):
        if self.answer == "raise":
            raise RuntimeError("library failure")
        return np.full(len(crops_bgr), np.nan)


@pytest.mark.parametrize(("answer", "error"), [("raise", LiveError), ("nan", NonFiniteScoreError)])
def test_after_a_scoring_error_every_call_raises_it(
    detector: Detector, astronaut: list[tuple[float, np.ndarray]], answer: str, error: type[Exception]
):
    broken = Detector(copy_of(detector.classifier, BrokenClassifier), detector.settings)
    broken.classifier.answer = answer
    with LiveAnalyser(broken, profile="app") as live:
        live.offer(astronaut[0][1], 0.0)
        failure = wait_for_failure(live)
        assert isinstance(failure, error)
        if error is LiveError:
            assert isinstance(failure.__cause__, RuntimeError) and "library failure" in str(failure)
        with pytest.raises(error):
            live.offer(astronaut[1][1], 0.1)
        with pytest.raises(error):
            live.finish()


def wait_for_failure(live: LiveAnalyser) -> Exception:
    """The error :meth:`LiveAnalyser.state` raises once the scoring thread has failed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            live.state()
        except Exception as exc:  # the test checks which
            return exc
        time.sleep(0.05)
    raise AssertionError("the scoring thread did not fail within 60 s")


def test_frames_and_uses_that_cannot_be_judged_are_refused(detector: Detector):
    with LiveAnalyser(detector, threaded=False) as live:
        with pytest.raises(LiveError, match="threaded=False"):
            live.offer(np.zeros((8, 8, 3), np.uint8), 0.0)
        with pytest.raises(VideoError, match=r"\(H, W, 3\) uint8 RGB"):
            live.score(np.zeros((8, 8), np.uint8), 0.0)
        with pytest.raises(VideoError, match="finite"):
            live.score(np.zeros((8, 8, 3), np.uint8), float("nan"))
        with pytest.raises(VideoError, match="no frame of the live stream was scored"):
            live.finish()
    small = Detector(detector.classifier, replace(detector.settings, max_pixels=100))
    with LiveAnalyser(small, threaded=False) as live, pytest.raises(LimitExceededError, match="MAX_PIXELS"):
        live.score(np.zeros((20, 20, 3), np.uint8), 0.0)
    with pytest.raises(LiveError, match="window_s"):
        LiveAnalyser(detector, window_s=0, threaded=False)


def test_live_slots_cap_the_streams():
    slots = LiveSlots(2)
    assert slots.take("a") and slots.take("a") and slots.take("b")
    assert not slots.take("c") and slots.active() == 2
    slots.give_back("a")
    slots.give_back("a")
    assert slots.take("c") and slots.active() == 2


def test_the_second_opinion_judges_the_live_faces_it_looked_at(
    second_detector: Detector, astronaut: list[tuple[float, np.ndarray]]
):
    with LiveAnalyser(second_detector, profile="app", second_opinion=SECOND, threaded=False) as live:
        for timestamp, frame in astronaut[:8]:
            live.score(frame, timestamp)
        result = live.finish()
    assert [d.status for d in result.detectors] == ["used", "used"]
    (person,) = result.people
    _, second = person.opinions
    # BlazeFace looked at every 4th of the 8 frames (LOOK_EVERY).
    assert second.detector == SECOND and 1 <= second.frames_scored <= 2
    assert [f.frame_index for f in second.frames] == sorted(f.frame_index for f in second.frames)
    assert "second_opinion" in result.timings


def test_live_cli_on_a_file_counts_the_scored_frames_of_its_report(
    hub_cache: Path, genuine_clip: Path, capsys: pytest.CaptureFixture[str]
):
    assert cli.main(["--live", str(genuine_clip), "--json", "--profile", "app"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    report = json.loads(out)
    lines = err.strip().splitlines()
    summary = re.fullmatch(
        r"live: (\d+) frames received, (\d+) scored \(([\d.]+) frames/s\), (\d+) dropped; .*", lines[-1]
    )
    assert summary, lines
    received, scored, rate, dropped = summary.groups()
    # A scored frame was searched for faces and scored, with a face or not: frames_sampled.
    assert int(scored) == report["frames_sampled"] == report["source"]["frames_scored"] > 0
    assert int(received) == 60 and int(scored) + int(dropped) == 60
    assert float(rate) > 0 and report["file_name"] == genuine_clip.name
    # The 4 s clip plays in real time: a line a second, before the summary.
    assert len([line for line in lines if re.match(r"\d+\.\d s  ", line)]) >= 2, lines


def test_live_cli_refuses_what_is_not_a_live_source(hub_cache: Path, capsys: pytest.CaptureFixture[str]):
    assert cli.main(["--live", "file:///etc/passwd"]) == cli.EXIT_CANNOT_RUN
    assert "--live takes rtsp" in capsys.readouterr().err
    for extra in (["--frames", "4"], ["clip.mp4"], ["--output", "rows.csv"]):
        with pytest.raises(SystemExit):
            cli.main(["--live", "0", *extra])
        assert "are for analysing files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--live", "0", "--every-frame"])
    assert "--every-frame is for a file" in capsys.readouterr().err


def test_live_cli_can_score_every_frame_of_a_file(
    hub_cache: Path, no_face_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    clip = first_frames(no_face_clip, 20, tmp_path / "no_face.mp4")  # of its 60
    assert cli.main(["--live", str(clip), "--every-frame", "--json", "--profile", "app"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["frames_sampled"] == report["source"]["frames_received"] == 20
    assert report["source"]["frames_dropped"] == 0 and report["verdict"] == "CANNOT JUDGE"
    assert "live: 20 frames received, 20 scored" in err.splitlines()[-1]
    assert "nobody seen" in err
