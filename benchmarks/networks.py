"""The classifier networks on each CPU runtime: ``python -m benchmarks.networks [--rounds N] [--analyses N]``.

By default (:mod:`benchmarks.engine_runtimes`, about 3 minutes on 2 quiet cores): the networks
as the engine runs them (the ResNeXt's backbone compiled and its LSTM head in torch, 20 crops in
the Classifier's batches of 10; the EfficientNet AutoAtt in the IcprScorer's batches of 8) on
ONNX Runtime f32, OpenVINO f32 and bf16 (and eager torch with ``--eager``), on 2 threads and on
1, interleaved round by round, best and median; the first start (export) and a later start
(read + session) of each compiled runtime; the whole ``Detector.analyze`` of a 1080p shared clip
at 20 frames (both detectors) with each f32 runtime, interleaved. ``--analyses 0`` skips the
analyses, ``--rounds 0`` all but them.

``--variants``: the first comparison, whole networks (the ResNeXt with its LSTM) on eager PyTorch
variants, TorchScript, ONNX Runtime and OpenVINO. Random weights in the public formats with
their batch-norm statistics taken from the input (so activations are of a trained network's
scale, not vanishing towards denormal numbers). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import logging
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inference.models import onnx_runtime, runtime
from inference.models.efficientnet import AUTOATT, build
from inference.models.network import ResNeXtLSTM

THREADS = 2
Candidate = Callable[[torch.Tensor], np.ndarray]


def calibrated(network: nn.Module, batch: torch.Tensor) -> nn.Module:
    """``network`` with every batch norm's running statistics those of ``batch`` (eval mode)."""
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the one calibration pass
    network.train()
    with torch.no_grad():
        network(batch)
    return network.eval()


def _timed(work: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def candidates(
    module: nn.Module, example: torch.Tensor, probability: Callable[[torch.Tensor], np.ndarray], notes: dict
) -> dict[str, Candidate]:
    """The runtimes to compare for ``module`` (returning logits), each mapping a batch to probabilities."""
    import onnxruntime

    last = copy.deepcopy(module).to(memory_format=torch.channels_last)

    def eager(mkldnn: bool, channels_last: bool) -> Candidate:
        def run(x: torch.Tensor) -> np.ndarray:
            with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=mkldnn):
                if channels_last:
                    return probability(last(x.contiguous(memory_format=torch.channels_last)))
                return probability(module(x))

        return run

    found: dict[str, Candidate] = {
        "torch eager, NCHW, native kernels": eager(False, False),
        "torch eager, NCHW, oneDNN": eager(True, False),
        "torch eager, channels-last, oneDNN": eager(True, True),
        "torch eager, channels-last, native kernels": eager(False, True),
    }
    with torch.no_grad():
        frozen, seconds = _timed(lambda: torch.jit.freeze(torch.jit.trace(module, example)))
    notes["torch.jit trace+freeze (s)"] = seconds
    found["torch.jit trace+freeze"] = lambda x: probability(frozen(x))
    onnx, seconds = _timed(lambda: runtime.export_onnx(module, example, ["logits"]))
    notes["ONNX export (s)"] = seconds
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
    session, seconds = _timed(lambda: onnxruntime.InferenceSession(onnx, options, ["CPUExecutionProvider"]))
    notes["onnxruntime session (s)"] = seconds
    found["onnxruntime f32"] = lambda x: probability(torch.from_numpy(session.run(None, {"x": x.numpy()})[0]))
    for precision in runtime.PRECISIONS:
        model = runtime.cached_model(module, example, ["logits"], None, Path())
        compiled, seconds = _timed(lambda p=precision, m=model: runtime.CompiledNetwork(m, p))
        _, first = _timed(lambda c=compiled: c(example.numpy(), THREADS))
        notes[f"OpenVINO {precision} read + compile (s)"] = seconds + first
        found[f"OpenVINO {precision}"] = lambda x, c=compiled: probability(
            torch.from_numpy(c(x.numpy(), THREADS)[0])
        )
    return found


def measure(
    name: str, module: nn.Module, batch: torch.Tensor, probability, rounds: int, today: str
) -> list[str]:
    """Markdown rows (network, runtime, ms per face, speed-up over ``today``, max deviation)."""
    notes: dict[str, float] = {}
    found = candidates(module, batch, probability, notes)
    reference = found[today](batch)
    notes["probabilities spread (eager, max - min)"] = float(np.ptp(reference))
    deviation = {label: float(np.abs(run(batch) - reference).max()) for label, run in found.items()}
    best = dict.fromkeys(found, float("inf"))
    for _ in range(rounds):
        for label, run in found.items():  # interleaved: the machine's noise hits all alike
            _, seconds = _timed(lambda r=run: r(batch))
            best[label] = min(best[label], seconds)
    base = best[today]
    rows = [
        f"| {name} | {label} | {best[label] * 1000 / len(batch):.1f} | {base / best[label]:.2f}x | "
        f"{deviation[label]:.1e} |"
        for label in found
    ]
    rows += [f"| {name} | {label} | {value:.3g} | | |" for label, value in notes.items()]
    return rows


def variants(rounds: int) -> None:
    """The first comparison (``--variants``): eager PyTorch variants, TorchScript and the compiled
    runtimes on whole networks, 2 threads, best of ``rounds``."""
    torch.manual_seed(0)
    faces = torch.randn(8, 3, 224, 224)
    effnet = calibrated(build(AUTOATT), faces)
    with torch.no_grad():  # logits spread over a few units, as a trained detector's do
        effnet.classifier.weight.mul_(200.0)
    crops = torch.randn(10, 3, 112, 112)
    resnext = calibrated(ResNeXtLSTM(), crops)
    # The ResNeXt's probability is softmax over its two logits, as the Classifier computes it.
    print(f"torch {torch.__version__}, {THREADS} threads, best of {rounds} rounds after a warm-up\n")
    print("| network | runtime | ms per face | speed-up vs today's | max deviation (probability) |")
    print("| --- | --- | --- | --- | --- |", flush=True)
    # Today's runtimes: IcprScorer ran channels-last with oneDNN; the Classifier NCHW, native kernels.
    effnet_rows = measure(
        "EfficientNet-B4 AutoAtt",
        effnet,
        faces,
        lambda out: torch.sigmoid(out).numpy(),
        rounds,
        "torch eager, channels-last, oneDNN",
    )
    print("\n".join(effnet_rows), flush=True)
    resnext_rows = measure(
        "ResNeXt50+LSTM",
        resnext,
        crops,
        lambda out: torch.softmax(out, dim=1)[:, 1].numpy(),
        rounds,
        "torch eager, NCHW, native kernels",
    )
    print("\n".join(resnext_rows), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed rounds per candidate after a warm-up (0: analyses only)"
    )
    parser.add_argument("--analyses", type=int, default=3, help="timed whole analyses per runtime (0: none)")
    parser.add_argument("--eager", action="store_true", help="time eager torch too (slow)")
    parser.add_argument(
        "--variants", action="store_true", help="the eager/TorchScript variants table instead"
    )
    parser.add_argument(
        "--spinning", action="store_true", help="ONNX Runtime's threads spin-wait (its default)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(THREADS)
    if args.variants:
        variants(args.rounds)
        return
    from benchmarks import engine_runtimes

    onnx_runtime.SPINNING = args.spinning
    print(
        f"torch {torch.__version__}, onnxruntime {version('onnxruntime')}, openvino {version('openvino')}; "
        f"ONNX Runtime spinning {'on' if args.spinning else 'off'}\n",
        flush=True,
    )
    if args.rounds:
        engine_runtimes.networks(args.rounds, args.eager)
        engine_runtimes.starts()
    if args.analyses:
        engine_runtimes.analyses(args.analyses)


if __name__ == "__main__":
    main()
