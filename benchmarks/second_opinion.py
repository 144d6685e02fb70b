"""What the second opinion costs: ``python -m benchmarks.second_opinion``.

On the three 1080p clips of ``../shared/media``, at 20 and 100 frames (100: the app's default,
the checkpoint's), the total time of an analysis without the second opinion and with it (random
weights in the public formats, the shared BlazeFace files), the better of two runs each, the two
taken in turn, in one process after a warm-up; then BlazeFace's milliseconds per frame (step by
step, one torch thread as on its watching thread), the paper's crop per face and the
EfficientNet's per face. Writes ``benchmarks/second_opinion.md``. ``--runs 1`` halves the time;
``--clips``, ``--frames`` choose; ``--quick`` only prints the analyses' rows.

Beside the seconds, the process's CPU seconds (every thread, and ffprobe) of each analysis, and
the floor they put on the ratio on 2 cores: the first detector's CPU plus what the second adds,
spread over both cores during the first detector's own time at best,
``max(1, CPU with the second / (2 * total of the first alone))``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import resource
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.run import MEDIA, OUT, random_checkpoint, write_table

RESULTS = Path(__file__).with_name("second_opinion.md")
CLIPS = (
    "aaronchong888__DeepFake-Detect__abqwwspghj.mp4",
    "polimi-ispl__icpr2020dfdc__brtujopkby.mp4",
    "polimi-ispl__icpr2020dfdc__lynaeydofd.mp4",
)
BLAZEFACE = MEDIA.parent / "models" / "blazeface" / "blazeface.pth"
SECOND = "effnet-autoatt-b4-dfdc"


def random_effnet() -> Path:
    """A random EfficientNetAutoAttB4 in the public format (made once, reused)."""
    from inference.models.efficientnet import AUTOATT, build

    path = OUT / "random_effnet_autoatt_b4.pth"
    if not path.is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(build(AUTOATT).state_dict(), path)
    return path


def best_of(runs: int, work) -> float:
    """The shortest of ``runs`` timings of ``work()``, seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def in_turn(runs: int, *works) -> tuple[list[float], list]:
    """Each of ``works`` run ``runs`` times, taking turns: the shortest time of each, and its last result."""
    best = [float("inf")] * len(works)
    last: list = [None] * len(works)
    for _ in range(runs):
        for i, work in enumerate(works):
            started = time.perf_counter()
            last[i] = work()
            best[i] = min(best[i], time.perf_counter() - started)
    return best, last


def blazeface_steps(finder, frames_rgb: list[np.ndarray], runs: int = 3) -> dict[str, float]:
    """Milliseconds per frame of each step of :meth:`FaceFinder.detect` and of the whole, one torch thread."""
    from inference.faces.blazeface import resized_tiles, tiles, weighted_nms

    placed = tiles(*frames_rgb[0].shape[:2])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batches = [
            torch.from_numpy(resized_tiles(f, placed)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            for f in frames_rgb
        ]
        with torch.inference_mode():
            raw = [finder.network(b) for b in batches]
            rows = [finder._decode(*r, placed) for r in raw]
            steps = {
                "tiles resized (INTER_AREA)": lambda: [resized_tiles(f, placed) for f in frames_rgb],
                "network (9 tiles)": lambda: [finder.network(b) for b in batches],
                "decoding": lambda: [finder._decode(*r, placed) for r in raw],
                "weighted NMS": lambda: [weighted_nms(r) for r in rows],
                "whole detect": lambda: [finder.detect(f) for f in frames_rgb],
            }
            times, _ = in_turn(runs, *steps.values())
    finally:
        torch.set_num_threads(before)
    return {name: 1000 * t / len(frames_rgb) for name, t in zip(steps, times, strict=True)}


def detector_with_second(extra: dict[str, str] | None = None):
    """A detector with the random first checkpoint and the random second opinion, and the clips."""
    from inference import Detector, Settings

    effnet = random_effnet()
    env = {
        "DEEPFAKE_WEIGHTS_PATH": str(random_checkpoint()),
        "DEEPFAKE_SECOND_OPINION": SECOND,
        "DEEPFAKE_SECOND_OPINION_PATH": str(effnet),
        "DEEPFAKE_PINS": f"{SECOND}={hashlib.sha256(effnet.read_bytes()).hexdigest()}",
        "DEEPFAKE_BLAZEFACE_PATH": str(BLAZEFACE),
        **(extra or {}),
    }
    return Detector.from_settings(Settings.from_env(env)), [MEDIA / name for name in CLIPS]


def cpu_s() -> float:
    """CPU seconds of this process (every thread) and of its waited-for children (ffprobe)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_in_turn(runs: int, *works) -> tuple[list[float], list[float], list]:
    """Like :func:`in_turn`, also the least CPU seconds of each work."""
    best = [float("inf")] * len(works)
    cpu = [float("inf")] * len(works)
    last: list = [None] * len(works)
    for _ in range(runs):
        for i, work in enumerate(works):
            started, cpu_started = time.perf_counter(), cpu_s()
            last[i] = work()
            best[i] = min(best[i], time.perf_counter() - started)
            cpu[i] = min(cpu[i], cpu_s() - cpu_started)
    return best, cpu, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=2, help="runs of each analysis, taken in turn (best kept)"
    )
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), help="clip names (or parts of them)")
    parser.add_argument("--frames", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--quick", action="store_true", help="only the analyses: no step timings, no file")
    args = parser.parse_args()
    runs = args.runs
    from inference import second_opinion
    from inference.faces.icpr_crops import paper_crop

    logging.basicConfig(level=logging.WARNING)
    detector, clips = detector_with_second()
    settings = detector.settings
    clips = [clip for clip in clips if any(part in clip.name for part in args.clips)]
    detector.analyze(clips[0], frames=4)  # warm-up: both networks loaded and run once
    lines = [
        "| clip | frames | total s, first detector only | total s, with second opinion | ratio "
        "| CPU s, first only | CPU s, with second | floor on 2 cores "
        "| second opinion's s (watching beside + scoring) | faces scored by the second |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for clip in clips:
        for frames in args.frames:
            (alone, both), (cpu_alone, cpu_both), (_, result) = timed_in_turn(
                runs,
                lambda c=clip, f=frames: detector.analyze(c, frames=f, second_opinion="off"),
                lambda c=clip, f=frames: detector.analyze(c, frames=f),
            )
            scored = result.detectors[1].frames_scored
            beside = result.timings.get("second_opinion", 0.0)
            # The first detector's CPU plus what the second adds, spread over both cores at best.
            floor = max(1.0, cpu_both / (2 * alone))
            lines.append(
                f"| {clip.stem.split('__')[-1]} | {frames} | {alone:.2f} | {both:.2f} | "
                f"**{both / alone:.2f}×** | {cpu_alone:.2f} | {cpu_both:.2f} | {floor:.2f}× "
                f"| {beside:.2f} | {scored} |"
            )
            print(lines[-1], flush=True)
    if args.quick:
        return
    spec = settings.second_opinion_spec()
    assert spec is not None
    second = second_opinion.load(
        spec, settings.blazeface_specs(), settings.device, settings.torch_threads, settings.network_runtime()
    )
    capture = cv2.VideoCapture(str(clips[0]))
    frames_rgb = []
    while len(frames_rgb) < 10:
        ok, image = capture.read()
        if not ok:
            break
        frames_rgb.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    capture.release()
    steps = blazeface_steps(second.finder, frames_rgb)
    rows = [second.finder.detect(f)[0] for f in frames_rgb]
    pairs = list(zip(frames_rgb, rows, strict=True))
    per_crop = best_of(3, lambda: [paper_crop(f, r) for f, r in pairs]) / len(pairs)
    faces = [paper_crop(f, r).face for f, r in zip(frames_rgb, rows, strict=True)] * 3
    (per_face,), (cpu_face,), _ = timed_in_turn(2, lambda: second.scorer.score(faces))
    per_face, cpu_face = per_face / len(faces), cpu_face / len(faces)
    lines += [
        "",
        "| BlazeFace on a 1080p frame, one torch thread | ms per frame |",
        "|---|---|",
        *(f"| {name} | {ms:.1f} |" for name, ms in steps.items()),
        "",
        f"BlazeFace: **{steps['whole detect']:.0f} ms per 1080p frame**; "
        f"the paper's crop (512 px region, JPEG round trip, 224 px): **{per_crop * 1000:.1f} ms per face**; "
        f"EfficientNetAutoAttB4 at 224 px, batches of 8: **{per_face * 1000:.0f} ms per face** "
        f"({second.scorer.threads} threads, {cpu_face * 1000:.0f} ms of CPU).",
    ]
    write_table(
        RESULTS,
        "The second opinion's cost",
        "Made by `python -m benchmarks.second_opinion` on 2 CPU cores, random weights in the public "
        f"formats, the shared BlazeFace files; {f'the better of {runs} runs' if runs > 1 else 'one run'} "
        "of each, taken in turn after a warm-up, in "
        "one process. The second opinion looks at up to 32 evenly spread sampled frames with a face "
        "(BlazeFace and the paper's crops on a thread of its own with one CPU thread, beside the "
        "decoding and the tracking), then scores each person's faces BlazeFace found there. Its "
        "seconds beside the tracking overlap the first detector's work; the "
        "ratio is what it adds. The floor: CPU seconds with the second opinion / (2 × the first "
        "detector's total alone), the least ratio 2 cores allow.",
        lines,
    )


if __name__ == "__main__":
    main()
