"""``python -m inference --live SOURCE``: judge a camera, a stream or a file while it plays.

SOURCE is a camera index (digits), a stream URL (rtsp, rtsps, rtmp, rtmps, srt, udp, tcp, http or
https) or a video file. Cameras and URLs are opened by OpenCV's FFmpeg directly, not by the
guarded link fetcher of :mod:`inference.links`: this is an operator's tool, run on their own
machine. Their frames are judged as they come, timed by this machine's clock. A file is played
back at its own frame rate by a reader thread, so frames are dropped as a camera's would be;
with ``--every-frame`` every frame is scored instead, as fast as scoring goes.

Once a second a line gives each person's rolling verdict; at the end of the source, at
DEEPFAKE_LIVE_TIME_LIMIT_S or on Ctrl-C, a summary line gives the frames received, scored (and
scored frames per second) and dropped, and the stream's verdict. With ``--json`` the report
(the JSON of a file's analysis) is printed on standard output and the lines go to standard error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import cv2

from inference.errors import VideoError
from inference.pipeline import Detector
from inference.result import AnalysisResult
from inference.settings import OFF
from inference.stream import LiveAnalyser, LiveState
from inference.tools.live_args import add_arguments as add_arguments  # kept here too: its old home
from inference.tools.live_args import check_arguments as check_arguments
from inference.tools.live_args import source_kind
from inference.video.plan import plan_sampling
from inference.video.probe import probe
from inference.video.read import Frame, sample_frames
from inference.video.window import analysis_window

logger = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "http", "https")
# How long the end of a run waits for the reader to notice it should stop: one frame's read.
STOP_WAIT_S = 2.0


def shown_name(source: str) -> str:
    """The report's name for ``source``: a file's name, "camera N", or a URL without its user,
    password and query (they may hold credentials)."""
    kind = source_kind(source)
    if kind == "file":
        return Path(source).name
    if kind == "camera":
        return f"camera {source}"
    parts = urlsplit(source)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def open_source(source: str, max_duration_s: float) -> Iterator[Frame]:
    """The frames of ``source`` in order, each (H, W, 3) uint8 BGR with its timestamp.

    A file's frames carry their own timestamps (its first ``max_duration_s`` seconds are read);
    a camera's and a stream's are stamped with this machine's clock as they come.

    Raises:
        VideoError: If the source cannot be opened, or a URL's scheme is not a stream's.
        FileNotFoundError: If a file does not exist.
        LimitExceededError: If a file's frames are larger than DEEPFAKE_MAX_PIXELS.
    """
    kind = source_kind(source)
    if kind == "file":
        return _file_frames(Path(source), max_duration_s)
    if kind == "stream" and urlsplit(source).scheme.lower() not in STREAM_SCHEMES:
        raise VideoError(
            f"{source}: --live takes {', '.join(STREAM_SCHEMES)} URLs, a camera index or a file "
            "(other FFmpeg protocols, such as file: or concat:, read local files)"
        )
    capture = cv2.VideoCapture(int(source)) if kind == "camera" else cv2.VideoCapture(source, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"{kind} {source} cannot be opened (no such {kind}, or it sends no video)")
    return _capture_frames(capture)


def _file_frames(path: Path, max_duration_s: float) -> Iterator[Frame]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    info = probe(path)
    window = analysis_window(info, None, None, max_duration_s)
    count = window.stop - window.first
    # Every frame of the window, in order, as a player decodes them: a budget that allows them all
    # (and the second pass a container that overstates its length would need).
    plan = plan_sampling(path, info, window, count, 2 * count * info.width * info.height)
    return sample_frames(path, window, count, info.decoder, plan)


def _capture_frames(capture: cv2.VideoCapture) -> Iterator[Frame]:
    started = time.monotonic()
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok or image is None:
                return
            yield Frame(index, time.monotonic() - started, image)
            index += 1
    finally:
        capture.release()


class Player:
    """Offers a source's frames to the analyser from a thread, each at its timestamp's time.

    A file's frames are offered at its own frame rate (the reader waits until each is due); a
    camera's come in real time already. Stops at the end of the source or when asked.

    Attributes:
        error: What stopped the reading, raised again by :meth:`stop`.
    """

    def __init__(self, frames: Iterator[Frame], analyser: LiveAnalyser) -> None:
        self._frames = frames
        self._analyser = analyser
        self._stopping = threading.Event()
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._play, name="live-reader", daemon=True)

    def start(self) -> None:
        """Start reading."""
        self._thread.start()

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the source to end; whether it has."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop reading and wait up to ``wait_s`` for the reader.

        A stalled stream's reader is blocked inside OpenCV's read(), which nothing interrupts:
        it is left behind (a daemon thread, gone with the command) so that the report comes.

        Raises:
            DeepfakeDetectorError: (or another error) What stopped the reading early.
        """
        self._stopping.set()
        self._thread.join(wait_s)
        if self._thread.is_alive():
            logger.warning("the source sends nothing: its reader is left waiting, the report follows")
        if self.error is not None:
            raise self.error

    def _play(self) -> None:
        first: tuple[float, float] | None = None
        try:
            for frame in self._frames:
                first = first or (time.monotonic(), frame.timestamp_s)
                due = first[0] + frame.timestamp_s - first[1] - time.monotonic()
                if self._stopping.wait(max(0.0, due)):
                    return
                self._analyser.offer(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB), frame.timestamp_s)
        except Exception as exc:  # raised again in the main thread by stop()
            self.error = exc
        finally:
            self._frames.close()


def run(detector: Detector, args: argparse.Namespace) -> AnalysisResult:
    """Judge ``args.live`` while it plays, printing a line a second and a summary; its report.

    Raises:
        DeepfakeDetectorError: If the source cannot be opened or read, or scoring fails.
        FileNotFoundError: If a file source does not exist.
    """
    limit = detector.settings.live_time_limit_s
    out = sys.stderr if args.json else sys.stdout
    analyser = LiveAnalyser(
        detector,
        name=shown_name(args.live),
        profile=args.profile,
        second_opinion=args.second_opinion or OFF,
        threaded=not args.every_frame,
    )
    with analyser:
        frames = open_source(args.live, detector.settings.max_duration_s)
        if args.every_frame:
            try:
                _show(_every_frame(frames, analyser), limit, out, wall=False)
            finally:
                frames.close()
        else:
            player = Player(frames, analyser)
            player.start()
            try:
                _show(_each_second(player, analyser), limit, out, wall=True)
            finally:
                player.stop()
        result = analyser.finish()
    print(summary(result), file=out, flush=True)
    if args.json:
        print(json.dumps(result.to_dict()), flush=True)
    return result


def _each_second(player: Player, analyser: LiveAnalyser) -> Iterator[LiveState]:
    """The analyser's state once a second while the player plays the source in real time."""
    tick = time.monotonic()
    while not player.wait(max(0.0, tick + 1.0 - time.monotonic())):
        tick += 1.0
        yield analyser.state()


def _every_frame(frames: Iterator[Frame], analyser: LiveAnalyser) -> Iterator[LiveState]:
    """Score every frame in order; the state after each new second of the video."""
    shown = 0
    for frame in frames:
        state = analyser.score(cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB), frame.timestamp_s)
        if state.elapsed_s >= shown + 1.0:
            shown = int(state.elapsed_s)
            yield state


def _show(states: Iterator[LiveState], limit_s: float, out: TextIO, wall: bool) -> None:
    """Print a line per state until the states end, the time limit or Ctrl-C.

    With ``wall``, the time limit follows this machine's clock, so that a stream that stalls
    (no frame, so no stream time) still ends at it; else the stream's time (``--every-frame``
    scores a file faster or slower than it plays).
    """
    started = time.monotonic()
    try:
        for state in states:
            print(line(state), file=out, flush=True)
            elapsed = max(state.elapsed_s, time.monotonic() - started) if wall else state.elapsed_s
            if elapsed >= limit_s:
                print(
                    f"stopped at the time limit of {limit_s:g} s (DEEPFAKE_LIVE_TIME_LIMIT_S)",
                    file=out,
                    flush=True,
                )
                return
    except KeyboardInterrupt:
        print("stopped (Ctrl-C)", file=out, flush=True)


def line(state: LiveState) -> str:
    """The line a second: ``3.0 s  person 1: FAKE 0.81  person 2: REAL 0.12  (scored 24, dropped 51)``."""
    people = "  ".join(f"person {p.person}: {p.verdict} {p.fake_probability:.2f}" for p in state.people)
    counts = f"(scored {state.scored}, dropped {state.dropped})"
    return f"{state.elapsed_s:.1f} s  {people or 'nobody seen'}  {counts}"


def summary(result: AnalysisResult) -> str:
    """The last line: frames received, scored (scored frames per second), dropped, latency, verdict.

    The scored frames are those searched for faces and scored, with a face or not: the report's
    ``frames_sampled``.
    """
    live = result.source
    assert live is not None  # LiveAnalyser.finish() puts the live figures there
    latency = live["latency_s"]
    return (
        f"live: {live['frames_received']} frames received, {result.frames_sampled} scored "
        f"({live['scored_frames_per_s']:.1f} frames/s), {live['frames_dropped']} dropped; latency median "
        f"{latency['median']:.2f} s, p95 {latency['p95']:.2f} s; {result.verdict.message}"
    )
