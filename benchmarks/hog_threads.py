"""What a new thread pays for its HOG detector: ``python -m benchmarks.hog_threads``.

dlib's detectors are not thread-safe, so every thread that finds faces has a HOG detector of its
own (:func:`inference.faces.detect.hog_detector`). A served app meets new threads all the time:
AnyIO ends a request's worker thread after 10 s idle, and each live stream starts its own.
This times:

* building the detector as dlib does (``dlib.get_frontal_face_detector()``: it parses the
  model's text form) against copying the process's one parsed model (unpickling dlib's binary
  form, what the engine does now), best of ``--rounds``, CPU and wall;
* one whole analysis (first detector only, 20 frames, random weights in the public format) of
  the example clip and of a 1080p shared clip, each run in a new thread, with the thread's
  detector copied (now) or parsed from the text (before), interleaved, best of ``--rounds``.

Writes ``benchmarks/hog_threads.md``.
"""

from __future__ import annotations

import argparse
import pickle
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dlib

from benchmarks.run import MEDIA, REPO, random_checkpoint, write_table
from benchmarks.second_opinion import timed_in_turn

RESULTS = Path(__file__).with_name("hog_threads.md")
CLIPS = [
    REPO / "examples" / "genuine_astronaut.mp4",
    MEDIA / "aaronchong888__DeepFake-Detect__abqwwspghj.mp4",
]


def in_new_thread(work: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(work).result()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()

    from inference import Detector, Settings
    from inference.faces import detect

    model = pickle.dumps(dlib.get_frontal_face_detector())
    walls, cpus, _ = timed_in_turn(args.rounds, dlib.get_frontal_face_detector, lambda: pickle.loads(model))
    parse, copy = zip(walls, cpus, strict=True)
    lines = [
        "| building a thread's HOG detector | wall ms | CPU ms |",
        "|---|---|---|",
        f"| parsed from the text (dlib.get_frontal_face_detector, before) | {1000 * parse[0]:.1f} "
        f"| {1000 * parse[1]:.1f} |",
        f"| copied from the parsed model (pickle, now) | {1000 * copy[0]:.2f} | {1000 * copy[1]:.2f} |",
        "",
        f"| one analysis in a new thread, {args.frames} frames, first detector | "
        "before: wall s | now: wall s | before: CPU s | now: CPU s |",
        "|---|---|---|---|---|",
    ]
    env = {"DEEPFAKE_WEIGHTS_PATH": str(random_checkpoint()), "DEEPFAKE_SECOND_OPINION": "off"}
    detector = Detector.from_settings(Settings.from_env(env))

    def analysis(clip: Path, parsed: bool) -> Callable[[], object]:
        def work() -> object:
            if parsed:
                detect._per_thread.hog = dlib.get_frontal_face_detector()
            return detector.analyze(clip, frames=args.frames)

        return in_new_thread(work)

    for clip in (c for c in CLIPS if c.is_file()):
        analysis(clip, False)()  # warm-up: weights, runtime sessions, caches
        walls, cpus, _ = timed_in_turn(args.rounds, analysis(clip, True), analysis(clip, False))
        lines.append(f"| {clip.name} | {walls[0]:.2f} | {walls[1]:.2f} | {cpus[0]:.2f} | {cpus[1]:.2f} |")
    write_table(
        RESULTS,
        "A new thread's HOG detector",
        f"Made by `python -m benchmarks.hog_threads --rounds {args.rounds}` on 2 CPU cores "
        f"({platform.machine()}), nothing else running; best of the rounds, the two ways "
        "interleaved. CPU: the process's, every thread.",
        lines,
    )


if __name__ == "__main__":
    main()
