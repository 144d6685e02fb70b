"""A network part exported to ONNX: what both compiled runtimes start from."""

from __future__ import annotations

import importlib
import io
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import torch
from torch import nn

from inference.errors import RuntimeUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Bump when what is exported changes (the wrapped modules, the exporter's options).
EXPORT_VERSION = 1


# torch's ONNX exporter keeps module-global state (the export's graph context): two exports in
# threads at once (two requests loading different networks) fail with an AssertionError.
_EXPORTING = threading.Lock()


def export_onnx(module: nn.Module, example: torch.Tensor, outputs: list[str]) -> bytes:
    """``module`` as ONNX bytes, batch size dynamic (input "x", outputs ``outputs``); one export
    at a time in the process."""
    buffer = io.BytesIO()
    with _EXPORTING, torch.no_grad():
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


def library(name: str) -> ModuleType:
    """Import the compiled runtime's library ``name`` ("onnxruntime" or "openvino").

    Raises:
        RuntimeUnavailableError: If it is not installed or cannot be imported.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"{name} cannot be imported ({exc}): install requirements.txt, or set DEEPFAKE_RUNTIME=torch"
        ) from exc


def kept_here(cache_dir: Path) -> bool:
    """Whether networks may be kept in and read from ``cache_dir``: not when it is another user's
    or others may write to it; a network planted there
    could answer the probe's two images right and score real faces as it likes. Logged when not.
    """
    folder = cache_dir
    try:
        found = folder.stat()
    except FileNotFoundError:
        return True  # made by this process's first save (or not at all)
    except OSError as exc:
        logger.warning("compiled networks are not kept in %s (%s); each start exports them", folder, exc)
        return False
    if found.st_uid == os.geteuid() and not found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return True
    logger.warning(
        "compiled networks are not kept in %s: it is another user's or others may write to it "
        "(set DEEPFAKE_COMPILED_CACHE to a folder of your own); each start exports them",
        folder,
    )
    return False


def kept_or_exported(
    key: str | None,
    cache_dir: Path,
    path: Callable[[], Path],
    read: Callable[[Path], T | None],
    export: Callable[[], T],
    keep: Callable[[T, Path], None],
    unreadable: tuple[type[Exception], ...],
    runtime: str,
) -> T:
    """The network kept at ``path()`` in ``cache_dir`` (``read``: None when not kept), else
    ``export()``-ed and kept there (``keep``); each time exported without a ``key`` or in a folder
    others may write to (:func:`kept_here`). A kept file that ``read`` fails on with one of the
    ``unreadable`` errors is exported again; ``runtime`` names the runtime in the log."""
    if key is None or not kept_here(cache_dir):
        return export()
    where = path()
    try:
        kept = read(where)
    except unreadable as exc:
        logger.warning("the kept network %s is unreadable (%s): exported again", where.name, exc)
        kept = None
    if kept is not None:
        return kept
    started = time.perf_counter()
    made = export()
    logger.info("exported %s for %s in %.1f s", where.name, runtime, time.perf_counter() - started)
    keep(made, where)
    return made
