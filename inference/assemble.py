"""Assembling an analysis's result: its people, every detector's opinion, the verdicts and the notes.

:class:`~inference.pipeline.Detector` analyses a file (and :mod:`inference.stream` a live
stream) up to the scored faces; the methods here turn those into the
:class:`~inference.result.AnalysisResult`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace

import cv2
import numpy as np

from inference.collect import CollectedFaces, Face, most_seen
from inference.faces.detect import area
from inference.faces.profiles import Profile
from inference.models.classifier import BatchDone, Classifier
from inference.provenance.claims import Provenance
from inference.result import AnalysisResult, DetectorInfo, FrameScore, Opinion, Person, Verdict
from inference.second_opinion import SecondOpinion
from inference.settings import Settings
from inference.verdict import combine, decide_video, judge_person, with_provenance
from inference.video.probe import VideoInfo
from inference.video.window import Window

logger = logging.getLogger(__name__)


class Assembler:
    """The result's assembly, shared by :class:`~inference.pipeline.Detector` (its base class).

    Attributes:
        classifier: The first detector, loaded.
        settings: The limits and rules the verdicts follow.
    """

    classifier: Classifier
    settings: Settings

    def judge_people(
        self,
        faces: list[Face],
        scores: np.ndarray,
        collected: CollectedFaces,
        numbers: dict[int, int],
        second: SecondOpinion | None,
        explain: bool,
        done: BatchDone,
    ) -> tuple[list[FrameScore], list[Person]]:
        """The scored faces as frame scores, and each person judged by every detector.

        Args:
            faces: The kept faces in time order, renumbered (see :meth:`keep_most_seen`).
            scores: The first detector's fake probability of each face, same order.
            collected: What was gathered while decoding (sampled count, second opinion's faces).
            numbers: Tracker's person number -> our number (see :meth:`ranking`).
            second: The loaded second opinion, or None.
            explain: Also give the second opinion's attention maps.
            done: Told of the second opinion's faces after each batch (it may raise to stop).

        Raises:
            NonFiniteScoreError: If a score is NaN or infinite.
        """
        frame_scores = [
            FrameScore(face.frame_index, face.timestamp_s, face.box, float(score), None, face.person)
            for face, score in zip(faces, scores, strict=True)
        ]
        people = self._people(frame_scores, collected.sampled)
        return frame_scores, self._opinions(people, second, collected, numbers, explain, done)

    def build_result(
        self,
        name: str,
        collected: CollectedFaces,
        frame_scores: list[FrameScore],
        crops_bgr: list[np.ndarray],
        people: list[Person],
        detectors: list[DetectorInfo],
        *,
        info: VideoInfo,
        profile: Profile,
        notes: list[str],
        dropped: int,
        timings: dict[str, float],
        provenance: Provenance | None = None,
        second_crops: dict[tuple[int, int], np.ndarray] | None = None,
    ) -> AnalysisResult:
        """The result of an analysis once its faces are scored and its people judged.

        Args:
            name: The file's (or stream's) name for the report.
            collected: What was gathered while decoding.
            frame_scores: One per kept face, in time order (see :meth:`judge_people`).
            crops_bgr: The crops the network scored, (S, S, 3) uint8 BGR, same order.
            people: The people judged by every detector (see :meth:`judge_people`).
            detectors: The detectors asked, the first one first (see :meth:`load_detectors`).
            info: The video's size, frame rate and length.
            profile: The preprocessing profile the crops were made with.
            notes: What the report says first; the unavailable detectors, the people left out
                and the unconfirmed boxes follow.
            dropped: How many people were seen but left out (see :meth:`keep_most_seen`).
            timings: Seconds per stage, "total" included.
            provenance: The file's Content Credentials; none for a stream.
            second_crops: The second opinion's faces, when explained.

        Raises:
            NonFiniteScoreError: If a person's fake probability is NaN or infinite.
        """
        provenance = provenance or Provenance()
        detectors = list(detectors)
        detectors[0] = replace(detectors[0], frames_scored=len(frame_scores))
        if detectors[1].status == "used":
            detectors[1] = replace(
                detectors[1], frames_scored=sum(p.opinions[1].frames_scored for p in people)
            )
        frames_with_face = len({frame.frame_index for frame in frame_scores})
        verdict, video_opinions = self._video_verdicts(people, collected.sampled, frames_with_face, detectors)
        verdict = with_provenance(verdict, provenance)
        logger.info("%s: %s", name, verdict.message)
        return AnalysisResult(
            file_name=name,
            verdict=verdict,
            frames_sampled=collected.sampled,
            frames=frame_scores,
            crops=[cv2.cvtColor(face_crop, cv2.COLOR_BGR2RGB) for face_crop in crops_bgr],
            weights=self.classifier.info,
            video=info,
            timings=timings,
            notes=notes
            + [
                f"second opinion {d.name} unavailable: {d.reason}"
                for d in detectors
                if d.status == "unavailable"
            ]
            + self._dropped_note(dropped)
            + _unrefined_note(collected.unrefined, len(collected.faces), profile),
            people=people,
            profile=profile.name,
            detectors=detectors,
            opinions=video_opinions,
            second_crops=second_crops or {},
            provenance=provenance,
        )

    def _opinions(
        self,
        people: list[Person],
        second: SecondOpinion | None,
        collected: CollectedFaces,
        numbers: dict[int, int],
        explain: bool,
        done: BatchDone,
    ) -> list[Person]:
        """Each person with every detector's opinion and their combined verdict.

        ``done`` is told of the second opinion's faces after each batch (it may raise to stop).
        """
        raw = {new: old for old, new in numbers.items()}
        total = len(collected.sightings)
        scored = 0
        judged = []
        for person in people:
            mine = [Opinion(self.classifier.info.name, person.verdict, person.seen)]
            if second is not None:
                sightings = [s for s in collected.sightings if s.person == raw[person.id]]
                looked_at = collected.looked_at[raw[person.id]]

                def batch_done(faces: int, _: int, before: int = scored) -> None:
                    done(before + faces, total)

                mine.append(second.judge(person, sightings, looked_at, self.settings, explain, batch_done))
                scored += len(sightings)
            judged.append(replace(person, verdict=combine(mine), opinions=tuple(mine)))
        return judged

    def _video_verdicts(
        self, people: list[Person], sampled: int, frames_with_face: int, detectors: list[DetectorInfo]
    ) -> tuple[Verdict, list[Opinion]]:
        """The video's combined verdict (from its people's) and each answering detector's own."""
        rule = (sampled, frames_with_face, self.settings.min_face_fraction, self.settings.uncertain_margin)
        verdict = decide_video(people, *rule)
        names = [detector.name for detector in detectors if detector.status == "used"]
        if not any(name in verdict.message for name in names):
            verdict = replace(verdict, message=f"{verdict.message} (detectors: {', '.join(names)})")
        video_opinions = []
        for index, name in enumerate(names):
            own = [replace(p, verdict=p.opinions[index].verdict) for p in people]
            scored = sum(p.opinions[index].frames_scored for p in people)
            video_opinions.append(Opinion(name, decide_video(own, *rule), scored))
        return verdict, video_opinions

    def _second_crops(
        self, collected: CollectedFaces, numbers: dict[int, int]
    ) -> dict[tuple[int, int], np.ndarray]:
        """The second opinion's 224 px RGB faces by (our person number, frame index)."""
        return {
            (numbers[s.person], s.frame_index): s.crop.face
            for s in collected.sightings
            if s.person in numbers
        }

    def ranking(self, faces: list[Face]) -> dict[int, int]:
        """Tracker's person number -> our number from 1 for the most-seen people (at most
        DEEPFAKE_MAX_PEOPLE), the most seen first, ties by first appearance."""
        seen = Counter(face.person for face in faces)
        first: dict[int, int] = {}
        for face in faces:
            first.setdefault(face.person, face.frame_index)
        ranked = most_seen(seen, first, self.settings.max_people)
        return {person: rank + 1 for rank, person in enumerate(ranked)}

    def keep_most_seen(self, faces: list[Face], numbers: dict[int, int]) -> tuple[list[Face], int]:
        """The faces of the people ``numbers`` keeps, renumbered.

        Returns:
            The kept faces in time order (by person within a frame), and how many people were
            left out.
        """
        kept = [replace(face, person=numbers[face.person]) for face in faces if face.person in numbers]
        left_out = len({face.person for face in faces}) - len(numbers)
        return sorted(kept, key=lambda face: (face.frame_index, face.person)), left_out

    def _people(self, frames: list[FrameScore], sampled: int) -> list[Person]:
        people = []
        for number in sorted({frame.person for frame in frames}):
            mine = [i for i, frame in enumerate(frames) if frame.person == number]
            scores = [frames[i].fake_probability for i in mine]
            people.append(
                Person(
                    id=number,
                    verdict=judge_person(
                        number,
                        scores,
                        sampled,
                        self.settings.min_face_fraction,
                        self.settings.uncertain_margin,
                    ),
                    seen=len(mine),
                    first_seen_s=frames[mine[0]].timestamp_s,
                    last_seen_s=frames[mine[-1]].timestamp_s,
                    representative=max(mine, key=lambda i: area(frames[i].box)),
                )
            )
        return people

    def _dropped_note(self, dropped: int) -> list[str]:
        if not dropped:
            return []
        return [
            f"{dropped} more people were seen but not analysed: at most {self.settings.max_people} "
            "per video, the most seen first (DEEPFAKE_MAX_PEOPLE)"
        ]

    def _notes(self, collected: CollectedFaces, count: int, window: Window, info: VideoInfo) -> list[str]:
        notes = []
        plan = collected.plan
        # Frames the decoding plan leaves out on purpose are told by its own note, not here.
        expected = plan.samples if plan is not None else min(count, window.stop - window.first)
        if collected.sampled < expected:
            notes.append(
                f"only {collected.sampled} of the {expected} requested frames could be decoded "
                "(the file is shorter than it claims, or partly broken)"
            )
        if plan is not None and (decoding := plan.note()):
            notes.append(decoding)
        if window.truncated:
            notes.append(
                f"only the first {self.settings.max_duration_s:g} s of the window were analysed "
                f"(DEEPFAKE_MAX_DURATION_S); the video is {info.duration_s:.0f} s long"
            )
        return notes


def _unrefined_note(unrefined: int, faces: int, profile: Profile) -> list[str]:
    if not unrefined:
        return []
    return [
        f"{unrefined} of {faces} faces were cropped from the face finder's own box: the "
        f"{profile.detector.upper()} detector of the '{profile.name}' profile did not confirm them"
    ]
