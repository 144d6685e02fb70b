"""Batch analysis and evaluation on Ray: ``python -m inference ... --output FILE --ray [ADDRESS]``.

A Ray Data pipeline over the videos' paths (paths, never the videos' bytes: each worker reads its
videos from a folder every node sees) feeds a fixed pool of detector actors, each loading the
weights once. Rows come back to the driver as each video finishes, in the order they finish, so
that the caller writes and flushes them at once and a stopped run loses only the videos in flight.

A video the engine cannot analyse is a row with its error, as in one process: each actor turns
the engine's errors (:class:`~inference.errors.DeepfakeDetectorError`) into rows, so that no such
error reaches Ray, and Ray's retries (an actor lost with its node is restarted and its video
scored again) are left to lost workers.

Without an address (and without RAY_ADDRESS) a local Ray instance is started for the run and
stopped after it, on the loopback alone: see :func:`session`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.errors import DeepfakeDetectorError
from inference.pipeline import Detector
from inference.settings import Settings
from inference.tools.batch import analyze_all, describe
from inference.tools.ray_args import add_argument as add_argument  # kept here too: its old home
from inference.tools.ray_args import address_argument as address_argument

logger = logging.getLogger(__name__)

# Ray names a node by its network address and binds its servers (GCS, raylet, workers) to it. On
# Linux that is the address of the default route's interface, found through a UDP socket
# "connected" to 8.8.8.8, and 127.0.0.1 is turned into it too; with this flag at "0", read once
# when ray is imported, Ray takes 127.0.0.1 as it does on macOS and Windows.
LOOPBACK_FLAG = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Ray's usage statistics, sent to Anyscale unless off; a cluster's are its operator's choice.
USAGE_STATS_FLAG = "RAY_USAGE_STATS_ENABLED"
# Token authentication of Ray's servers (Ray 2.60 turns it on for a new local instance anyway, with
# a warning): the token is read from RAY_AUTH_TOKEN or ~/.ray/auth_token, made there if missing.
AUTH_MODE = "RAY_AUTH_MODE"
# Each video is a block of its own, so that its row comes back when it is done (Ray Data returns
# a task's rows when the task ends); past this many videos a block holds several, which bounds
# the driver's memory (a block is an object the driver owns) at the cost of rows coming back a
# few at a time.
MAX_BLOCKS = 10_000


class ClusterError(DeepfakeDetectorError):
    """Ray is missing, could not be started or reached, or its pipeline failed."""


@dataclass(frozen=True)
class Scored:
    """One video as it came back from the cluster.

    Attributes:
        row: The row written per video (see :data:`inference.tools.batch.ROW_FIELDS`).
        line: The human-readable line the command prints for it.
    """

    row: dict[str, Any]
    line: str

    @property
    def failed(self) -> bool:
        """Whether the video's analysis failed (its row holds the error)."""
        return self.row.get("error") is not None


def on_loopback(address: str) -> bool:
    """Whether ``address`` (``HOST:PORT``, ``ray://HOST:PORT``) is on this machine's loopback."""
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextmanager
def session(address: str | None, cpus: int | None = None) -> Iterator[None]:
    """Ray around a block: the cluster at ``address``, or a local instance started for the block.

    The local instance listens on 127.0.0.1 alone, with token authentication, without a dashboard
    and without usage statistics, and is stopped when the block ends. A Ray already connected in
    this process is used as it is, and left running.

    Args:
        address: A cluster (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``), or None for a local
            instance.
        cpus: CPUs of a local instance; default all of this machine's.

    Raises:
        ClusterError: If Ray is not installed, was imported before the loopback could be chosen,
            or cannot be started or reached.
    """
    local = address is None
    if local or on_loopback(address):
        if "ray" in sys.modules and os.environ.get(LOOPBACK_FLAG) != "0":
            raise ClusterError(
                f"Ray was imported before a loopback-only instance could be chosen; set {LOOPBACK_FLAG}=0 "
                "in the environment"
            )
        os.environ[LOOPBACK_FLAG] = "0"
        if local:
            os.environ[USAGE_STATS_FLAG] = "0"
            os.environ.setdefault(AUTH_MODE, "token")
    ray = _import_ray()
    # Ray Data logs its progress at INFO (the command shows its own) and warns that its progress
    # bars are off: it follows the command's level, and the progress notes are left out.
    logging.getLogger("ray.data").setLevel(logging.getLogger().getEffectiveLevel())
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    if ray.is_initialized():
        yield
        return
    try:
        if local:
            ray.init(
                address="local",
                num_cpus=cpus,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = "a local Ray instance" if local else f"the Ray cluster at {address}"
        raise ClusterError(f"could not start or reach {where}: {exc}") from exc
    logger.info("Ray: %s", ray.get_runtime_context().gcs_address)
    try:
        yield
    finally:
        ray.shutdown()


def _import_ray() -> Any:
    """The ``ray`` module, with Ray Data loaded, or a :class:`ClusterError` saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ClusterError(
            f"--ray needs Ray ({exc}); install it with: pip install -r requirements-cluster.txt"
        ) from exc
    return ray


class VideoScorer:
    """A Ray Data actor: loads the detector once, then scores the videos of each batch.

    Args:
        settings: The engine settings, as the driver read them.
        options: Passed to :meth:`Detector.analyze` (frames, start_s, end_s).
    """

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.detector = Detector.from_settings(settings)
        self.options = options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Score a batch of paths (column ``path``); returns columns ``row`` (JSON) and ``line``."""
        outcomes = list(analyze_all(self.detector, [str(path) for path in batch["path"]], **self.options))
        return {
            "row": np.array([json.dumps(outcome.row()) for outcome in outcomes], dtype=object),
            "line": np.array([describe(outcome) for outcome in outcomes], dtype=object),
        }


def plan_pool(resources: Mapping[str, float], settings: Settings, videos: int) -> tuple[int, float, float]:
    """The actor pool for ``videos`` videos on a cluster with ``resources`` (Ray's totals).

    Each actor takes DEEPFAKE_RAY_CPUS_PER_ACTOR CPUs and, where the cluster has GPUs and
    DEEPFAKE_DEVICE is not "cpu", DEEPFAKE_RAY_GPUS_PER_ACTOR GPUs. There are DEEPFAKE_RAY_ACTORS
    actors, or (0) as many as the cluster holds now, never more than the videos.

    Returns:
        The number of actors, and the CPUs and GPUs of each.
    """
    cpus = settings.ray_cpus_per_actor
    gpus = settings.ray_gpus_per_actor if settings.device != "cpu" and resources.get("GPU", 0) > 0 else 0.0
    fits = int(resources.get("CPU", 0) // cpus)
    if gpus:
        fits = min(fits, int(resources["GPU"] // gpus))
    return min(settings.ray_actors or max(fits, 1), videos), cpus, gpus


def score(settings: Settings, paths: Iterable[Path | str], **options: Any) -> Iterator[Scored]:
    """Score videos on the connected Ray cluster (see :func:`session`); yields them as they finish.

    The actor pool is :func:`plan_pool`'s. A path given twice is scored once.

    Args:
        settings: The engine settings; every actor loads its detector from them.
        paths: Video files (a path every node can read) or http(s) links, fetched by the actors.
        **options: Passed to :meth:`Detector.analyze` (frames, start_s, end_s).

    Raises:
        ClusterError: If the pipeline fails (an actor cannot load the weights, the cluster is lost).
    """
    import ray
    import ray.data

    # The paths are the input blocks themselves (no read task): a read task would wait for a CPU
    # that the actor pool holds.
    items = [{"path": path} for path in dict.fromkeys(str(path) for path in paths)]
    if not items:
        return
    actors, cpus, gpus = plan_pool(ray.cluster_resources(), settings, len(items))
    logger.info("Ray: %d videos, %d actors of %g CPUs and %g GPUs", len(items), actors, cpus, gpus)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the command has its own
    context.print_on_execution_start = False
    dataset = ray.data.from_items(items, override_num_blocks=min(len(items), MAX_BLOCKS)).map_batches(
        VideoScorer,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus,
        num_gpus=gpus,
        fn_constructor_kwargs={"settings": settings, "options": options},
        batch_format="numpy",
    )
    try:
        for record in dataset.iter_rows():
            yield Scored(json.loads(record["row"]), str(record["line"]))
    except ray.exceptions.RayActorError as exc:
        # An actor whose detector cannot load dies in its constructor; Ray's message is the
        # creation task's traceback, whose last line is the engine's error (what to set).
        raise ClusterError(f"a detector actor could not start: {str(exc).strip().splitlines()[-1]}") from exc
    except ray.exceptions.RayError as exc:
        raise ClusterError(f"the Ray pipeline failed: {exc}") from exc


def rows_in_order(scored: Iterable[Scored], paths: Iterable[Path | str]) -> Iterator[dict[str, Any]]:
    """The rows of ``scored`` (in any order) in the order of ``paths``, each as soon as the rows
    before it are in; a path given twice gets its row twice."""
    expected = [str(path) for path in paths]
    arrived: dict[str, dict[str, Any]] = {}
    position = 0
    for item in scored:
        arrived[item.row["path"]] = item.row
        while position < len(expected) and expected[position] in arrived:
            yield arrived[expected[position]]
            position += 1
