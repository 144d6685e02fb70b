"""One engine, many threads: parallel analyses give exactly the results of sequential ones.

dlib's detectors and encoder, and the network that Captum hooks while it explains, are shared
by every thread of the process; before they were made safe, two threads aborted the process
with heap corruption or failed their explanations.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest
import torch
from conftest import EXAMPLES, SHARED_MEDIA

from inference import AnalysisResult, Detector
from inference.faces import detect
from inference.faces.detect import detect_cnn, detect_scored, hog_detector

CLIPS = [
    EXAMPLES / "genuine_astronaut.mp4",
    EXAMPLES / "manipulated_astronaut.mp4",
    *sorted(
        path
        for path in (
            SHARED_MEDIA / "polimi-ispl__icpr2020dfdc__ffpp-youtube-634.mp4",
            SHARED_MEDIA / "ageitgey__face_recognition__short_hamilton_clip.mp4",
        )
        if path.is_file()
    ),
]


def essentials(result: AnalysisResult) -> list[tuple]:
    """What must not change between runs: who, where, and every score and heatmap."""
    return [
        (
            frame.frame_index,
            frame.person,
            frame.box,
            frame.fake_probability,
            None if frame.heatmap is None else frame.heatmap.tobytes(),
        )
        for frame in result.frames
    ]


def run_all(detector: Detector, jobs: list[tuple[Path, bool]], workers: int) -> list[list[tuple]]:
    start = threading.Barrier(workers)

    def one(job: tuple[Path, bool]) -> list[tuple]:
        if workers > 1:
            start.wait(timeout=60)  # begin together, so that the threads really overlap
        path, explain = job
        return essentials(detector.analyze(path, frames=4, explain=explain))

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, jobs))


def test_threads_give_the_sequential_results(detector: Detector):
    # Each clip scored plain and explained: scoring and explaining overlap on the one network.
    jobs = [(clip, explain) for clip in CLIPS for explain in (False, True)][:4]
    sequential = run_all(detector, jobs, 1)
    for _ in range(2):
        assert run_all(detector, jobs, len(jobs)) == sequential


def test_hog_in_parallel_threads_matches_one_thread():
    frames = _example_frames()
    alone = [detect_scored(frame, "hog", 480) for frame in frames]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(lambda f: detect_scored(f, "hog", 480), frames)) == alone
    assert hog_detector() is hog_detector()  # one per thread, reused


def test_each_new_thread_copies_the_hog_model_parsed_once(monkeypatch: pytest.MonkeyPatch):
    """dlib parses the HOG model's text once per process (0.22 s of CPU); a new thread's detector
    is a copy of it that finds the same faces with the same scores as the parsed one."""
    frame = _example_frames()[0]
    parse = dlib.get_frontal_face_detector

    def with_the_parsed_model(upsample: int) -> list:
        detect._per_thread.hog = parse()
        return detect_scored(frame, "hog", 480, upsample)

    with ThreadPoolExecutor(1) as pool:
        expected = [pool.submit(with_the_parsed_model, upsample).result() for upsample in (0, 1)]
    assert expected[1], "no face in the example frame"
    parsed = []
    monkeypatch.setattr(
        dlib, "get_frontal_face_detector", lambda: parsed.append(threading.current_thread().name) or parse()
    )
    detect._hog_model.cache_clear()
    for _ in range(3):
        # A new thread each time; other threads of this process (a served app's) may parse too.
        with ThreadPoolExecutor(1, thread_name_prefix="new-thread") as pool:
            found = [pool.submit(detect_scored, frame, "hog", 480, upsample).result() for upsample in (0, 1)]
        assert found == expected
    assert parsed, "the model was not parsed after it was forgotten"
    assert len([name for name in parsed if name.startswith("new-thread")]) <= 1


def _example_frames() -> list[np.ndarray]:
    frames = []
    for clip in CLIPS[:2]:
        capture = cv2.VideoCapture(str(clip))
        for _ in range(4):
            ok, frame = capture.read()
            assert ok
            frames.append(frame)
            for _ in range(10):
                capture.grab()
        capture.release()
    return frames


def test_scoring_keeps_its_thread_count_after_a_cnn_look(detector: Detector, genuine_clip: Path):
    """The CNN detector's worker runs one torch thread; scoring threads must not inherit it."""
    frame = _example_frames()[0]
    detect_cnn(frame)  # starts the CNN worker, which sets one thread for itself
    seen = []
    hook = detector.classifier.network.linear1.register_forward_hook(
        lambda *_: seen.append(torch.get_num_threads())
    )
    try:
        crop = np.zeros((112, 112, 3), np.uint8)
        # Two threads, whatever the default is (one per worker under pytest-xdist): a scoring
        # thread that inherited the CNN worker's one would show.
        worker = threading.Thread(
            target=detector.classifier.fake_probabilities, args=([crop],), kwargs={"threads": 2}
        )
        worker.start()
        worker.join()
    finally:
        hook.remove()
    assert seen == [2]
    assert detector.classifier.threads == torch.get_num_threads() >= 1


def test_explain_beside_scoring_gives_the_sequential_heatmaps(detector: Detector):
    crops = [np.full((112, 112, 3), 40 * i, np.uint8) for i in range(1, 7)]
    maps = detector.classifier.explain(crops)
    scores = detector.classifier.fake_probabilities(crops)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            explained = pool.submit(detector.classifier.explain, crops)
            scored = [pool.submit(detector.classifier.fake_probabilities, crops) for _ in range(3)]
            np.testing.assert_array_equal(explained.result(), maps)
            for future in scored:
                np.testing.assert_array_equal(future.result(), scores)
