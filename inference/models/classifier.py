"""A loaded checkpoint ready to score face crops on CPU or CUDA."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from inference.errors import DeepfakeDetectorError
from inference.models import explain
from inference.models.network import ResNeXtLSTM, build_network, read_state_dict
from inference.models.preprocess import crops_to_tensor
from inference.models.runtime import EAGER, Network, Runtime, compiled_network
from inference.torch_threads import torch_threads
from inference.weights.config import PER_FRAME, ModelConfig
from inference.weights.hub import ResolvedCheckpoint, WeightsInfo

logger = logging.getLogger(__name__)

BatchDone = Callable[[int, int], None]
"""Called after each batch with (crops done, crops in all); it may raise to stop the work."""

# Below 16, PyTorch's native convolution (im2col + MKL) is used rather than NNPACK, which is
# much slower for ResNeXt's grouped convolutions; measured: 100 crops in 1.8 s at 10 vs 17 s at 20.
BATCH_SIZE = 10

# torch's own choice of threads (the physical cores), read before anything changes it.
DEFAULT_THREADS = torch.get_num_threads()

# Switching oneDNN off below makes torch warn, once, about TF32 on Intel GPUs: irrelevant here.
warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN", category=UserWarning)


class _Backbone(torch.nn.Module):
    """What the compiled runtime runs of the network: the backbone's pooled features."""

    def __init__(self, network: ResNeXtLSTM) -> None:
        super().__init__()
        self.network = network

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.network.features(crops)


class ExplainUnavailableError(DeepfakeDetectorError):
    """Heatmaps were asked of a model kind they are not computed for."""


def _window_starts(count: int, length: int) -> list[int]:
    """Starts of windows of ``length`` over ``count`` items, half a window apart, the last flush."""
    step = max(1, length // 2)
    starts = list(range(0, count - length + 1, step))
    if starts[-1] != count - length:
        starts.append(count - length)
    return starts


def pick_device(requested: str) -> torch.device:
    """Map "auto" / "cpu" / "cuda" to a device; "auto" means CUDA when present."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


class Classifier:
    """The network with its config and provenance; scores BGR face crops.

    Safe to share between threads: scoring and explaining take turns on one lock, because
    Captum's Grad-CAM hooks sit on the shared network while it explains (a forward pass of
    another thread would feed them). On 2 cores one forward pass already keeps both busy, so
    taking turns costs no throughput.

    Args:
        threads: torch threads for scoring on CPU, set in the scoring thread on each call (torch
            keeps the count per thread and hands the last one set to threads started later,
            so the CNN face detector's one-thread worker must not decide it); 0 for torch's
            default.
        runtime: How the backbone scores on CPU (:mod:`inference.models.runtime`); eager torch
            by default. The LSTM head and Grad-CAM always run in torch.
    """

    def __init__(
        self,
        network: ResNeXtLSTM,
        config: ModelConfig,
        info: WeightsInfo,
        device: torch.device,
        threads: int = 0,
        runtime: Runtime = EAGER,
    ) -> None:
        self.config = config
        self.info = info
        self.device = device
        self.threads = threads or DEFAULT_THREADS
        self.network = network.to(device).eval()
        self._lock = threading.Lock()
        self.compiled: Network | None = None
        if runtime.compiles(device):
            size = config.image_size
            self.compiled = compiled_network(
                _Backbone(self.network),
                torch.zeros(1, 3, size, size),
                ["features"],
                None if info is None else f"{info.sha256}-resnext50",
                runtime,
                self.threads,
            )

    @classmethod
    def load(
        cls, checkpoint: ResolvedCheckpoint, device: torch.device, threads: int = 0, runtime: Runtime = EAGER
    ) -> Classifier:
        """Read and verify the weights file of ``checkpoint`` and build the classifier.

        Raises:
            CheckpointFormatError: If the file is unreadable or has the wrong keys.
            WeightsIntegrityError: If the bytes read are not those whose sha256 was checked.
            WeightsUnavailableError: If the file can no longer be read.
        """
        state = read_state_dict(checkpoint.weights_file, checkpoint.info.sha256, checkpoint.data)
        network = build_network(state)
        logger.info("loaded %s on %s", checkpoint.info.location, device)
        return cls(network, checkpoint.config, checkpoint.info, device, threads, runtime)

    def _features(self, batch: torch.Tensor, threads: int | None) -> torch.Tensor:
        """The backbone's features (N, 2048) of a normalised batch, compiled or by torch."""
        if self.compiled is not None:
            return torch.from_numpy(self.compiled(batch.numpy(), threads or self.threads)[0])
        return self.network.features(batch.to(self.device))

    @contextmanager
    def _turn(self, threads: int | None = None) -> Iterator[None]:
        """This thread's turn on the network, with ``threads`` (default :attr:`threads`), native kernels."""
        # oneDNN (mkldnn) is off: on 2 CPU cores the native kernels in batches of 10 took 1.9 s
        # for 100 crops vs 2.0-2.6 s with oneDNN (batch 20-32), with 230 MB less peak memory.
        with self._lock, torch.backends.mkldnn.flags(enabled=False), torch_threads(threads or self.threads):
            yield

    def fake_probabilities(
        self, crops_bgr: list[np.ndarray], done: BatchDone | None = None, threads: int | None = None
    ) -> np.ndarray:
        """Score each face crop independently.

        Args:
            crops_bgr: Face crops, each (H, W, 3) uint8, BGR, any size.
            done: Called after each batch (see :data:`BatchDone`).
            threads: torch threads on CPU for this call; default :attr:`threads` (a live stream
                scores its few crops on one, see :mod:`inference.stream`).

        Returns:
            Fake probability per crop, shape (N,), float64 in [0, 1].
        """
        if not crops_bgr:
            return np.zeros(0)
        batch = crops_to_tensor(crops_bgr, self.config)
        chunks = []
        for start in range(0, len(batch), BATCH_SIZE):
            # A turn per batch, so that a live stream's few crops go between a file's batches.
            with self._turn(threads), torch.inference_mode():
                logits = self.network.head(self._features(batch[start : start + BATCH_SIZE], threads))
                chunks.append(torch.softmax(logits.float(), dim=1).cpu())
            if done is not None:
                done(min(start + BATCH_SIZE, len(batch)), len(batch))
        return torch.cat(chunks)[:, self.config.fake_index].double().numpy()

    def window_probabilities(self, crops_bgr: list[np.ndarray], threads: int | None = None) -> np.ndarray:
        """Score one person's crops, in time order, with a ``temporal`` model.

        Windows of ``config.frames`` crops slide over the sequence by half a window (one
        window of all crops when there are fewer); each crop gets the mean score of the windows
        that hold it.

        Args:
            crops_bgr: One person's face crops in time order, each (H, W, 3) uint8 BGR.
            threads: torch threads on CPU for this call; default :attr:`threads`.

        Returns:
            Fake probability per crop, shape (N,), float64 in [0, 1].
        """
        if not crops_bgr:
            return np.zeros(0)
        batch = crops_to_tensor(crops_bgr, self.config)
        length = min(self.config.frames, len(batch))
        starts = _window_starts(len(batch), length)
        total, count = np.zeros(len(batch)), np.zeros(len(batch))
        with self._turn(threads), torch.inference_mode():
            for start in starts:
                features = self._features(batch[start : start + length], threads)
                logits = self.network.head_sequences(features.unsqueeze(0)).float()
                score = torch.softmax(logits, dim=1)[0, self.config.fake_index].item()
                total[start : start + length] += score
                count[start : start + length] += 1
        return total / count

    def explain(self, crops_bgr: list[np.ndarray], done: BatchDone | None = None) -> np.ndarray:
        """Grad-CAM maps of the FAKE probability for each crop (see :mod:`inference.models.explain`).

        Args:
            crops_bgr: Face crops, each (H, W, 3) uint8, BGR, any size.
            done: Called after each batch (see :data:`BatchDone`).

        Returns:
            Maps of shape (N, h, w), float32 in [0, 1] (7x7 for 112 px crops).
        """
        if not crops_bgr:
            return np.zeros((0, 0, 0), np.float32)
        if self.config.kind != PER_FRAME:
            raise ExplainUnavailableError(
                f"heatmaps are computed for per-frame models; this checkpoint is {self.config.kind!r}"
            )
        batch = crops_to_tensor(crops_bgr, self.config).to(self.device)
        with self._turn():
            return explain.gradcam_grids(self.network, batch, self.config.fake_index, done)
