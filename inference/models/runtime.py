"""The classifier networks compiled for the CPU (ONNX Runtime or OpenVINO): the same float32 scores, faster.

A network's scoring part is exported once to ONNX (PyTorch's TorchScript exporter), from the
module whose weights were just read from the sha256-checked bytes, and run by ONNX Runtime
(:mod:`inference.models.onnx_runtime`, which keeps the ``.onnx`` itself) or converted to
OpenVINO's format and compiled by its CPU plugin (this module). The export is kept in a cache
folder under the weights' sha256 (with the export's input size and the versions that made it),
so a later process skips the export; what is read back is checked against the torch module on
two probe images (:func:`compiled_network`). Explanations (Grad-CAM, attention maps) and
training keep using the torch module itself.

OpenVINO on a CPU with bf16 instructions (AVX-512 BF16, AMX) runs in bf16 unless told otherwise:
its precision here is forced to f32, so the scores stay those of eager PyTorch (within 1e-5 in
probability, ``tests/test_runtime.py``); bf16 is an opt-in faster mode, OpenVINO's only.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from huggingface_hub import constants
from torch import nn

from inference.errors import RuntimeUnavailableError
from inference.models import onnx_runtime
from inference.models.onnx_export import EXPORT_VERSION, export_onnx, kept_or_exported, library

if TYPE_CHECKING:
    import openvino

logger = logging.getLogger(__name__)

OPENVINO = "openvino"
ONNXRUNTIME = "onnxruntime"
TORCH = "torch"
RUNTIMES = (ONNXRUNTIME, OPENVINO, TORCH)
COMPILED = (ONNXRUNTIME, OPENVINO)
DEFAULT = ONNXRUNTIME
F32 = "f32"
BF16 = "bf16"
PRECISIONS = (F32, BF16)
# How closely a compiled network must answer as the torch module on the probe images, as a share
# of its largest output. The probe only has to tell another network or damaged weights (which
# answer at random, off by the whole scale) from this one: a synthetic image is far from what a
# network was calibrated on, and there a correct compilation already differs by up to 0.5 %. The
# scores' fidelity on faces (1e-5) is what tests/test_runtime.py checks. The probe always runs in
# f32: in bf16 a correct network can answer it otherwise by more than its whole scale (a
# random EfficientNet calibrated on real faces did, by 148 %, while its face scores moved 1e-2).
PROBE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Runtime:
    """How the classifier networks are run on CPU.

    Attributes:
        name: "onnxruntime" or "openvino" (compiled; :data:`DEFAULT` by default) or "torch"
            (the eager module).
        precision: "f32" (scores equal eager PyTorch's) or "bf16" (OpenVINO only: faster on
            CPUs with bf16 instructions; scores move, see the README).
        cache_dir: Where exported networks are kept; None for :func:`default_cache_dir`.
    """

    name: str = DEFAULT
    precision: str = F32
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.name not in RUNTIMES or self.precision not in PRECISIONS:
            raise ValueError(f"runtime {self.name!r} in {self.precision!r}; known: {RUNTIMES}, {PRECISIONS}")
        if self.precision != F32 and self.name != OPENVINO:
            raise ValueError(f"{self.precision} is OpenVINO's precision, not {self.name}'s")

    def compiles(self, device: torch.device) -> bool:
        """Whether networks on ``device`` are compiled (both runtimes run on the CPU only)."""
        return self.name in COMPILED and device.type == "cpu"


class Network(Protocol):
    """A compiled network: :class:`CompiledNetwork` (OpenVINO) or ``onnx_runtime.OrtNetwork``."""

    precision: str

    def __call__(self, batch: np.ndarray, threads: int) -> list[np.ndarray]:
        """Its outputs (float32, batch first) for ``batch`` (float32, NCHW) on ``threads`` threads."""
        ...


EAGER = Runtime(TORCH)


def default_cache_dir() -> Path:
    """``$HF_HOME/deepfake-detector/compiled``: beside the downloaded weights."""
    return Path(constants.HF_HOME) / "deepfake-detector" / "compiled"


def _versions() -> str:
    openvino = library("openvino")

    return f"v{EXPORT_VERSION}-torch{torch.__version__.split('+')[0]}-ov{openvino.__version__.split('-')[0]}"


def cached_model(
    module: nn.Module, example: torch.Tensor, outputs: list[str], key: str | None, cache_dir: Path
) -> openvino.Model:
    """``module`` as an OpenVINO model: read from ``cache_dir`` when ``key`` names one made before.

    The cache holds OpenVINO's own format (``.xml`` + ``.bin``, weights kept in float32), which
    it reads in a fraction of the time that converting the ONNX export again takes (0.3 s
    against 2 s for the EfficientNet). The files are read into memory, not mapped, so a file
    changed later cannot change or crash a loaded network; :func:`compiled_network` checks what
    was read against the module itself.

    Args:
        module: The network part to export, weights loaded.
        example: An input of the shape it takes (the batch size may differ later).
        outputs: Names for its outputs.
        key: What identifies the module and its weights (their sha256 and the part exported);
            None to export without caching (weights not from a checked file).
        cache_dir: The cache folder (made when missing).

    Raises:
        RuntimeUnavailableError: If the module cannot be exported or converted.
    """
    return kept_or_exported(
        key,
        cache_dir,
        lambda: cached_path(str(key), example, cache_dir),
        lambda path: _read(path) if path.is_file() and path.with_suffix(".bin").is_file() else None,
        lambda: _exported(module, example, outputs),
        _keep,
        (RuntimeError, OSError),
        "OpenVINO",
    )


def cached_path(key: str, example: torch.Tensor, cache_dir: Path) -> Path:
    """Where :func:`cached_model` keeps the model of ``key`` (the ``.xml``; the ``.bin`` beside it)."""
    return cache_dir / f"{key}-{'x'.join(map(str, example.shape[1:]))}-{_versions()}.xml"


def forget(path: Path) -> None:
    """Remove a kept model (its ``.xml`` and ``.bin``), if it is there."""
    for part in (path, path.with_suffix(".bin")):
        part.unlink(missing_ok=True)


def _read(path: Path) -> openvino.Model:
    openvino = library("openvino")

    weights = np.fromfile(path.with_suffix(".bin"), dtype=np.uint8)
    return openvino.Core().read_model(path.read_text(), openvino.Tensor(weights))


def _keep(model: openvino.Model, path: Path) -> None:
    """Save ``model`` at ``path``: written aside then renamed, weights first, so that processes
    exporting at once never read a half-written pair (a failure only costs the next start)."""
    openvino = library("openvino")

    aside = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=".part-"))
        openvino.save_model(model, aside / "model.xml", compress_to_fp16=False)
        os.replace(aside / "model.bin", path.with_suffix(".bin"))
        os.replace(aside / "model.xml", path)
    except (RuntimeError, OSError) as exc:
        logger.warning("cannot keep the exported network in %s (%s): each start exports it", path.parent, exc)
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


def _exported(module: nn.Module, example: torch.Tensor, outputs: list[str]) -> openvino.Model:
    openvino = library("openvino")

    try:
        onnx = export_onnx(module, example, outputs)
        return openvino.convert_model(io.BytesIO(onnx))
    except (RuntimeError, ImportError, ValueError) as exc:
        raise RuntimeUnavailableError(f"the network could not be prepared for OpenVINO: {exc}") from exc


def _probe(example: torch.Tensor) -> torch.Tensor:
    """Two smooth images of ``example``'s size, in the range of normalised photos: a random
    probe drives a network calibrated on faces into outputs too large to compare."""
    height, width = example.shape[-2:]
    ramp = torch.linspace(-2.0, 2.0, height).view(height, 1) * torch.linspace(0.2, 1.0, width).view(1, width)
    image = torch.stack([ramp, ramp.flip(0), ramp.flip(1)])
    return torch.stack([image, -0.5 * image])


def compiled_network(
    module: nn.Module,
    example: torch.Tensor,
    outputs: list[str],
    key: str | None,
    runtime: Runtime,
    threads: int,
) -> Network:
    """``module`` compiled by ``runtime`` for ``threads``, from the cache when it holds it, checked.

    Two probe images go through both, the compiled model in f32 (bf16 is compiled too, but
    not compared: see :data:`PROBE_TOLERANCE`): a kept model that answers otherwise (another
    network, changed weights) or that the runtime cannot read is removed and the module
    exported again.

    Args:
        module: The network part (eval mode, float32 weights), the reference for the check.
        example: An input of the shape it takes, (N, 3, H, W).
        outputs: Names for its outputs, in the order the module returns them.
        key: See :func:`cached_model`.
        runtime: Which compiled runtime (ONNX Runtime or OpenVINO), the precision, the cache folder.
        threads: The thread count compiled at once (others are compiled on first use).

    Raises:
        RuntimeUnavailableError: If the runtime cannot export, compile or run the network, or
            the network it compiled does not answer as ``module`` does.
    """
    cache_dir = Path(runtime.cache_dir) if runtime.cache_dir else default_cache_dir()
    probe = _probe(example)
    with torch.inference_mode():
        found = module(probe)
    expected = [t.numpy() for t in (found if isinstance(found, tuple) else (found,))]
    label = "ONNX Runtime" if runtime.name == ONNXRUNTIME else "OpenVINO"
    for attempt in range(2):
        kept = None if key is None else _kept_path(runtime, key, example, cache_dir)
        retry = kept is not None and kept.is_file() and not attempt
        try:
            network, checked = _loaded(module, example, outputs, key, cache_dir, runtime)
            answers = checked(probe.numpy(), threads)
            if checked is not network:
                network(probe.numpy(), threads)  # compiled now: a failure shows at start
        except RuntimeUnavailableError as exc:
            if not retry:
                raise
            logger.warning("the kept network %s is unusable (%s): exported again", kept.name, exc)
            forget(kept)
            continue
        # Relative to each output's largest value: the probe is far from the faces a network was
        # calibrated on, and can drive its outputs far beyond a face's.
        gap = max(
            float(np.max(np.abs(a - e)) / max(1.0, np.max(np.abs(e))))
            for a, e in zip(answers, expected, strict=True)
        )
        if gap <= PROBE_TOLERANCE:
            return network
        if not retry:
            break
        logger.warning("the kept network for %s answers otherwise (by %.3g): exported again", key, gap)
        forget(kept)
    raise RuntimeUnavailableError(
        f"{label}'s network answers otherwise than PyTorch's on a probe (by up to {gap:.3g} of "
        "its largest output); set DEEPFAKE_RUNTIME=torch"
    )


def _kept_path(runtime: Runtime, key: str, example: torch.Tensor, cache_dir: Path) -> Path:
    """Where ``runtime`` keeps the export of ``key``."""
    if runtime.name == ONNXRUNTIME:
        return onnx_runtime.cached_path(key, example, cache_dir)
    return cached_path(key, example, cache_dir)


def _loaded(
    module: nn.Module,
    example: torch.Tensor,
    outputs: list[str],
    key: str | None,
    cache_dir: Path,
    runtime: Runtime,
) -> tuple[Network, Network]:
    """``module`` exported or read from the cache, ready to run on ``runtime``, and the same
    model in f32 for the probe (the network itself unless it runs in bf16)."""
    if runtime.name == ONNXRUNTIME:
        network = onnx_runtime.OrtNetwork(onnx_runtime.cached_onnx(module, example, outputs, key, cache_dir))
        return network, network
    model = cached_model(module, example, outputs, key, cache_dir)
    network = CompiledNetwork(model, runtime.precision)
    return network, (network if runtime.precision == F32 else CompiledNetwork(model, F32))


class CompiledNetwork:
    """A network compiled by OpenVINO for the CPU, one compilation per thread count.

    Thread-safe: each compilation's one infer request is used under a lock.
    """

    def __init__(self, model: openvino.Model, precision: str = F32) -> None:
        """Args: model: see :func:`cached_model`; precision: f32 or bf16."""
        openvino = library("openvino")

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
        try:
            request, lock = self._request(max(1, threads))
            with lock:
                results = request.infer({0: np.ascontiguousarray(batch, np.float32)})
                return [np.array(results[index], np.float32) for index in range(len(results))]
        except RuntimeError as exc:
            raise RuntimeUnavailableError(f"OpenVINO could not run the network: {exc}") from exc
