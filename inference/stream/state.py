"""A live stream's rolling state: what it has received and scored, each person's recent scores,
and the rolling verdicts read from them.

The analyser (:mod:`inference.stream.analyser`) keeps one :class:`Tally` and one :class:`Looks`
per person, and reads and writes them under its locks; :meth:`Tally.state` is what
:meth:`~inference.stream.analyser.LiveAnalyser.state` gives its callers.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from inference.collect import Face
from inference.faces.detect import Box
from inference.second_opinion import MAX_FRAMES, Sighting
from inference.verdict import verdict_for
from inference.video.probe import VideoInfo

# VideoInfo.decoder of a live stream: its frames came to the engine decoded.
LIVE = "live"
# With a second opinion, BlazeFace looks for a person at every this-many-th of their scored
# frames (twice a second at 8 frames/s), as long as they have fewer than MAX_FRAMES looks; past
# that, every other look is forgotten and the step doubles, so the looks stay evenly spread.
LOOK_EVERY = 4


@dataclass(frozen=True)
class LivePerson:
    """One person of a live stream as judged over the last seconds.

    Attributes:
        person: Number from 1, in the order people first appeared (the report keeps it).
        box: (top, right, bottom, left) in full-resolution pixels, in the latest scored frame
            that shows them.
        seen_s: That frame's timestamp, seconds.
        fake_probability: Mean of their per-frame fake probabilities over the window.
        verdict: FAKE, REAL or UNCERTAIN for that mean, with the file path's margin
            (DEEPFAKE_UNCERTAIN_MARGIN; :func:`inference.verdict.verdict_for`).
        message: Short text, e.g. "FAKE (0.81 over the last 3 s, 24 frames)".
        history: (timestamp_s, fake probability) of each of their scored frames in the window,
            oldest first (for a live plot).
    """

    person: int
    box: Box
    seen_s: float
    fake_probability: float
    verdict: str
    message: str
    history: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class LiveState:
    """Where a live stream stands.

    Attributes:
        elapsed_s: Stream time from the first frame received to the latest, seconds.
        received: Frames offered (or given to :meth:`LiveAnalyser.score`), dropped ones included.
        scored: Frames searched for faces and scored (a frame without a face counts too).
        dropped: Frames replaced by a fresher one before they were scored.
        people: The people seen within the window, by number.
        latency_s: Seconds from the arrival of the latest scored frame to its score.
        frame_shape: (height, width) of the latest frame received.
        scored_s: Timestamp of the latest scored frame (the window ends there); a person whose
            ``seen_s`` equals it is in that frame.
    """

    elapsed_s: float
    received: int
    scored: int
    dropped: int
    people: tuple[LivePerson, ...]
    latency_s: float | None
    frame_shape: tuple[int, int] | None
    scored_s: float | None = None


@dataclass
class _Seen:
    """One person's scored frames: timestamps, fake probabilities, and their latest box."""

    box: Box
    times: list[float] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)


@dataclass
class Looks:
    """BlazeFace's looks at one person for the second opinion, evenly spread (see LOOK_EVERY).

    Attributes:
        step: A look at every this-many-th appearance.
        appearances: The person's scored frames so far.
        taken: (frame index, the face BlazeFace found, or None) of each look kept, in time order.
    """

    step: int = LOOK_EVERY
    appearances: int = 0
    taken: list[tuple[int, Sighting | None]] = field(default_factory=list)

    def due(self) -> bool:
        """Count one more appearance; whether BlazeFace looks at it."""
        self.appearances += 1
        return (self.appearances - 1) % self.step == 0

    def add(self, frame_index: int, sighting: Sighting | None) -> None:
        """Keep a look, forgetting every other one when there are more than MAX_FRAMES."""
        self.taken.append((frame_index, sighting))
        if len(self.taken) > MAX_FRAMES:
            self.taken = self.taken[::2]
            self.step *= 2


@dataclass
class Tally:
    """What a live stream has received and scored so far (under the analyser's lock).

    Attributes:
        received: Frames offered (or scored at once), dropped ones included.
        scored: Frames searched for faces and scored.
        dropped: Frames replaced by a fresher one, or too late, before they were scored.
        unrefined: Boxes the profile's detector did not confirm, over the scored frames.
        first_s: Timestamp of the first frame received, seconds.
        latest_s: Timestamp of the latest frame received, seconds.
        scored_s: Timestamp of the latest scored frame, seconds.
        shape: (height, width) of the latest frame received.
        started: ``time.perf_counter()`` at the first frame's arrival.
        last_done: ``time.perf_counter()`` at the end of the latest frame's scoring.
        faces: Every scored face, in the order scored.
        score_of: Each face's fake probability, by (frame index, person).
        seen: Each person's scored frames, by person.
        latencies: Seconds from each scored frame's arrival to its score.
        spent: Seconds spent finding faces ("faces"), scoring them ("model"), and on the second
            opinion's looks ("second").
    """

    received: int = 0
    scored: int = 0
    dropped: int = 0
    unrefined: int = 0
    first_s: float | None = None
    latest_s: float | None = None
    scored_s: float | None = None
    shape: tuple[int, int] | None = None
    started: float | None = None
    last_done: float | None = None
    faces: list[Face] = field(default_factory=list)
    score_of: dict[tuple[int, int], float] = field(default_factory=dict)
    seen: dict[int, _Seen] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    spent: dict[str, float] = field(default_factory=lambda: {"faces": 0.0, "model": 0.0, "second": 0.0})

    @property
    def in_hand(self) -> int:
        """Frames received that are neither scored nor dropped yet (being found or scored)."""
        return self.received - self.scored - self.dropped

    def record(self, timestamp_s: float, faces: list[Face], unrefined: int, scores: list[float]) -> None:
        """Keep a scored frame's faces and scores."""
        self.scored += 1
        self.unrefined += unrefined
        self.scored_s = timestamp_s if self.scored_s is None else max(self.scored_s, timestamp_s)
        self.faces += faces
        for face, score in zip(faces, scores, strict=True):
            self.score_of[(face.frame_index, face.person)] = score
            seen = self.seen.setdefault(face.person, _Seen(face.box))
            seen.box = face.box
            seen.times.append(face.timestamp_s)
            seen.probabilities.append(score)

    def state(self, window_s: float, margin: float) -> LiveState:
        """The counts and each person's rolling verdict over ``window_s``, as of the latest scored frame."""
        now = self.scored_s
        people = () if now is None else self.rolling(now, window_s, margin)
        return LiveState(
            elapsed_s=0.0 if self.first_s is None else self.latest_s - self.first_s,
            received=self.received,
            scored=self.scored,
            dropped=self.dropped,
            people=people,
            latency_s=self.latencies[-1] if self.latencies else None,
            frame_shape=self.shape,
            scored_s=now,
        )

    def rolling(self, now: float, window_s: float, margin: float) -> tuple[LivePerson, ...]:
        """The people seen within the window of ``window_s`` seconds that ends at ``now``."""
        people = []
        for person, seen in sorted(self.seen.items()):
            start = bisect.bisect_left(seen.times, now - window_s)
            if start == len(seen.times):
                continue
            history = tuple(zip(seen.times[start:], seen.probabilities[start:], strict=True))
            fake = float(np.mean([probability for _, probability in history]))
            count = f"{len(history)} frame{'s' if len(history) > 1 else ''}"
            verdict = verdict_for(fake, f"mean over the last {window_s:g} s, {count}", margin)
            message = f"{verdict.label} ({fake:.2f} over the last {window_s:g} s, {count})"
            people.append(
                LivePerson(person + 1, seen.box, seen.times[-1], fake, verdict.label, message, history)
            )
        return tuple(people)

    def info(self) -> VideoInfo:
        """The stream as a file's video information (its decoder :data:`LIVE`)."""
        elapsed = (self.latest_s or 0.0) - (self.first_s or 0.0)
        height, width = self.shape or (0, 0)
        return VideoInfo(
            width=width,
            height=height,
            fps=round((self.received - 1) / elapsed, 3) if elapsed > 0 else None,
            frame_count=self.received,
            duration_s=elapsed,
            decoder=LIVE,
        )

    def figures(self, window_s: float) -> dict[str, object]:
        """The live figures of the report's ``source``."""
        # From the first frame's arrival to the end of the last frame's scoring (at least one).
        busy = (self.last_done or 0.0) - (self.started or 0.0)
        latencies = np.array(self.latencies)
        return {
            "live": True,
            "frames_received": self.received,
            "frames_scored": self.scored,
            "frames_dropped": self.dropped,
            "scored_frames_per_s": round(self.scored / busy, 3),
            "latency_s": {
                "median": round(float(np.median(latencies)), 4),
                "p95": round(float(np.percentile(latencies, 95)), 4),
                "max": round(float(latencies.max()), 4),
            },
            "window_s": window_s,
        }
