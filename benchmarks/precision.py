"""What the opt-in bf16 mode moves, on every shared clip: ``python -m benchmarks.precision [--frames N]``.

Each clip of ``../shared/media/MANIFEST.tsv`` is analysed by two detectors in one process,
taking turns clip by clip after a warm-up: the default (f32, DEEPFAKE_RUNTIME unset) and
DEEPFAKE_PRECISION=bf16 (OpenVINO), both with the second opinion (random weights in the public
formats with their batch-norm statistics taken from real faces of a shared clip, so that the
scores spread as a trained network's do rather than sitting at 0 or 1; the shared BlazeFace
files). Per clip:
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

import cv2
import torch

from benchmarks.networks import calibrated
from benchmarks.run import MEDIA, OUT, clips, write_table
from benchmarks.second_opinion import BLAZEFACE, SECOND
from inference import AnalysisResult, Detector, Settings
from inference.faces.detect import crop, detect_faces
from inference.models import runtime
from inference.models.efficientnet import AUTOATT, build, to_tensor
from inference.models.network import ResNeXtLSTM
from inference.models.preprocess import crops_to_tensor
from inference.weights.config import ModelConfig

RESULTS = Path(__file__).with_name("precision.md")
CALIBRATION = "polimi-ispl__icpr2020dfdc__ffpp-youtube-519.mp4"  # as tests/test_runtime.py


def calibrated_weights(count: int = 16) -> tuple[Path, Path]:
    """Random ResNeXt50+LSTM and EfficientNetAutoAttB4 files in the public formats, their
    batch-norm statistics those of ``count`` real faces (made once, reused)."""
    first, second = OUT / "calibrated_resnext_lstm.pt", OUT / "calibrated_effnet_autoatt_b4.pth"
    if first.is_file() and second.is_file():
        return first, second
    capture = cv2.VideoCapture(str(MEDIA / CALIBRATION))
    faces: list = []
    while len(faces) < count:
        ok, frame = capture.read()
        if not ok:
            break
        boxes = detect_faces(frame)
        if boxes:
            faces.append(crop(frame, boxes[0]))
    capture.release()
    torch.manual_seed(0)
    resnext = calibrated(ResNeXtLSTM(), crops_to_tensor(faces, ModelConfig()))
    rgb = [cv2.cvtColor(cv2.resize(face, (224, 224)), cv2.COLOR_BGR2RGB) for face in faces]
    effnet = calibrated(build(AUTOATT), to_tensor(rgb))
    with torch.no_grad():  # logits spread over a few units, as a trained detector's do
        effnet.classifier.weight.mul_(200.0)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(resnext.state_dict(), first)
    torch.save(effnet.state_dict(), second)
    return first, second


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
    resnext, effnet = calibrated_weights()
    env = {
        "DEEPFAKE_WEIGHTS_PATH": str(resnext),
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
        "one process, taking turns clip by clip after a warm-up. Random weights in the public formats, "
        "batch-norm statistics from 16 real faces (scores spread as a trained network's), so the "
        "deltas show what bf16 does to these networks' arithmetic on real faces, not to a trained "
        "detector's scores; times are one run each on a shared machine "
        "(ratios, not seconds, are the figure). 'Delta': the largest |difference| in fake probability "
        "over the faces both analyses scored. The EfficientNet's last layer is scaled by 200 (as in "
        "tests/test_runtime.py) so that its logits spread over a few units on faces a random network "
        "sees as nearly alike: those logits are small differences of large sums, which bf16 rounds "
        "away, so its detector-2 deltas (up to a whole 0 <-> 1) are a stress case, not a trained "
        "network's figure; the ResNeXt's (about 1e-2) are nearer what to expect.",
        lines,
    )


if __name__ == "__main__":
    main()
