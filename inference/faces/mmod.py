"""dlib's CNN face detector (MMOD, ``mmod_human_face_detector.dat``) as a PyTorch module.

face_recognition's ``model="cnn"`` runs this network through dlib, which scores every pyramid
level of the whole frame; built here without BLAS it needs 7-26 s for one full-resolution
frame on 2 cores. The same weights in PyTorch score one level of a region around a face in a
few milliseconds, with dlib's numbers (confidences within 1e-4 of dlib's: tests/test_mmod.py).

The file is dlib's own serialisation, read as dlib writes it: each layer is tagged with its
name and version (``con_4``, ``bn_con2``) followed by its parameter tensor (a header of packed
integers, then little-endian float32). dlib's face detector applies its batch-norm layers as
fixed affine maps (``affine<...>`` in its network type), so each is folded into the
convolution before it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
import torch
from torch import nn

from inference.errors import DeepfakeDetectorError
from inference.faces import dlib_models, pyramid

# Each output cell scores a window centred on input pixel STRIDE * cell + OFFSET: three
# stride-2 convolutions without padding (5x5), then stride-1 convolutions padded to size.
STRIDE = 8
OFFSET = 14
# Input pixels on each side of a cell's centre given to the network. Its receptive field
# reaches 94 pixels; the outer 16 change the scores too little to move a box (measured on the
# shared clips: 91 of 104 faces' boxes identical to dlib's whole-frame boxes either way, 23 %
# less work; 62 pixels moved many).
REACH = 78

_CONV = b"\x01\x05con_4"
_BATCH_NORM = b"\x01\x07bn_con2"
_INPUT = b"\x01\x17input_rgb_image_pyramid"
_LOSS = b"\x01\x0aloss_mmod_"


class DetectorFormatError(DeepfakeDetectorError):
    """The face detector's weights file is not dlib's MMOD network as face_recognition ships it."""


@dataclass(frozen=True)
class DetectorSpec:
    """What the file says besides the layers.

    Attributes:
        mean: Per-channel value subtracted before scaling by 1/256, in dlib's channel order
            (the array's channel 0 first: B, G, R for a BGR frame fed as is).
        window: (width, height) of the detection window, in pixels of the level it is found on.
        nms_iou: Of two overlapping detections the weaker is dropped when the intersection over
            the box bounding both exceeds this.
    """

    mean: tuple[float, float, float]
    window: tuple[int, int]
    nms_iou: float

    def window_around(self, x: float, y: float) -> dlib.drectangle:
        """The detection window centred on pixel (x, y) of its level, as dlib places it."""
        half_w, half_h = ((side - 1) / 2 for side in self.window)
        return dlib.drectangle(x - half_w, y - half_h, x + half_w, y + half_h)


class MMODNet(nn.Module):
    """The face detector's network: input (N, 3, H, W) float, output (N, 1, h, w) scores.

    A window is a face when its score is above 0; the score is dlib's ``confidence``.
    """

    def __init__(self, convolutions: list[nn.Conv2d], spec: DetectorSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for conv in convolutions[:-1]:
            layers += [conv, nn.ReLU()]
        self.layers = nn.Sequential(*layers, convolutions[-1])
        self.spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1))

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels (N, 3, H, W), 0-255, to the network's input: (pixel - mean) / 256."""
        return (pixels - self.mean) / 256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the score map for an input of that size; 0 where it is smaller than the net sees."""
        for layer in self.layers:
            if isinstance(layer, nn.Conv2d):
                (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
                height = max((height + 2 * ph - kh) // sh + 1, 0)
                width = max((width + 2 * pw - kw) // sw + 1, 0)
        return height, width


class _Reader:
    """dlib's serialisation: integers as a size byte (high bit: negative) then little-endian bytes."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.position = data, position

    def _need(self, size: int) -> None:
        if self.position + size > len(self.data):
            raise DetectorFormatError("the file ends in the middle of a layer (truncated download?)")

    def integer(self) -> int:
        self._need(1)
        head = self.data[self.position]
        size = head & 0x0F
        self._need(1 + size)
        value = int.from_bytes(self.data[self.position + 1 : self.position + 1 + size], "little")
        self.position += 1 + size
        return -value if head & 0x80 else value

    def real(self) -> float:
        """dlib writes a float or double as integer mantissa and exponent."""
        mantissa = self.integer()
        return mantissa * 2.0 ** self.integer()

    def text(self) -> str:
        size = self.integer()
        self._need(size)
        value = self.data[self.position : self.position + size].decode("ascii")
        self.position += size
        return value

    def tensor(self) -> np.ndarray:
        """A tensor (version 2: shape of four integers, then raw float32), flattened."""
        if self.integer() != 2:
            raise DetectorFormatError("a tensor of an unknown dlib version")
        count = int(np.prod([self.integer() for _ in range(4)]))
        self._need(4 * count)
        values = np.frombuffer(self.data, "<f4", count, self.position).astype(np.float32)
        self.position += 4 * count
        return values

    def skip_alias(self) -> None:
        """An alias tensor (version 1 and a shape): a view of the parameters, no data."""
        for _ in range(5):
            self.integer()


def read(path: Path) -> MMODNet:
    """The network in dlib's file ``path``, in eval mode.

    Raises:
        DetectorFormatError: The file is not the MMOD face detector's layout.
    """
    data = path.read_bytes()
    spec = _spec(data)
    convolutions: list[nn.Conv2d] = []
    position = data.find(_CONV)
    while position >= 0:
        reader = _Reader(data, position)
        reader.text()
        convolutions.append(_convolution(reader))
        following = data.find(_BATCH_NORM, reader.position)
        next_conv = data.find(_CONV, reader.position)
        if following >= 0 and (next_conv < 0 or following < next_conv):
            reader = _Reader(data, following)
            reader.text()
            _fold_batch_norm(reader, convolutions[-1])
        position = next_conv
    if [conv.out_channels for conv in convolutions] != [16, 32, 32, 45, 45, 45, 1]:
        raise DetectorFormatError(f"{path}: not dlib's MMOD face detector (unexpected layers)")
    return MMODNet(convolutions, spec).eval()


def _spec(data: bytes) -> DetectorSpec:
    position, loss = data.find(_INPUT), data.find(_LOSS)
    if position < 0 or loss < 0:
        raise DetectorFormatError("no dlib MMOD loss and image-pyramid input in the file")
    reader = _Reader(data, position)
    reader.text()
    mean = (reader.real(), reader.real(), reader.real())
    reader = _Reader(data, loss)
    reader.text()
    if reader.integer() != 1:  # options version 1: one window, width then height
        raise DetectorFormatError("MMOD options of an unknown version")
    window = (reader.integer(), reader.integer())
    for _ in range(3):  # training losses and the truth-match threshold
        reader.real()
    nms_iou = reader.real()  # then the share of a box covered, unused (1: never)
    return DetectorSpec(mean=mean, window=window, nms_iou=nms_iou)


def _convolution(reader: _Reader) -> nn.Conv2d:
    params = reader.tensor()
    filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(7))
    inputs = (params.size - filters) // (filters * rows * cols)
    if inputs * filters * rows * cols + filters != params.size:
        raise DetectorFormatError("a convolution whose parameters do not match its shape")
    conv = nn.Conv2d(inputs, filters, (rows, cols), stride=(stride_y, stride_x), padding=(pad_y, pad_x))
    split = params.size - filters
    conv.weight.data = torch.from_numpy(params[:split].reshape(filters, inputs, rows, cols).copy())
    conv.bias.data = torch.from_numpy(params[split:].copy())
    return conv


def _fold_batch_norm(reader: _Reader, conv: nn.Conv2d) -> None:
    """gamma * (x - running mean) / sqrt(running variance + eps) + beta, folded into ``conv``."""
    params = reader.tensor()
    reader.skip_alias()  # gamma
    reader.skip_alias()  # beta
    reader.tensor()  # means of the last training batch
    reader.tensor()  # their inverse standard deviations
    running_mean, running_variance = reader.tensor(), reader.tensor()
    reader.integer()  # updates so far
    reader.integer()  # running statistics window
    for _ in range(4):  # learning-rate and weight-decay multipliers
        reader.real()
    eps = reader.real()
    channels = conv.out_channels
    if params.size != 2 * channels or running_variance.size != channels:
        raise DetectorFormatError("a batch norm that does not match its convolution")
    gain = params[:channels] / np.sqrt(running_variance + eps)
    shift = params[channels:] - gain * running_mean
    conv.weight.data *= torch.from_numpy(gain.astype(np.float32)).view(-1, 1, 1, 1)
    conv.bias.data = conv.bias.data * torch.from_numpy(gain.astype(np.float32)) + torch.from_numpy(
        shift.astype(np.float32)
    )


_lock = threading.Lock()
_network: MMODNet | None = None
# The network runs on one thread of its own with one torch thread: its small convolutions gain
# little from a second, whose idle spinning takes the core that decoding needs beside face
# finding (measured on 2 cores, 20 frames of a 1080p clip: 2.4-2.9 s with two threads, 2.0-2.3 s
# with one). torch hands the last count set to threads started later, so the classifier sets
# its own count in its scoring thread on every call (classifier.py).
_runner = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="mmod", initializer=torch.set_num_threads, initargs=(1,)
)


def network() -> MMODNet:
    """The network of the file face_recognition ships, read once per process."""
    global _network
    with _lock:
        if _network is None:
            _network = read(Path(dlib_models.cnn_model_path()))
        return _network


def scores(pixels: np.ndarray) -> np.ndarray:
    """The network's score map for part of a tiled pyramid image.

    Args:
        pixels: (H, W, 3) float32, 0-255, channels as the detector is fed them.

    Returns:
        (h, w) float32: cell (r, c) scores the window centred on input pixel
        (STRIDE * c + OFFSET, STRIDE * r + OFFSET).
    """
    return _runner.submit(_scores, pixels).result()


def _scores(pixels: np.ndarray) -> np.ndarray:
    net = network()
    size = net.output_size(*pixels.shape[:2])
    if 0 in size:  # an image this small holds no window; torch would refuse it
        return np.zeros(size, np.float32)
    with torch.inference_mode():
        return net(net.normalise(torch.from_numpy(pixels).permute(2, 0, 1)[None]))[0, 0].numpy()


def detect(image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
    """The CNN detector on a whole image upsampled once: face_recognition's ``model="cnn"``.

    Args:
        image: (H, W, 3) uint8, channels in the order the detector is to be fed.

    Returns:
        (box (top, right, bottom, left), confidence) of each face, the most confident first.
    """
    net = network()
    height, width = image.shape[:2]
    upsampled = pyramid.upsampled_size(height, width)
    rows, cols = pyramid.tiled_size(*upsampled)
    cells = scores(pyramid.tiled_pixels(image, (0, cols), (0, rows), fill=net.spec.mean))
    origins = pyramid.tile_origins(*upsampled)
    kept: list[tuple[dlib.rectangle, float]] = []
    for row, col in sorted(zip(*np.nonzero(cells > 0), strict=True), key=lambda cell: -cells[cell]):
        x, y = STRIDE * col + OFFSET, STRIDE * row + OFFSET
        level = pyramid.tile_at((x, y), *upsampled)
        ox, oy = origins[level]
        rect = pyramid.to_upsampled(net.spec.window_around(x - ox, y - oy), level)
        if not any(_overlap(rect, other) > net.spec.nms_iou for other, _ in kept):
            kept.append((rect, float(cells[row, col])))
    return [(pyramid.upsampled_to_frame(rect, image.shape), score) for rect, score in kept]


def _overlap(a: dlib.rectangle, b: dlib.rectangle) -> float:
    """dlib's NMS measure: the intersection's area over the area of the box bounding both."""
    inner = a.intersect(b).area()
    if inner == 0:
        return 0.0
    left, top = min(a.left(), b.left()), min(a.top(), b.top())
    right, bottom = max(a.right(), b.right()), max(a.bottom(), b.bottom())
    return inner / ((right - left + 1) * (bottom - top + 1))
