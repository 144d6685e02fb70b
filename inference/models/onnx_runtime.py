"""The classifier networks run by ONNX Runtime on the CPU, in float32.

The same ONNX export as OpenVINO's (:func:`inference.models.onnx_export.export_onnx`), kept as
the ``.onnx`` file itself in the cache folder under the weights' sha256 (with the export's input
size and the versions that made it). A kept file is read into memory and the bytes given to
ONNX Runtime, not its path: a file replaced under a running process is never used.
:func:`inference.models.runtime.compiled_network` checks what was read against the torch module.

ONNX Runtime's CPU provider computes in float32 only (no bf16 hint): bf16 stays OpenVINO's.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from inference.errors import RuntimeUnavailableError
from inference.models.onnx_export import EXPORT_VERSION, export_onnx, kept_or_exported, library

if TYPE_CHECKING:
    import onnxruntime

logger = logging.getLogger(__name__)

# Whether ONNX Runtime's worker threads spin-wait for work between operators and after a run
# (its default) rather than sleep: spinning keeps a core busy that the decoding and the face
# tracking threads of an analysis want. Read when a network is made (benchmarks/networks.py
# measures both).
SPINNING = False


def _errors() -> tuple[type[Exception], ...]:
    """What ONNX Runtime raises for a model it cannot read or run (its own classes, not RuntimeError)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (
        state.Fail,
        state.InvalidArgument,
        state.InvalidProtobuf,
        state.InvalidGraph,
        state.NoSuchFile,
        state.NotImplemented,
        state.RuntimeException,
        RuntimeError,
        ValueError,
    )


def _versions() -> str:
    onnxruntime = library("onnxruntime")

    return f"v{EXPORT_VERSION}-torch{torch.__version__.split('+')[0]}-ort{onnxruntime.__version__}"


def cached_path(key: str, example: torch.Tensor, cache_dir: Path) -> Path:
    """Where :func:`cached_onnx` keeps the export of ``key``."""
    return cache_dir / f"{key}-{'x'.join(map(str, example.shape[1:]))}-{_versions()}.onnx"


def cached_onnx(
    module: nn.Module, example: torch.Tensor, outputs: list[str], key: str | None, cache_dir: Path
) -> bytes:
    """``module`` as ONNX bytes: read from ``cache_dir`` when ``key`` names one exported before
    (arguments as :func:`inference.models.runtime.cached_model`'s).

    Raises:
        RuntimeUnavailableError: If the module cannot be exported.
    """
    return kept_or_exported(
        key,
        cache_dir,
        lambda: cached_path(str(key), example, cache_dir),
        lambda path: path.read_bytes() if path.is_file() else None,
        lambda: _exported(module, example, outputs),
        _keep,
        (OSError,),
        "ONNX Runtime",
    )


def _exported(module: nn.Module, example: torch.Tensor, outputs: list[str]) -> bytes:
    try:
        return export_onnx(module, example, outputs)
    except (RuntimeError, ImportError, ValueError) as exc:
        raise RuntimeUnavailableError(f"the network could not be exported to ONNX: {exc}") from exc


def _keep(onnx: bytes, path: Path) -> None:
    """Save ``onnx`` at ``path``: written aside then renamed, so that processes exporting at once
    never read a half-written file (a failure only costs the next start)."""
    aside = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, aside = tempfile.mkstemp(dir=path.parent, prefix=".part-", suffix=".onnx")
        with os.fdopen(handle, "wb") as file:
            file.write(onnx)
        os.replace(aside, path)
        aside = None
    except OSError as exc:
        logger.warning("cannot keep the exported network in %s (%s): each start exports it", path.parent, exc)
    finally:
        if aside is not None:
            Path(aside).unlink(missing_ok=True)


class OrtNetwork:
    """An ONNX model run by ONNX Runtime's CPU provider, one session per thread count.

    Thread-safe: ``InferenceSession.run`` may be called from several threads at once (the
    engine's own locks decide whether they take turns); sessions are made under a lock.

    Args:
        onnx: The model's bytes (see :func:`cached_onnx`).
        threads: A thread count whose session is made at once, so that a model ONNX Runtime
            cannot read fails here (others are made on first use); 0 for none.
    """

    precision = "f32"  # runtime.F32: the CPU provider computes in float32

    def __init__(self, onnx: bytes, threads: int = 0) -> None:
        self._onnx = onnx
        self._spinning = SPINNING
        self._sessions: dict[int, onnxruntime.InferenceSession] = {}
        self._lock = threading.Lock()
        if threads:
            self._session(threads)

    def _session(self, threads: int) -> onnxruntime.InferenceSession:
        onnxruntime = library("onnxruntime")

        with self._lock:
            if threads not in self._sessions:
                options = onnxruntime.SessionOptions()
                # One operator at a time, each on ``threads``: the count the engine gives it.
                options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
                options.add_session_config_entry("session.intra_op.allow_spinning", str(int(self._spinning)))
                try:
                    self._sessions[threads] = onnxruntime.InferenceSession(
                        self._onnx, options, providers=["CPUExecutionProvider"]
                    )
                except _errors() as exc:
                    raise RuntimeUnavailableError(f"ONNX Runtime could not load the network: {exc}") from exc
            return self._sessions[threads]

    def __call__(self, batch: np.ndarray, threads: int) -> list[np.ndarray]:
        """Run the network on ``batch`` (float32, NCHW) with ``threads`` CPU threads.

        Returns:
            Its outputs in the exported order, each a float32 array with the batch first.

        Raises:
            RuntimeUnavailableError: If ONNX Runtime cannot load or run the network.
        """
        session = self._session(max(1, threads))
        try:
            results = session.run(None, {"x": np.ascontiguousarray(batch, np.float32)})
        except _errors() as exc:
            raise RuntimeUnavailableError(f"ONNX Runtime could not run the network: {exc}") from exc
        return [np.asarray(result, np.float32) for result in results]
