"""The EfficientNet-B4 detectors of ICPR 2020 (Bonettini et al.), built as they were trained.

Their ``architectures/fornet.py`` wraps efficientnet_pytorch's ``efficientnet-b4`` without its
``_fc`` head and adds ``classifier = Linear(1792, 1)``; the AutoAtt variant adds
``efficientnet.attconv``, a 1x1 convolution from the 56 channels after block 9 to one channel
whose sigmoid multiplies those features (the model's own attention map). One logit per face,
above 0 meaning FAKE.

The weights were trained with efficientnet_pytorch 0.6.3, which padded every "same" convolution
for the model's nominal 380 px input. 0.7.0 recomputes the padding per stage, which changes one
convolution of B4 (``_blocks.6._depthwise_conv``, 5x5 stride 2: (1, 2, 1, 2) became
(2, 2, 2, 2)) and so every output. :func:`build` uses the maintained 0.7.1 and restores the
0.6.3 padding; ``tests/test_icpr_reference.py`` checks the outputs against 0.6.3 itself.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from efficientnet_pytorch import EfficientNet
from efficientnet_pytorch.utils import Conv2dStaticSamePadding
from torch import nn

from inference.errors import CheckpointFormatError
from inference.models.classifier import DEFAULT_THREADS, BatchDone
from inference.models.network import as_float32, key_mismatch, read_state_dict
from inference.models.runtime import EAGER, Network, Runtime, compiled_network
from inference.torch_threads import torch_threads

logger = logging.getLogger(__name__)

AUTOATT = "EfficientNetAutoAttB4"
PLAIN = "EfficientNetB4"
ARCHITECTURES = (PLAIN, AUTOATT)
INPUT = 224
FEATURES = 1792
ATTENTION_BLOCK = 9
ATTENTION_CHANNELS = 56
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BATCH_SIZE = 8


class IcprNet(nn.Module):
    """EfficientNet-B4 with the ICPR 2020 head; key names match the public ``.pth`` files."""

    def __init__(self, attention: bool) -> None:
        super().__init__()
        self.efficientnet = EfficientNet.from_name("efficientnet-b4")
        del self.efficientnet._fc
        # Plain swish: the memory-efficient one is a custom autograd function, for training.
        self.efficientnet.set_swish(memory_efficient=False)
        if attention:
            self.efficientnet.attconv = nn.Conv2d(ATTENTION_CHANNELS, 1, kernel_size=1)
        self.classifier = nn.Linear(FEATURES, 1)
        _pad_as_trained(self.efficientnet)

    @property
    def has_attention(self) -> bool:
        """Whether this is the AutoAtt variant."""
        return hasattr(self.efficientnet, "attconv")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1) for (N, 3, 224, 224) ImageNet-normalised RGB faces; > 0 means FAKE."""
        return self.forward_with_attention(x)[0]

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (N, 1) and, for AutoAtt, the attention map (N, 1, 28, 28) of the same pass."""
        features, attention = self._features(x)
        net = self.efficientnet
        pooled = net._avg_pooling(features).flatten(1)
        return self.classifier(net._dropout(pooled)), attention

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The AutoAtt map (N, 1, 28, 28) in [0, 1] for 224 px input (after block 9), row 0 at the top."""
        if not self.has_attention:
            raise ValueError("only EfficientNetAutoAttB4 has an attention map")
        _, attention = self._features(x, stop_at_attention=True)
        return attention

    def _features(
        self, x: torch.Tensor, stop_at_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        net = self.efficientnet
        x = net._swish(net._bn0(net._conv_stem(x)))
        attention = None
        blocks = len(net._blocks)
        for index, block in enumerate(net._blocks):
            rate = net._global_params.drop_connect_rate
            x = block(x, drop_connect_rate=rate * index / blocks if rate else rate)
            if index == ATTENTION_BLOCK and self.has_attention:
                attention = torch.sigmoid(net.attconv(x))
                if stop_at_attention:
                    return x, attention
                x = x * attention
        return net._swish(net._bn1(net._conv_head(x))), attention


def _pad_as_trained(net: EfficientNet) -> None:
    """Give every "same" convolution the padding efficientnet_pytorch 0.6.3 gave it.

    0.6.3 computed TensorFlow's "same" padding for the nominal input size (380 px for B4) in
    every block, as a fixed zero padding, whatever the real input size.
    """
    size = net._global_params.image_size
    for module in net.modules():
        if isinstance(module, Conv2dStaticSamePadding):
            pads = [
                max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
                for kernel, stride, dilation in zip(
                    module.weight.shape[-2:], module.stride, module.dilation, strict=True
                )
            ]
            pad_h, pad_w = pads
            module.static_padding = (
                nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
                if pad_h or pad_w
                else nn.Identity()
            )


def build(arch: str) -> IcprNet:
    """A random-initialised network of ``arch`` (one of :data:`ARCHITECTURES`)."""
    if arch not in ARCHITECTURES:
        raise CheckpointFormatError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    return IcprNet(attention=arch == AUTOATT).eval()


def load_network(path: str | Path, arch: str, sha256: str | None = None) -> IcprNet:
    """Build ``arch`` and load a public ``.pth`` state_dict into it key for key.

    Raises:
        WeightsIntegrityError: If ``sha256`` is given and the bytes read have another.
        CheckpointFormatError: If the file is unreadable, or its keys or shapes are not those of
            ``arch`` (the missing and unexpected keys are named).
    """
    state = read_state_dict(path, sha256)
    # Built on the meta device: no time (0.3 s) spent on a random init that is overwritten.
    with torch.device("meta"):
        network = build(arch)
    mismatch = key_mismatch(network.state_dict(), state)
    if mismatch:
        raise CheckpointFormatError(f"{Path(path).name} is not an {arch} checkpoint of ICPR 2020: {mismatch}")
    network.load_state_dict(as_float32(state), strict=True, assign=True)
    return network.eval()


def to_tensor(faces_rgb: list[np.ndarray]) -> torch.Tensor:
    """Faces (224, 224, 3) uint8 RGB -> (N, 3, 224, 224) float32, scaled to [0, 1], ImageNet mean/std."""
    batch = torch.from_numpy(np.stack(faces_rgb)).permute(0, 3, 1, 2).float().div_(255.0)
    return batch.sub_(torch.tensor(MEAN).view(1, 3, 1, 1)).div_(torch.tensor(STD).view(1, 3, 1, 1))


class _Scoring(nn.Module):
    """What the compiled runtime runs: logits, and the attention map for AutoAtt."""

    def __init__(self, network: IcprNet) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, attention = self.network.forward_with_attention(x)
        return (logits,) if attention is None else (logits, attention)


class IcprScorer:
    """A loaded ICPR 2020 network scoring faces cut by :func:`inference.faces.icpr_crops.paper_crop`.

    Safe to share between threads (one lock; see :class:`inference.models.classifier.Classifier`).

    Args:
        network: The loaded network (kept as a torch module for anything but scoring).
        device: Where it runs.
        threads: CPU threads for scoring; 0 for torch's default.
        runtime: How it scores on CPU (:mod:`inference.models.runtime`); eager torch by default.
        sha256: The weights' sha256, under which the compiled runtime caches its export; None
            to export without caching.
        ready_threads: The thread count the compiled runtime is set up for at once (ONNX
            Runtime's set-up takes 0.2-0.4 s; other counts are set up on first use); default
            ``threads``.
    """

    def __init__(
        self,
        network: IcprNet,
        device: torch.device,
        threads: int = 0,
        runtime: Runtime = EAGER,
        sha256: str | None = None,
        ready_threads: int | None = None,
    ) -> None:
        # Channels-last: EfficientNet's depthwise convolutions ran 1.3-1.8x faster so on 2 CPU cores.
        self.network = network.to(device, memory_format=torch.channels_last).eval()
        self.device = device
        self.threads = threads or DEFAULT_THREADS
        self._lock = threading.Lock()
        self.compiled: Network | None = None
        if runtime.compiles(device):
            variant = AUTOATT if network.has_attention else PLAIN
            outputs = ["logits", "attention"] if network.has_attention else ["logits"]
            self.compiled = compiled_network(
                _Scoring(network),
                torch.zeros(1, 3, INPUT, INPUT),
                outputs,
                None if sha256 is None else f"{sha256}-{variant}",
                runtime,
                ready_threads or self.threads,
            )

    @contextmanager
    def _turn(self, threads: int) -> Iterator[None]:
        with self._lock, torch.inference_mode(), torch_threads(threads):
            yield

    def score(
        self,
        faces_rgb: list[np.ndarray],
        attention: bool = False,
        done: BatchDone | None = None,
        threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Score faces in batches of :data:`BATCH_SIZE`.

        Args:
            faces_rgb: Faces, each (224, 224, 3) uint8 RGB (see :func:`to_tensor`).
            attention: Also return the AutoAtt maps, from the same forward pass.
            done: Called with (faces done, faces in all) after each batch; it may raise to stop.
            threads: CPU threads to score with; None for the scorer's own count.

        Returns:
            One logit per face, shape (N,) float64 (sigmoid gives the fake probability), and
            the attention maps (N, 28, 28) float32 in [0, 1] when asked for and the network has
            them, else None.
        """
        if not faces_rgb:
            return np.zeros(0), (np.zeros((0, 28, 28), np.float32) if attention else None)
        batch = to_tensor(faces_rgb)
        logits, maps = [], []
        threads = threads or self.threads
        with self._turn(threads):
            for start in range(0, len(batch), BATCH_SIZE):
                out, att = self._forward(batch[start : start + BATCH_SIZE], threads)
                logits.append(out.float().cpu())
                if att is not None:
                    maps.append(att[:, 0].float().cpu())
                if done is not None:
                    done(min(start + BATCH_SIZE, len(batch)), len(batch))
        keep = attention and self.network.has_attention
        return torch.cat(logits)[:, 0].double().numpy(), (torch.cat(maps).numpy() if keep else None)

    def _forward(self, chunk: torch.Tensor, threads: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (N, 1) and attention (N, 1, 28, 28) or None, by the compiled network or torch."""
        if self.compiled is not None:
            outputs = [torch.from_numpy(o) for o in self.compiled(chunk.numpy(), threads)]
            return outputs[0], outputs[1] if len(outputs) > 1 else None
        return self.network.forward_with_attention(chunk.to(self.device, memory_format=torch.channels_last))
