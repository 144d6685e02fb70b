"""A finished live stream reported like a file: the code of :meth:`Detector.analyze` on its faces.

Every person's verdict over all their frames, the video's verdict, the second opinion's when it
was on, and the notes (the frames received, scored and dropped first); the report's ``source``
holds the live figures (:meth:`inference.stream.state.Tally.figures`).
"""

from __future__ import annotations

import time

import numpy as np

from inference.collect import CollectedFaces
from inference.errors import VideoError
from inference.faces.profiles import Profile
from inference.pipeline import Detector
from inference.result import AnalysisResult, DetectorInfo
from inference.second_opinion import SecondOpinion
from inference.stream.state import Looks, Tally
from inference.weights.config import PER_FRAME


def stream_result(
    detector: Detector,
    name: str,
    profile: Profile,
    tally: Tally,
    looks: dict[int, Looks],
    opinion: SecondOpinion | None,
    detectors: list[DetectorInfo],
    window_s: float,
) -> AnalysisResult:
    """The whole stream as a file's report (once the stream is closed: nothing changes).

    Args:
        detector: The engine that scored the stream.
        name: The report's ``file_name``.
        profile: The preprocessing profile the faces were cropped with.
        tally: What the stream received and scored.
        looks: The second opinion's looks at each person (empty when it is off).
        opinion: The loaded second opinion, or None.
        detectors: The detectors of the analysis, first one first (see
            :meth:`Detector.load_detectors`).
        window_s: Seconds of the rolling verdict, for the live figures.

    Raises:
        VideoError: If no frame was scored.
    """
    if not tally.scored:
        raise VideoError(f"{name}: no frame of the live stream was scored ({tally.received} received)")
    # Numbered as on the live view (order of first appearance); DEEPFAKE_MAX_PEOPLE keeps the
    # most seen, as for a file.
    numbers = {person: person + 1 for person in detector.ranking(tally.faces)}
    faces, left_out = detector.keep_most_seen(tally.faces, numbers)
    raw = {new: old for old, new in numbers.items()}
    scores = np.array([tally.score_of[(face.frame_index, raw[face.person])] for face in faces])
    collected = _collected(tally, looks, numbers)
    second_started = time.perf_counter()
    frame_scores, people = detector.judge_people(
        faces, scores, collected, numbers, opinion, False, lambda done, total: None
    )
    timings = {"faces": tally.spent["faces"], "model": tally.spent["model"]}
    if opinion is not None:
        timings["second_opinion"] = tally.spent["second"] + time.perf_counter() - second_started
    timings["total"] = time.perf_counter() - (tally.started or 0.0)
    result = detector.build_result(
        name,
        collected,
        frame_scores,
        [face.crop_bgr for face in faces],
        people,
        detectors,
        info=tally.info(),
        profile=profile,
        notes=_notes(tally, detector, len(people)),
        dropped=left_out,
        timings=timings,
    )
    result.source = tally.figures(window_s)
    return result


def _collected(tally: Tally, looks: dict[int, Looks], numbers: dict[int, int]) -> CollectedFaces:
    """The stream's faces and the second opinion's looks, as a file's analysis gathers them."""
    collected = CollectedFaces(faces=tally.faces, sampled=tally.scored, unrefined=tally.unrefined)
    for person, person_looks in looks.items():
        if person in numbers:
            collected.looked_at[person] = len(person_looks.taken)
            collected.sightings += [s for _, s in person_looks.taken if s is not None]
    return collected


def _notes(tally: Tally, detector: Detector, people: int) -> list[str]:
    notes = [
        f"live stream: {tally.received} frames received, {tally.scored} scored, {tally.dropped} "
        "dropped (only the freshest frame is scored; frames that came while one was scored were "
        "dropped)"
    ]
    if people > 1:
        notes.append("people are numbered in the order they appeared, as on the live view")
    config = detector.classifier.config
    if config.kind != PER_FRAME:
        notes.append(
            f"each face's fake probability is that of the window of the person's last {config.frames} "
            "faces ending at it (a file's analysis averages the windows that hold a face)"
        )
    return notes
