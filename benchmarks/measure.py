"""One timed measurement in a fresh process, printed as JSON (used by ``benchmarks.run``).

``python -m benchmarks.measure MODE CLIP FRAMES --weights FILE`` with MODE one of:
project (this engine), baseline (the original app's path), floor (decode every frame with
``grab()`` + the model on FRAMES crops: the least any pipeline must do).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import psutil


def _since_process_start() -> float:
    return time.time() - psutil.Process().create_time()


def measure_project(clip: str, frames: int, weights: str) -> dict[str, float]:
    from inference import Detector, Settings

    # DEEPFAKE_PROFILE passes through (engines that predate profiles ignore it).
    profile = os.environ.get("DEEPFAKE_PROFILE", "")
    settings = Settings.from_env(
        {"DEEPFAKE_WEIGHTS_PATH": weights, "DEEPFAKE_MAX_FRAMES": "300", "DEEPFAKE_PROFILE": profile}
    )
    detector = Detector.from_settings(settings)
    result = detector.analyze(clip, frames=frames)
    first_verdict = _since_process_start()
    return {**result.timings, "frames_with_face": result.frames_with_face, "start_to_verdict": first_verdict}


def measure_baseline(clip: str, frames: int, weights: str) -> dict[str, float]:
    import torch

    from benchmarks.original import OriginalModel, run_original

    model = OriginalModel().eval()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return run_original(model, clip, frames)


def measure_floor(clip: str, frames: int, weights: str) -> dict[str, float]:
    import cv2
    import numpy as np

    from inference.models.classifier import Classifier, pick_device
    from inference.weights.hub import resolve
    from inference.weights.registry import CheckpointSpec

    classifier = Classifier.load(resolve(CheckpointSpec("floor", local_path=weights)), pick_device("cpu"))
    started = time.perf_counter()
    capture = cv2.VideoCapture(clip)
    while capture.grab():
        pass
    capture.release()
    decoded = time.perf_counter()
    crops = [np.random.default_rng(i).integers(0, 256, (112, 112, 3), np.uint8) for i in range(frames)]
    classifier.fake_probabilities(crops)
    done = time.perf_counter()
    return {"decode": decoded - started, "model": done - decoded, "total": done - started}


MODES = {"project": measure_project, "baseline": measure_baseline, "floor": measure_floor}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("clip")
    parser.add_argument("frames", type=int)
    parser.add_argument("--weights", required=True)
    args = parser.parse_args()
    figures = MODES[args.mode](args.clip, args.frames, args.weights)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(figures, sys.stdout)


if __name__ == "__main__":
    main()
