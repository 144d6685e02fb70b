"""The second opinion: an ICPR 2020 EfficientNet judging our people on BlazeFace's faces.

While the video is decoded, BlazeFace looks at up to :data:`MAX_FRAMES` evenly spread sampled
frames (those in which our tracker found a face). Each of its detections is matched to the
tracked person whose box it overlaps most (IoU at least :data:`MATCH_IOU`) and cut as the ICPR
2020 training faces were (:mod:`inference.faces.icpr_crops`) and scored by the EfficientNet
(on the watching thread as they are cut; :meth:`SecondOpinion.judge` scores any it is given
unscored). Each person's fake probability is the sigmoid of the mean logit of their faces, as
the authors scored videos. A person BlazeFace did not find gets "face not found", never a guess.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from inference.errors import (
    CheckpointFormatError,
    RuntimeUnavailableError,
    WeightsIntegrityError,
    WeightsUnavailableError,
)
from inference.faces.blazeface import BOX, FaceFinder
from inference.faces.detect import Box
from inference.faces.icpr_crops import PaperCrop, paper_crop
from inference.models.classifier import BatchDone, pick_device
from inference.models.efficientnet import IcprScorer, load_network
from inference.models.network import read_checked, read_state_dict
from inference.models.runtime import EAGER, Runtime
from inference.result import CANNOT_JUDGE, Opinion, OpinionFrame, Person, Verdict
from inference.settings import Settings
from inference.verdict import needed_frames, verdict_for
from inference.weights import hub
from inference.weights.hub import WeightsInfo
from inference.weights.registry import CheckpointSpec

logger = logging.getLogger(__name__)

MAX_FRAMES = 32
MATCH_IOU = 0.3
MAX_SHORT_SIDE = 1080
# The watching thread's CPU threads: decoding and tracking keep the other core busy.
WATCH_THREADS = 1


@dataclass(frozen=True)
class Sighting:
    """One of our people's faces as BlazeFace found it, cut for the EfficientNet.

    Attributes:
        person: The tracker's number for the person (before the pipeline renumbers people).
        frame_index: Frame number in the file.
        crop: The face and its box, see :class:`inference.faces.icpr_crops.PaperCrop`.
        logit: The EfficientNet's logit for the face once scored (:meth:`SecondOpinion.scored`),
            else None.
        attention: Its AutoAtt map once scored, (28, 28) float32 in [0, 1]; None before, or for
            networks without attention.
    """

    person: int
    frame_index: int
    crop: PaperCrop
    logit: float | None = None
    attention: np.ndarray | None = None


class SecondOpinion:
    """A loaded ICPR 2020 detector with its face finder; shared between threads.

    Attributes:
        name: The registry entry.
        architecture: "EfficientNetB4" or "EfficientNetAutoAttB4".
        finder: BlazeFace with its anchors.
        scorer: The EfficientNet.
        info: Where its weights came from, and their sha256.
    """

    def __init__(
        self, name: str, architecture: str, finder: FaceFinder, scorer: IcprScorer, info: WeightsInfo
    ) -> None:
        self.name = name
        self.architecture = architecture
        self.finder = finder
        self.scorer = scorer
        self.info = info

    @staticmethod
    def due(appearance: int, samples: int) -> bool:
        """Whether BlazeFace looks at a person's ``appearance``-th sampled frame (from 1).

        Each person's appearances are thinned evenly to at most :data:`MAX_FRAMES` of the
        ``samples`` sampled frames (all of them when 32 or fewer are sampled), so that a person
        seen throughout gets 32 looks spread over the clip, and each person gets their own.
        """
        if samples <= MAX_FRAMES:
            return True
        return (appearance * MAX_FRAMES) // samples > ((appearance - 1) * MAX_FRAMES) // samples

    def watch(
        self, image_bgr: np.ndarray, frame_index: int, located: list[tuple[int, Box]], due: set[int]
    ) -> list[Sighting]:
        """Find the faces of one frame and match them to the tracked people.

        Frames whose short side is above 1080 px are first shrunk to 1080 (the DFDC videos'
        size, for which the tiling was made: above it, the three 720 px tiles leave gaps).

        Args:
            image_bgr: The frame, (H, W, 3) uint8 BGR.
            frame_index: Its number in the file.
            located: (tracker's person number, box (top, right, bottom, left) in frame pixels)
                of every face our tracker found in it; all take part in the matching.
            due: The people whose faces are kept (see :meth:`due`).

        Returns:
            The sightings of the ``due`` people BlazeFace found; their boxes are in the pixels of
            the image the crop was cut from (``crop.frame_size``: the frame, or the frame shrunk
            with OpenCV's INTER_AREA).
        """
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        scale = min(1.0, MAX_SHORT_SIDE / min(rgb.shape[:2]))
        if scale < 1.0:
            size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        rows = self.finder.detect(rgb)
        scaled = [(person, tuple(v * scale for v in box)) for person, box in located]
        sightings = []
        for person, row in match(scaled, rows):
            if person in due:
                # The crop keeps the box it was cut from, in the pixels of the (shrunk) image:
                # a box scaled back to frame pixels could not rebuild it.
                sightings.append(Sighting(person, frame_index, paper_crop(rgb, rows[row])))
        return sightings

    def scored(
        self, sightings: list[Sighting], threads: int | None = None, done: BatchDone | None = None
    ) -> list[Sighting]:
        """``sightings`` with the EfficientNet's logit (and attention map) of each face.

        Scoring each frame's faces as they are cut, on the watching thread, puts the network's
        work where the first detector leaves a core idle, instead of after it; :meth:`judge`
        scores only what is not scored yet. A face's logit does not depend on the faces it is
        batched with, up to float rounding (tests/test_second_watch.py compares).

        Args:
            sightings: Faces as :meth:`watch` gives them.
            threads: CPU threads to score with; None for the scorer's own count.
            done: Called with (faces done, faces in all) after each batch; it may raise to stop.
        """
        if not sightings:
            return sightings
        logits, maps = self.scorer.score([s.crop.face for s in sightings], True, done, threads)
        return [
            replace(s, logit=float(logit), attention=None if maps is None else maps[i])
            for i, (s, logit) in enumerate(zip(sightings, logits, strict=True))
        ]

    def judge(
        self,
        person: Person,
        sightings: list[Sighting],
        looked_at: int,
        settings: Settings,
        explain: bool,
        done: BatchDone | None = None,
    ) -> Opinion:
        """This detector's opinion of ``person`` from the faces BlazeFace found of them.

        Args:
            person: The person, judged by the first detector.
            sightings: Their faces found by BlazeFace, in time order.
            looked_at: In how many of the person's frames BlazeFace looked for them.
            settings: For the margin and the share of frames needed.
            explain: Also give the attention map of each face (AutoAtt networks).
            done: Called after each batch of faces (it may raise to stop).
        """
        if not person.judged:
            return self._cannot(f"person {person.id}: seen briefly, not judged.")
        if not looked_at:
            return self._cannot(f"second opinion: none of person {person.id}'s frames was looked at.")
        if not sightings:
            return self._cannot(
                f"second opinion: face not found (BlazeFace, a face detector for faces close to "
                f"the camera, did not find person {person.id} in the {looked_at} frames it looked at)."
            )
        needed = needed_frames(looked_at, settings.min_face_fraction)
        if len(sightings) < needed:
            return self._cannot(
                f"second opinion: face found in only {len(sightings)} of the {looked_at} frames it "
                f"looked at (at least {needed} needed)."
            )
        faces = [sighting.crop.face for sighting in sightings]
        logits, maps = self._scores(sightings, explain, done)
        if not np.all(np.isfinite(logits)):
            logger.warning("second opinion %s gave non-finite logits for person %d", self.name, person.id)
            return self._cannot("second opinion: its network gave non-finite scores (broken weights).")
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0)))
        fake = float(1.0 / (1.0 + np.exp(-np.clip(np.mean(logits), -50.0, 50.0))))
        counts = f"sigmoid of the mean logit over {len(faces)} faces found in {looked_at} frames looked at"
        frames = tuple(
            OpinionFrame(
                frame_index=sighting.frame_index,
                blazeface_box=sighting.crop.margin_box,
                blazeface_frame_size=sighting.crop.frame_size,
                fake_probability=float(probability),
                attention=None if maps is None else maps[i],
            )
            for i, (sighting, probability) in enumerate(zip(sightings, probabilities, strict=True))
        )
        verdict = verdict_for(fake, counts, settings.uncertain_margin)
        return Opinion(self.name, verdict, len(frames), frames)

    def _scores(
        self, sightings: list[Sighting], explain: bool, done: BatchDone | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits (N,) and, when ``explain``, attention maps (N, 28, 28) or None, of the sightings'
        faces: those :meth:`scored` gave, the others scored now."""
        before = sum(s.logit is not None for s in sightings)
        if before < len(sightings):

            def scoring(faces: int, _: int) -> None:
                if done is not None:
                    done(before + faces, len(sightings))

            rest = iter(self.scored([s for s in sightings if s.logit is None], done=scoring))
            sightings = [s if s.logit is not None else next(rest) for s in sightings]
        elif done is not None:
            done(len(sightings), len(sightings))
        logits = np.array([s.logit for s in sightings], dtype=np.float64)
        with_maps = explain and all(s.attention is not None for s in sightings)
        return logits, (np.stack([s.attention for s in sightings]) if with_maps else None)

    def _cannot(self, message: str) -> Opinion:
        """An opinion that is CANNOT JUDGE, with why."""
        return Opinion(self.name, Verdict(CANNOT_JUDGE, None, None, message))


def match(located: list[tuple[int, Box]], rows: np.ndarray) -> list[tuple[int, int]]:
    """Pair tracked faces with BlazeFace rows, the most overlapping pairs first, each used once.

    Args:
        located: (person, box (top, right, bottom, left)) of our tracked faces.
        rows: BlazeFace rows (ymin, xmin, ymax, xmax, ...), see :meth:`FaceFinder.detect`.

    Returns:
        (person, row index) pairs whose boxes overlap by at least :data:`MATCH_IOU`.
    """
    pairs = []
    for person, (top, right, bottom, left) in located:
        for index, row in enumerate(rows):
            ymin, xmin, ymax, xmax = (float(v) for v in row[BOX])
            inter = max(0.0, min(right, xmax) - max(left, xmin)) * max(
                0.0, min(bottom, ymax) - max(top, ymin)
            )
            union = (right - left) * (bottom - top) + (xmax - xmin) * (ymax - ymin) - inter
            if union > 0 and inter / union >= MATCH_IOU:
                pairs.append((inter / union, person, index))
    taken_people: set[int] = set()
    taken_rows: set[int] = set()
    matched = []
    for _, person, index in sorted(pairs, reverse=True):
        if person not in taken_people and index not in taken_rows:
            taken_people.add(person)
            taken_rows.add(index)
            matched.append((person, index))
    return matched


_loading = threading.Lock()
Unavailable = WeightsUnavailableError | CheckpointFormatError | RuntimeUnavailableError
# A load that failed is not tried again for this long: each try may wait on the network.
RETRY_AFTER_S = 300.0
_failures: dict[tuple, tuple[float, Unavailable]] = {}


def load(
    spec: CheckpointSpec,
    blazeface: tuple[CheckpointSpec, CheckpointSpec],
    device: str,
    threads: int,
    runtime: Runtime = EAGER,
) -> SecondOpinion:
    """Resolve, verify and load a second opinion once per process (cached).

    A failure is remembered for :data:`RETRY_AFTER_S` and raised again meanwhile, so that
    requests do not each wait on unreachable sources.

    Raises:
        WeightsUnavailableError: If its weights or BlazeFace's files cannot be had (each source's
            reason is named), or do not match their pins.
        CheckpointFormatError: If the weights are not of the entry's architecture.
        RuntimeUnavailableError: If the compiled runtime cannot run the network (DEEPFAKE_RUNTIME).
    """
    key = (spec, blazeface, device, threads, runtime)
    with _loading:
        failed = _failures.get(key)
        if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_S:
            raise failed[1]
        try:
            loaded = _load(spec, blazeface, device, threads, runtime)
        except (WeightsUnavailableError, CheckpointFormatError, RuntimeUnavailableError) as exc:
            _failures[key] = (time.monotonic(), exc)
            raise
        _failures.pop(key, None)
        return loaded


@lru_cache(maxsize=2)
def _load(
    spec: CheckpointSpec,
    blazeface: tuple[CheckpointSpec, CheckpointSpec],
    device: str,
    threads: int,
    runtime: Runtime,
) -> SecondOpinion:
    weights = hub.resolve(spec)
    finder_weights, anchors = (hub.resolve(part) for part in blazeface)
    chosen = pick_device(device)
    # Both BlazeFace files are parsed from the bytes whose sha256 was checked against the pins.
    state = read_state_dict(finder_weights.weights_file, finder_weights.info.sha256)
    try:
        grid = np.load(
            io.BytesIO(read_checked(anchors.weights_file, anchors.info.sha256)), allow_pickle=False
        )
        finder = FaceFinder.from_state(state, grid, chosen)
    except (RuntimeError, ValueError, OSError) as exc:
        raise CheckpointFormatError(f"BlazeFace files cannot be loaded: {exc}") from exc
    network = load_network(weights.weights_file, str(spec.architecture), weights.info.sha256)
    # Set up for the watching thread, where an analysis scores its faces.
    scorer = IcprScorer(network, chosen, threads, runtime, weights.info.sha256, ready_threads=WATCH_THREADS)
    logger.info("second opinion %s loaded on %s", weights.info.location, chosen)
    return SecondOpinion(spec.name, str(spec.architecture), finder, scorer, weights.info)


def unavailable_reason(exc: Unavailable) -> str:
    """A short reason for reports and visitors when the second opinion cannot load: no paths, no
    settings of the server (the full message goes to the operator's log, with what to set)."""
    logger.warning(
        "second opinion unavailable: %s. To provide it offline, set DEEPFAKE_SECOND_OPINION_PATH "
        "(a copy of the weights) and DEEPFAKE_BLAZEFACE_PATH (blazeface.pth with anchors.npy), "
        "or pre-fill the Hugging Face cache (HF_HOME); DEEPFAKE_SECOND_OPINION=off turns it off",
        exc,
    )
    if isinstance(exc, WeightsIntegrityError):
        return "its weights failed their sha256 check, so they were not loaded"
    if isinstance(exc, CheckpointFormatError):
        return "its weights are not in the expected format"
    if isinstance(exc, RuntimeUnavailableError):
        return "its network could not be compiled on this server"
    return "its weights could not be had on this server (offline or not downloaded)"
