"""The classifier networks compiled by OpenVINO for the CPU: the same float32 scores, faster.

A network's scoring part is exported once to ONNX (PyTorch's TorchScript exporter), from the
module whose weights were just read from the sha256-checked bytes, converted to OpenVINO's
format and compiled by its CPU plugin. The converted model is kept in a cache folder under the
weights' sha256 (with the export's input size and the versions that made it), so a later process
skips the export and the conversion. Explanations
(Grad-CAM, attention maps) and training keep using the torch module itself.

OpenVINO on a CPU with bf16 instructions (AVX-512 BF16, AMX) runs in bf16 unless told otherwise:
the default precision here is forced to f32, so the scores stay those of eager PyTorch (within
1e-5 in probability, ``tests/test_runtime.py``); bf16 is an opt-in faster mode.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from huggingface_hub import constants
from torch import nn

from inference.errors import DeepfakeDetectorError

logger = logging.getLogger(__name__)

OPENVINO = "openvino"
TORCH = "torch"
RUNTIMES = (OPENVINO, TORCH)
F32 = "f32"
BF16 = "bf16"
PRECISIONS = (F32, BF16)
# Bump when what is exported changes (the wrapped modules, the exporter's options).
EXPORT_VERSION = 1


class RuntimeUnavailableError(DeepfakeDetectorError):
    """The compiled runtime could not export or compile a network."""


@dataclass(frozen=True)
class Runtime:
    """How the classifier networks are run on CPU.

    Attributes:
        name: "openvino" (compiled, the default) or "torch" (the eager module).
        precision: "f32" (scores equal eager PyTorch's) or "bf16" (faster on CPUs with bf16
            instructions; scores move, see the README).
        cache_dir: Where exported networks are kept; None for :func:`default_cache_dir`.
    """

    name: str = OPENVINO
    precision: str = F32
    cache_dir: str | None = None

    def compiles(self, device: torch.device) -> bool:
        """Whether networks on ``device`` are compiled (OpenVINO runs on the CPU only)."""
        return self.name == OPENVINO and device.type == "cpu"


EAGER = Runtime(TORCH)


def default_cache_dir() -> Path:
    """``$HF_HOME/deepfake-detector/compiled``: beside the downloaded weights."""
    return Path(constants.HF_HOME) / "deepfake-detector" / "compiled"


def _versions() -> str:
    import openvino

    return f"v{EXPORT_VERSION}-torch{torch.__version__.split('+')[0]}-ov{openvino.__version__.split('-')[0]}"


def export_onnx(module: nn.Module, example: torch.Tensor, outputs: list[str]) -> bytes:
    """``module`` as ONNX bytes, batch size dynamic (input "x", outputs ``outputs``)."""
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            (example,),
            buffer,
            dynamo=False,
            input_names=["x"],
            output_names=outputs,
            dynamic_axes={"x": {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
            opset_version=17,
        )
    return buffer.getvalue()


def cached_model(
    module: nn.Module, example: torch.Tensor, outputs: list[str], key: str | None, cache_dir: Path
):
    """``module`` as an OpenVINO model: read from ``cache_dir`` when ``key`` names one made before.

    The cache holds OpenVINO's own format (``.xml`` + ``.bin``, weights kept in float32), which
    it reads in a fraction of the time that converting the ONNX export again takes (0.3 s
    against 2 s for the EfficientNet).

    Args:
        module: The network part to export, weights loaded.
        example: An input of the shape it takes (the batch size may differ later).
        outputs: Names for its outputs.
        key: What identifies the module and its weights (their sha256 and the part exported);
            None to export without caching (weights not from a checked file).
        cache_dir: The cache folder (made when missing).

    Returns:
        An ``openvino.Model``.
    """
    import openvino

    if key is None:
        return _converted(export_onnx(module, example, outputs))
    path = cache_dir / f"{key}-{'x'.join(map(str, example.shape[1:]))}-{_versions()}.xml"
    if path.is_file() and path.with_suffix(".bin").is_file():
        return openvino.Core().read_model(path)
    started = time.perf_counter()
    model = _converted(export_onnx(module, example, outputs))
    logger.info("exported %s for OpenVINO in %.1f s", path.name, time.perf_counter() - started)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed, weights first: processes exporting at once never read a
        # half-written pair.
        aside = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".part-"))
        openvino.save_model(model, aside / "model.xml", compress_to_fp16=False)
        os.replace(aside / "model.bin", path.with_suffix(".bin"))
        os.replace(aside / "model.xml", path)
        aside.rmdir()
    except OSError as exc:
        logger.warning("cannot keep the exported network in %s (%s): each start exports it", cache_dir, exc)
    return model


def _converted(onnx: bytes):
    import openvino

    try:
        return openvino.convert_model(io.BytesIO(onnx))
    except RuntimeError as exc:
        raise RuntimeUnavailableError(f"OpenVINO cannot read the exported network: {exc}") from exc


class CompiledNetwork:
    """An ONNX network compiled by OpenVINO for the CPU, one compilation per thread count.

    Thread-safe: each compilation's one infer request is used under a lock.
    """

    def __init__(self, model, precision: str = F32) -> None:
        """Args: model: an ``openvino.Model`` (see :func:`cached_model`); precision: f32 or bf16."""
        import openvino

        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}; known: {', '.join(PRECISIONS)}")
        self.precision = precision
        self._core = openvino.Core()
        self._model = model
        self._compiled: dict[int, tuple[object, threading.Lock]] = {}
        self._lock = threading.Lock()

    def _request(self, threads: int) -> tuple[object, threading.Lock]:
        with self._lock:
            if threads not in self._compiled:
                compiled = self._core.compile_model(
                    self._model,
                    "CPU",
                    {
                        "INFERENCE_NUM_THREADS": threads,
                        "INFERENCE_PRECISION_HINT": self.precision,
                        "PERFORMANCE_HINT": "LATENCY",
                        "NUM_STREAMS": 1,
                    },
                )
                self._compiled[threads] = (compiled.create_infer_request(), threading.Lock())
            return self._compiled[threads]

    def __call__(self, batch: np.ndarray, threads: int) -> list[np.ndarray]:
        """Run the network on ``batch`` (float32, NCHW) with ``threads`` CPU threads.

        Returns:
            Its outputs in the exported order, each a float32 array with the batch first.
        """
        request, lock = self._request(max(1, threads))
        with lock:
            results = request.infer({0: np.ascontiguousarray(batch, np.float32)})
            return [np.array(results[index], np.float32) for index in range(len(results))]
