"""What the opt-in bf16 mode moves, on every shared clip: ``python -m benchmarks.precision [--frames N]``.

Each clip of ``../shared/media/MANIFEST.tsv`` is analysed by two detectors in one process,
taking turns clip by clip after a warm-up: the default (f32, DEEPFAKE_RUNTIME unset) and
DEEPFAKE_PRECISION=bf16 (OpenVINO), both with the second opinion (random weights in the public
formats, as :mod:`benchmarks.second_opinion` makes them, the shared BlazeFace files). Per clip:
the largest per-frame difference in fake probability of each detector, the verdicts that
change (the video's, each person's, each detector's on each person), and the time of each
analysis. Writes ``benchmarks/precision.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import tempfile
import time
from pathlib import Path

from benchmarks.run import clips, random_checkpoint, write_table
from benchmarks.second_opinion import BLAZEFACE, SECOND, random_effnet
from inference import AnalysisResult, Detector, Settings
from inference.models import runtime

RESULTS = Path(__file__).with_name("precision.md")


def scores(result: AnalysisResult) -> tuple[dict[tuple, float], dict[tuple, float]]:
    """Per-frame fake probabilities of the first detector and of the second, keyed by
    (person, frame index)."""
    first = {(frame.person, frame.frame_index): frame.fake_probability for frame in result.frames}
    second = {
        (person.id, frame.frame_index): frame.fake_probability
        for person in result.people
        for opinion in person.opinions[1:]
        for frame in opinion.frames
    }
    return first, second


def verdicts(result: AnalysisResult) -> dict[str, str]:
    """Every verdict of ``result``: the video's, each person's and each detector's on each person."""
    found = {"video": result.verdict.label}
    for person in result.people:
        found[f"person {person.id}"] = person.verdict.label
        for number, opinion in enumerate(person.opinions, 1):
            found[f"person {person.id} detector {number}"] = opinion.verdict.label
    return found


def largest_gap(a: dict[tuple, float], b: dict[tuple, float]) -> str:
    """The largest |difference| over the frames both scored, and how many only one scored."""
    shared = a.keys() & b.keys()
    if not shared:
        return "no frame" if not a and not b else f"none shared ({len(a)} vs {len(b)})"
    gap = max(abs(a[key] - b[key]) for key in shared)
    alone = len(a.keys() ^ b.keys())
    return f"{gap:.1e}" + (f" ({alone} frames scored by one only)" if alone else "")


def _timed(detector: Detector, clip: str, frames: int) -> tuple[AnalysisResult, float]:
    started = time.perf_counter()
    result = detector.analyze(clip, frames=frames)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="frames sampled per clip")
    frames = parser.parse_args().frames
    logging.basicConfig(level=logging.WARNING)
    effnet = random_effnet()
    env = {
        "DEEPFAKE_WEIGHTS_PATH": str(random_checkpoint()),
        "DEEPFAKE_SECOND_OPINION": SECOND,
        "DEEPFAKE_SECOND_OPINION_PATH": str(effnet),
        "DEEPFAKE_PINS": f"{SECOND}={hashlib.sha256(effnet.read_bytes()).hexdigest()}",
        "DEEPFAKE_BLAZEFACE_PATH": str(BLAZEFACE),
    }
    lines = [
        "| clip | size | largest per-frame delta, detector 1 | largest per-frame delta, detector 2 "
        "| verdicts changed | f32 s | bf16 s | bf16 / f32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        f32 = Detector.from_settings(Settings.from_env({**env, "DEEPFAKE_COMPILED_CACHE": folder}))
        bf16 = Detector.from_settings(
            Settings.from_env({**env, "DEEPFAKE_COMPILED_CACHE": folder, "DEEPFAKE_PRECISION": "bf16"})
        )
        chosen = clips([])
        for detector in (f32, bf16):  # warm-up: both networks of each loaded and run once
            detector.analyze(str(chosen[0][0]), frames=4)
        for path, size in chosen:
            (exact, exact_s), (fast, fast_s) = (_timed(d, str(path), frames) for d in (f32, bf16))
            first, second = zip(scores(exact), scores(fast), strict=True)
            before, after = verdicts(exact), verdicts(fast)
            changed = [
                f"{name}: {before.get(name)} -> {after.get(name)}"
                for name in sorted(before.keys() | after.keys())
                if before.get(name) != after.get(name)
            ]
            lines.append(
                f"| {path.name} | {size} | {largest_gap(*first)} | {largest_gap(*second)} | "
                f"{'; '.join(changed) or 'none'} | {exact_s:.2f} | {fast_s:.2f} | {fast_s / exact_s:.2f} |"
            )
            print(lines[-1], flush=True)
    write_table(
        RESULTS,
        "The bf16 mode's deviation on every shared clip",
        f"Made by `python -m benchmarks.precision --frames {frames}` on 2 shared CPU cores: each clip "
        f"analysed at {frames} frames by the default detector (f32, DEEPFAKE_RUNTIME unset: "
        f"{runtime.DEFAULT}) and by DEEPFAKE_PRECISION=bf16 (OpenVINO), both with the second opinion, "
        "one process, taking turns clip by clip after a warm-up. Random weights in the public formats "
        "(benchmarks/second_opinion.py's), so the deltas show what bf16 does to these networks' "
        "arithmetic on real faces, not a trained detector's; times are one run each on a shared machine "
        "(ratios, not seconds, are the figure). 'Delta': the largest |difference| in fake probability "
        "over the faces both analyses scored.",
        lines,
    )


if __name__ == "__main__":
    main()
