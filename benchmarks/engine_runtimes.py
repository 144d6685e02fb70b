"""The classifier networks as the engine runs them, on each CPU runtime (``python -m benchmarks.networks``).

Random weights in the public formats, batch-norm statistics taken from the input
(:func:`benchmarks.networks.calibrated`); random crops. All candidates run in one process,
interleaved round by round after a warm-up, so that the noise of a shared machine hits all alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.networks import THREADS, calibrated
from benchmarks.run import MEDIA
from benchmarks.second_opinion import detector_with_second
from inference.models import runtime
from inference.models.classifier import Classifier, _Backbone
from inference.models.efficientnet import AUTOATT, IcprScorer, _Scoring, build, to_tensor
from inference.models.network import ResNeXtLSTM
from inference.models.preprocess import crops_to_tensor
from inference.weights.config import ModelConfig

CANDIDATES = {
    "torch eager": runtime.EAGER,
    "ONNX Runtime f32": runtime.Runtime(runtime.ONNXRUNTIME),
    "OpenVINO f32": runtime.Runtime(runtime.OPENVINO),
    "OpenVINO bf16": runtime.Runtime(runtime.OPENVINO, runtime.BF16),
}
BASE = "OpenVINO f32"  # the default before ONNX Runtime was added
CLIP = "aaronchong888__DeepFake-Detect__abqwwspghj.mp4"  # 1920x1080, one person
CROPS = 20  # a 20-frame analysis of one person: two of the Classifier's batches of 10
FACES = 16  # two of the IcprScorer's batches of 8


def interleaved(works: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each of ``works`` per round, ``rounds`` rounds taking turns after one warm-up."""
    for work in works.values():
        work()
    seconds: dict[str, list[float]] = {label: [] for label in works}
    for _ in range(rounds):
        for label, work in works.items():
            started = time.perf_counter()
            work()
            seconds[label].append(time.perf_counter() - started)
    return seconds


def _scorers() -> tuple[dict[str, Callable[[int], np.ndarray]], dict[str, Callable[[int], np.ndarray]]]:
    """Per candidate, the ResNeXt's and the EfficientNet's scoring of their faces on a thread count."""
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (112, 112, 3), np.uint8) for _ in range(CROPS)]
    faces = [rng.integers(0, 256, (224, 224, 3), np.uint8) for _ in range(FACES)]
    torch.manual_seed(0)
    resnext = calibrated(ResNeXtLSTM(), crops_to_tensor(crops, ModelConfig()))
    effnet = calibrated(build(AUTOATT), to_tensor(faces))
    with torch.no_grad():  # logits spread over a few units, as a trained detector's do
        effnet.classifier.weight.mul_(200.0)
    cpu = torch.device("cpu")
    first, second = {}, {}
    for label, setting in CANDIDATES.items():
        classifier = Classifier(resnext, ModelConfig(), None, cpu, THREADS, setting)
        scorer = IcprScorer(effnet, cpu, THREADS, setting)
        first[label] = lambda t, c=classifier: c.fake_probabilities(crops, threads=t)

        def score(threads: int, s: IcprScorer = scorer) -> np.ndarray:
            s.threads = threads  # the watching thread's scorer is made with its own count
            return 1 / (1 + np.exp(-s.score(faces)[0]))

        second[label] = score
    return first, second


def networks(rounds: int, eager: bool = False) -> None:
    """Print the table of milliseconds per face, 2 threads and 1, best and median of ``rounds``
    (eager torch timed too when ``eager``: 2-8x slower, it takes most of the time)."""
    first, second = _scorers()
    groups = {"ResNeXt50 (backbone compiled, LSTM head in torch)": (first, CROPS)}
    groups["EfficientNet-B4 AutoAtt"] = (second, FACES)
    print(f"Networks: best and median of {rounds} interleaved rounds after a warm-up, ms per face\n")
    print(
        "| network | threads | runtime | best | median | vs OpenVINO f32 (best) | "
        "max deviation from eager (probability) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    for network, (scorers, count) in groups.items():
        expected = scorers["torch eager"](THREADS)
        deviation = {label: float(np.abs(run(THREADS) - expected).max()) for label, run in scorers.items()}
        timed = {label: run for label, run in scorers.items() if eager or label != "torch eager"}
        for threads in (THREADS, 1):
            works = {label: (lambda r=run, t=threads: r(t)) for label, run in timed.items()}
            seconds = interleaved(works, rounds)
            best = {label: min(times) * 1000 / count for label, times in seconds.items()}
            for label, times in seconds.items():
                print(
                    f"| {network} | {threads} | {label} | {best[label]:.1f} | "
                    f"{statistics.median(times) * 1000 / count:.1f} | {best[BASE] / best[label]:.2f}x | "
                    f"{deviation[label]:.1e} |",
                    flush=True,
                )


def starts(rounds: int = 2) -> None:
    """Print the first start (export + load + probe) and a later start (read + load + probe) of
    each compiled runtime, best of ``rounds``, each round in a fresh cache folder."""
    torch.manual_seed(0)
    parts = {
        "ResNeXt50 backbone": (_Backbone(ResNeXtLSTM().eval()), torch.zeros(1, 3, 112, 112), ["features"]),
        "EfficientNet-B4 AutoAtt": (
            _Scoring(build(AUTOATT).eval()),
            torch.zeros(1, 3, 224, 224),
            ["logits", "attention"],
        ),
    }
    print("\nStarts, seconds (best of 2, each in a fresh cache; the probe's torch pass included)\n")
    print("| network | runtime | first start (export + load + probe) | later start (read + load + probe) |")
    print("| --- | --- | --- | --- |", flush=True)
    for network, (module, example, outputs) in parts.items():
        found: dict[str, tuple[float, float]] = {}
        for _ in range(rounds):
            for name in runtime.COMPILED:
                with tempfile.TemporaryDirectory() as folder:
                    setting = runtime.Runtime(name, cache_dir=folder)
                    times = []
                    for _ in range(2):
                        started = time.perf_counter()
                        runtime.compiled_network(
                            module, example, outputs, "f" * 64 + "-bench", setting, THREADS
                        )
                        times.append(time.perf_counter() - started)
                before = found.get(name, (float("inf"), float("inf")))
                found[name] = (min(before[0], times[0]), min(before[1], times[1]))
        for name, (export, later) in found.items():
            print(f"| {network} | {name} | {export:.2f} | {later:.2f} |", flush=True)


def analyses(rounds: int, frames: int = 20) -> None:
    """Print the whole ``Detector.analyze`` of the 1080p clip at ``frames`` frames (both detectors)
    with each compiled f32 runtime, ``rounds`` interleaved rounds after a warm-up."""
    clip = MEDIA / CLIP
    detectors = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in runtime.COMPILED:
            detectors[name], _ = detector_with_second(
                {"DEEPFAKE_COMPILED_CACHE": folder, "DEEPFAKE_RUNTIME": name}
            )
        works = {
            name: (lambda d=detector: d.analyze(clip, frames=frames)) for name, detector in detectors.items()
        }
        seconds = interleaved(works, rounds)
    best = {name: min(times) for name, times in seconds.items()}
    print(
        f"\nWhole analysis of {CLIP} (1920x1080) at {frames} frames, both detectors, seconds "
        f"(best and median of {rounds} interleaved rounds after a warm-up)\n"
    )
    print("| runtime | best | median | vs OpenVINO f32 (best) |")
    print("| --- | --- | --- | --- |")
    for name, times in seconds.items():
        print(
            f"| {name} | {best[name]:.2f} | {statistics.median(times):.2f} | "
            f"{best[runtime.OPENVINO] / best[name]:.2f}x |",
            flush=True,
        )
