"""How fast a live stream is judged: ``python -m benchmarks.live``.

A 640x480, 25 fps shared clip (``ffpp-youtube-519``, one face) is played in real time for 20 s,
as ``python -m inference --live FILE`` plays it (a reader thread decodes it and offers each frame
at its time; the analyser scores the freshest), with the ``app`` profile, with ``training``, and
with ``app`` and the second opinion. For each run: frames received, scored and dropped, scored
frames per second, the delay from a frame's arrival to its score (median, 95th percentile), the
process's CPU use (CPU seconds over wall seconds: 2.0 is both cores busy), and how long
``finish()`` takes. Random weights in the public formats (speed does not depend on them), one
warm-up stream first. Writes ``benchmarks/live.md``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import time
from pathlib import Path

from benchmarks.run import MEDIA, random_checkpoint, write_table
from benchmarks.second_opinion import BLAZEFACE, SECOND, random_effnet

RESULTS = Path(__file__).with_name("live.md")
CLIP = MEDIA / "polimi-ispl__icpr2020dfdc__ffpp-youtube-519.mp4"
SECONDS = 20.0
RUNS = (("app", "off"), ("training", "off"), ("app", SECOND))


def cpu_seconds() -> float:
    """CPU time of this process (all its threads), user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def play(detector, profile: str, second: str, seconds: float) -> dict[str, float]:
    """Play the clip for ``seconds`` into a live analyser; its figures."""
    from inference.stream import LiveAnalyser
    from inference.tools.live_cli import Player, open_source

    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), cpu_seconds()
    with LiveAnalyser(detector, name=CLIP.name, profile=profile, second_opinion=second) as live:
        player = Player(open_source(str(CLIP), 600.0), live)
        player.start()
        player.wait(seconds)
        player.stop()
        wall, used = time.perf_counter() - started, cpu_seconds() - cpu
        finishing = time.perf_counter()
        result = live.finish()
        finished = time.perf_counter() - finishing
    figures = result.source
    return {
        "received": figures["frames_received"],
        "scored": figures["frames_scored"],
        "dropped": figures["frames_dropped"],
        "rate": figures["scored_frames_per_s"],
        "median": figures["latency_s"]["median"],
        "p95": figures["latency_s"]["p95"],
        "cpu": used / wall,
        "finish": finished,
        "load": load,
    }


def main() -> None:
    from inference import Detector, Settings

    logging.basicConfig(level=logging.WARNING)
    effnet = random_effnet()
    env = {
        "DEEPFAKE_WEIGHTS_PATH": str(random_checkpoint()),
        "DEEPFAKE_SECOND_OPINION_PATH": str(effnet),
        "DEEPFAKE_PINS": f"{SECOND}={hashlib.sha256(effnet.read_bytes()).hexdigest()}",
        "DEEPFAKE_BLAZEFACE_PATH": str(BLAZEFACE),
    }
    detector = Detector.from_settings(Settings.from_env(env))
    play(detector, "app", "off", 3.0)  # warm-up: first forward passes, dlib and the face finder loaded
    lines = [
        "| profile | second opinion | received | scored | dropped | scored frames/s | latency median s "
        "| latency p95 s | CPU use (of 2 cores) | finish() s | load average before |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for profile, second in RUNS:
        f = play(detector, profile, second, SECONDS)
        lines.append(
            f"| {profile} | {second} | {f['received']} | {f['scored']} | {f['dropped']} | {f['rate']:.1f} "
            f"| {f['median']:.3f} | {f['p95']:.3f} | {f['cpu']:.2f} | {f['finish']:.2f} | {f['load']:.1f} |"
        )
        print(lines[-1], flush=True)
    intro = (
        f"`python -m benchmarks.live`: {CLIP.name} (640x480, 25 fps, one face) played in real time for "
        f"{SECONDS:g} s into the live analyser as `python -m inference --live FILE` plays it (a reader "
        f"thread decodes it), on this machine's {os.cpu_count()} CPU cores, random weights in the public "
        "formats, after a warm-up stream. No GPU is available here, so there are no GPU figures. Latency: "
        "from a frame's arrival to its score. CPU use: the process's CPU seconds over wall seconds (2.0 is "
        "both cores busy); the finder (faces) and the scorer (model, one torch thread) each take a core at "
        "most. The machine is shared: the load average before each run says how much else ran. With the "
        "second opinion, BlazeFace looks at every 4th frame of each person, and `finish()` runs the "
        "EfficientNet-B4 on the faces it found (at most 32 per person)."
    )
    write_table(RESULTS, "Live streams: frames scored per second and latency", intro, lines)


if __name__ == "__main__":
    main()
