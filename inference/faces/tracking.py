"""Following every person across the sampled frames of one video.

Faces are linked from one sampled frame to the next by box overlap (each known face is looked
for near its last place, which is cheap), and by face_recognition's 128-d face encodings where
overlap cannot tell: when a face appears after a gap (the person left and came back, or a cut)
while someone seen before is missing, and when two faces are close enough to be confused
(people who cross can swap places). Encodings cost about 20 ms a face, so a clip with one
person computes them only when its face comes back after being lost.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from inference.faces.detect import (
    MIN_IOU,
    TRACK_MARGIN,
    Box,
    area,
    detect_cnn,
    detect_scored,
    face_encoding,
    iou,
    search_near,
)
from inference.faces.refine import refine

logger = logging.getLogger(__name__)

# Two encodings closer than this are the same person: face_recognition's own default tolerance,
# which its authors measured on LFW (99.38 % accuracy).
SAME_PERSON_DISTANCE = 0.6
# A person seen within this many sampled frames is looked for near their last box (cheap).
RECENT = 4
# A few whole-frame searches per clip find people who enter while others are followed: one every
# max(8, frames / 4) sampled frames. They search a copy 1.5x max_side wide without upsampling,
# which finds faces from about a tenth of the frame's width in 0.05 s on a 1080p frame (the full
# search, upsampled once, finds half that size in 0.09 s; measured on abqwwspghj).
WHOLE_FRAME_SEARCHES = 4
MIN_WHOLE_FRAME_EVERY = 8
DISCOVERY_SCALE = 1.5
# After this many second looks in a row found nothing, a video gets no more (it is slow).
SECOND_LOOK_TRIES = 3
# A second look keeps faces scored at least this (dlib's HOG margin). The first look keeps any.
SECOND_LOOK_MIN_SCORE = 0.1
# A frame whose mean grey level is below this gets a second look on a contrast-equalised copy.
DARK_MEAN = 70
# When a known face is not found near its place in a large frame, the whole frame is searched
# only at every this-many-th such frame in a row (a face turned away for a moment is common).
WHOLE_FRAME_AFTER = 3
# Boxes found twice (near two people's last places) overlap at least this much.
SAME_BOX_IOU = 0.5
# Around a face, this much of its size is kept in the snapshot used for a later encoding.
SNAPSHOT_MARGIN = 0.5
# A face that would become a new person (beside the first) needs at least this HOG score
# (dlib's margin above its threshold). Measured on the shared clips and the examples: real
# faces 0.03-3.3 (the low ones in dim or turned-away frames, and mostly above 0.5), the
# detector's false faces on the astronaut's badge and suit 0.01-0.14. A low-scoring face is
# still linked to a person already known, and may start a new one when nobody else is seen.
NEW_PERSON_MIN_SCORE = 0.25


@dataclass
class Track:
    """One person as followed so far.

    Attributes:
        person: Number in order of first appearance (0-based).
        box: Last box (top, right, bottom, left), full-resolution pixels.
        seen_at: Step (sampled-frame number) of the last sighting.
        encoding: Mean face encoding (128-d) of the sightings encoded so far, or None.
        encoded: How many encodings the mean holds.
        snapshot: A BGR patch around the last face and the face's box inside it, kept so that
            the encoding can be computed later, only if it is ever needed.
    """

    person: int
    box: Box
    seen_at: int
    encoding: np.ndarray | None = None
    encoded: int = 0
    snapshot: tuple[np.ndarray, Box] | None = None


class PeopleTracker:
    """Finds every face in each sampled frame and says which person it belongs to.

    Args:
        model: Face detector, "hog" or "cnn".
        max_side: Longest side of the downscaled copy a whole frame is searched in.
        expected_frames: How many frames the video will give (spreads the whole-frame searches).
    """

    def __init__(self, model: str = "hog", max_side: int = 480, expected_frames: int = 20) -> None:
        self.model = model
        self.max_side = max_side
        self.whole_every = max(MIN_WHOLE_FRAME_EVERY, math.ceil(expected_frames / WHOLE_FRAME_SEARCHES))
        self.tracks: list[Track] = []
        self.step = -1
        self.near_misses = 0
        self.second_look_misses = 0
        self.encodings_computed = 0
        # Encodings computed in the current frame, by box, to be folded into the tracks.
        self._codes: dict[Box, np.ndarray] = {}

    def locate(self, frame_bgr: np.ndarray) -> list[tuple[int, Box]]:
        """Return (person, box) for every face in this BGR frame, boxes (top, right, bottom, left)."""
        self.step += 1
        self._codes = {}
        recent = [t for t in self.tracks if self.step - t.seen_at <= RECENT]
        found = self._follow(frame_bgr, recent)
        lost = len(found) < len(recent) or (self.tracks and not recent)
        self.near_misses = self.near_misses + 1 if lost else 0
        if self._search_whole_now(frame_bgr, bool(found), lost):
            self.near_misses = 0
            scored = self._discover(frame_bgr) if found else self._search_whole(frame_bgr)
            fresh = [(b, s) for b, s in scored if _is_new(b, found.values())]
            found.update(self._identify(frame_bgr, fresh, found))
        if _crowded(list(found.values())):
            found = self._untangle(frame_bgr, found)
        for person, box in found.items():
            self._update(self.tracks[person], frame_bgr, box)
        return sorted(found.items(), key=lambda item: item[1][3])

    def _follow(self, frame_bgr: np.ndarray, recent: list[Track]) -> dict[int, Box]:
        found: dict[int, Box] = {}
        for track in sorted(recent, key=lambda t: -area(t.box)):
            box = search_near(frame_bgr, track.box, self.model)
            if box is None and self.model == "hog":
                # dlib's CNN finds turned, dim and small faces HOG misses; near one face it
                # costs about 20 ms (inference.faces.refine).
                box = refine(frame_bgr, track.box, "cnn")
            if box is not None and _is_new(box, found.values()):
                found[track.person] = box
        return found

    def _search_whole_now(self, frame_bgr: np.ndarray, anyone: bool, lost: bool) -> bool:
        if not self.tracks:
            return True
        if lost:
            costly = max(frame_bgr.shape[:2]) > 2 * self.max_side
            # On a large frame a whole-frame search is slow and rarely finds a face that was
            # here a moment ago (most likely turned away or blurred for a moment): it is done
            # only at every WHOLE_FRAME_AFTER-th frame with someone missing.
            return not costly or self.near_misses >= WHOLE_FRAME_AFTER
        return anyone and self.step % self.whole_every == 0

    def _search_whole(self, frame_bgr: np.ndarray) -> list[tuple[Box, float]]:
        """(box, score) of every face in the frame, the largest first."""
        boxes = detect_scored(frame_bgr, self.model, self.max_side)
        if not boxes and self.second_look_misses < SECOND_LOOK_TRIES:
            boxes = self._second_look(frame_bgr)
            self.second_look_misses = 0 if boxes else self.second_look_misses + 1
        return sorted(boxes, key=lambda item: -area(item[0]))

    def _second_look(self, frame_bgr: np.ndarray) -> list[tuple[Box, float]]:
        """A costlier search where the first found nothing: small faces, dark ones, then the CNN.

        Small faces: twice the resolution (a large frame at twice ``max_side``, a small one
        upsampled twice; measured: 0 to 16 of 20 frames on a 360p copy of a full-body shot).
        Dark frames: the same search on a contrast-equalised copy (CLAHE on lightness; 6 to 10
        and 7 to 10 of 20 frames on darkened shared clips). Only faces HOG scores at least
        :data:`SECOND_LOOK_MIN_SCORE` are kept, so that noise is not taken for a face. Last,
        dlib's CNN on the copy (0.1-0.4 s; it finds turned and dim faces HOG does not, and any
        face it finds was a face to the original training code too).
        """
        height, width = frame_bgr.shape[:2]
        if max(height, width) > self.max_side:
            boxes = detect_scored(frame_bgr, self.model, 2 * self.max_side)
        else:
            boxes = detect_scored(frame_bgr, self.model, self.max_side, upsample=2)
        if not boxes and _is_dark(frame_bgr):
            boxes = detect_scored(_equalised(frame_bgr), self.model, self.max_side)
        kept = [(box, score) for box, score in boxes if score >= SECOND_LOOK_MIN_SCORE]
        if kept or self.model != "hog":
            return kept
        return detect_cnn(frame_bgr, self.max_side)

    def _discover(self, frame_bgr: np.ndarray) -> list[tuple[Box, float]]:
        """The cheaper whole-frame search for newcomers while everyone known is in view."""
        boxes = detect_scored(frame_bgr, self.model, round(DISCOVERY_SCALE * self.max_side), upsample=0)
        return sorted(boxes, key=lambda item: -area(item[0]))

    def _identify(
        self, frame_bgr: np.ndarray, scored: list[tuple[Box, float]], found: dict[int, Box]
    ) -> dict[int, Box]:
        """Person for each box found by a whole-frame search that no followed face explains."""
        if not scored:
            return {}
        fresh = [box for box, _ in scored]
        scores = dict(scored)
        absent = [t for t in self.tracks if t.person not in found]
        linked: dict[int, Box] = {}
        # A face that was just here, found by the whole-frame search where the nearby one failed.
        for track in absent:
            if self.step - track.seen_at <= RECENT and fresh:
                best = max(fresh, key=lambda b: iou(b, track.box))
                if iou(best, track.box) >= MIN_IOU:
                    linked[track.person] = best
                    fresh.remove(best)
        absent = [t for t in absent if t.person not in linked]
        if fresh and absent:
            # A face coming back after a gap, or a new one: only encodings can tell.
            codes = [self._encode(frame_bgr, box) for box in fresh]
            pairs = _match([self._track_encoding(t) for t in absent], codes)
            for track_index, box_index in pairs:
                linked[absent[track_index].person] = fresh[box_index]
            taken = {j for _, j in pairs}
            fresh = [b for i, b in enumerate(fresh) if i not in taken]
        alone = not found and not linked
        for box in fresh:
            # The largest face of a frame in which nobody else is seen needs no minimum score.
            if scores[box] < NEW_PERSON_MIN_SCORE and not (alone and box == fresh[0]):
                continue
            track = Track(person=len(self.tracks), box=box, seen_at=self.step)
            self.tracks.append(track)
            linked[track.person] = box
        return linked

    def _untangle(self, frame_bgr: np.ndarray, found: dict[int, Box]) -> dict[int, Box]:
        """With several faces in a frame, let the encodings decide who is who (people cross)."""
        people = list(found)
        boxes = [found[p] for p in people]
        codes = [self._encode(frame_bgr, box) for box in boxes]
        known = [self._track_encoding(self.tracks[p]) for p in people]
        if any(code is None for code in known + codes):
            return found
        rows, cols = _assign(np.array([[_distance(k, c) for c in codes] for k in known]))
        untangled = {people[r]: boxes[c] for r, c in zip(rows, cols, strict=True)}
        if untangled != found:
            logger.info("step %d: encodings re-assigned %d crossing faces", self.step, len(found))
        return untangled

    def _update(self, track: Track, frame_bgr: np.ndarray, box: Box) -> None:
        track.box, track.seen_at = box, self.step
        track.snapshot = _snapshot(frame_bgr, box)
        code = self._codes.get(box)
        if code is not None:
            total = track.encoding * track.encoded if track.encoding is not None else 0.0
            track.encoding = (total + code) / (track.encoded + 1)
            track.encoded += 1

    def _encode(self, frame_bgr: np.ndarray, box: Box) -> np.ndarray | None:
        patch, inner = _snapshot(frame_bgr, box)
        code = _encoding(patch, inner)
        self.encodings_computed += 1
        if code is not None:
            self._codes[box] = code
        return code

    def _track_encoding(self, track: Track) -> np.ndarray | None:
        if track.encoding is None and track.snapshot is not None:
            track.encoding = _encoding(*track.snapshot)
            self.encodings_computed += 1
            track.encoded = 1 if track.encoding is not None else 0
        return track.encoding


def _is_dark(frame_bgr: np.ndarray) -> bool:
    return float(cv2.cvtColor(frame_bgr[::4, ::4], cv2.COLOR_BGR2GRAY).mean()) < DARK_MEAN


def _equalised(frame_bgr: np.ndarray) -> np.ndarray:
    """The frame with its lightness equalised locally (CLAHE), BGR."""
    lab = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def _crowded(boxes: list[Box]) -> bool:
    """Whether two faces are close enough for the search near one to find the other."""
    grown = [_grow(box, 2 * TRACK_MARGIN) for box in boxes]
    return any(iou(a, b) > 0 for i, a in enumerate(grown) for b in grown[i + 1 :])


def _grow(box: Box, fraction: float) -> Box:
    top, right, bottom, left = box
    dy, dx = round((bottom - top) * fraction), round((right - left) * fraction)
    return (top - dy, right + dx, bottom + dy, left - dx)


def _is_new(box: Box, others) -> bool:
    return all(iou(box, other) < SAME_BOX_IOU for other in others)


def _snapshot(frame_bgr: np.ndarray, box: Box) -> tuple[np.ndarray, Box]:
    """A copy of the region around ``box`` and the box's position inside it."""
    top, right, bottom, left = box
    height, width = frame_bgr.shape[:2]
    margin_y, margin_x = round((bottom - top) * SNAPSHOT_MARGIN), round((right - left) * SNAPSHOT_MARGIN)
    y0, x0 = max(0, top - margin_y), max(0, left - margin_x)
    y1, x1 = min(height, bottom + margin_y), min(width, right + margin_x)
    return frame_bgr[y0:y1, x0:x1].copy(), (top - y0, right - x0, bottom - y0, left - x0)


def _encoding(patch_bgr: np.ndarray, box: Box) -> np.ndarray | None:
    return face_encoding(np.ascontiguousarray(patch_bgr[:, :, ::-1]), box)


def _distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    return float(np.linalg.norm(a - b)) if a is not None and b is not None else 1e6


def _match(known: list[np.ndarray | None], codes: list[np.ndarray | None]) -> list[tuple[int, int]]:
    """Pairs (known index, code index) of the same person, each used once, closest first."""
    if not known or not codes:
        return []
    cost = np.array([[_distance(k, c) for c in codes] for k in known])
    rows, cols = _assign(cost)
    return [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < SAME_PERSON_DISTANCE]


def _assign(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairing of rows and columns with the least total cost (Hungarian method, SciPy)."""
    # Imported here: scipy.optimize costs about 0.8 s of start-up, and only clips with a face
    # that comes back or with faces close together need it.
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(cost)
