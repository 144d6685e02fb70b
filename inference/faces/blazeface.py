"""BlazeFace (MediaPipe's front-camera face detector), run as the ICPR 2020 detectors' training data was cut.

The EfficientNet detectors of Bonettini et al. (ICPR 2020) were trained on faces found by
BlazeFace: each frame split into square tiles of side ``min(H, W, 720)``, each tile shrunk to
128x128 with ``INTER_AREA``, detections with a score of at least 0.75, mapped back to the frame
and merged over the tiles by a weighted non-maximum suppression. Their second opinion is only
faithful on faces found the same way, so this module reproduces that procedure.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from inference.torch_threads import torch_threads

INPUT = 128
ANCHORS = 896
MIN_SCORE = 0.75
MIN_SUPPRESSION_IOU = 0.3
SCORE_CLIP = 100.0
MAX_TILE = 720
# Columns of a detection row: box (ymin, xmin, ymax, xmax), six key points (x, y), score.
BOX = slice(0, 4)
SCORE = 16


class _Block(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 with a residual; stride 2 pads right/bottom like TFLite."""

    def __init__(self, channels_in: int, channels_out: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = channels_out - channels_in
        self.convs = nn.Sequential(
            nn.Conv2d(channels_in, channels_in, 3, stride, 0 if stride == 2 else 1, groups=channels_in),
            nn.Conv2d(channels_in, channels_out, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            branch = F.pad(x, (0, 2, 0, 2))
            x = F.max_pool2d(x, 2, 2)
        else:
            branch = x
        out = self.convs(branch)
        # The residual fills the first channels only (the rest would add zeros), in place: the
        # same sums as padding it with zero channels, without the copies.
        out[:, : x.shape[1]] += x
        return out.relu_()


class BlazeFace(nn.Module):
    """The network; attribute names match the keys of ``blazeface.pth``."""

    def __init__(self) -> None:
        super().__init__()
        widths = (24, 24, 28, 32, 36, 42, 48, 56, 64, 72, 80, 88)
        # MediaPipe's front model halves the resolution where it widens to 32 and to 48 channels.
        blocks = [
            _Block(widths[i], widths[i + 1], 2 if widths[i + 1] in (32, 48) else 1)
            for i in range(len(widths) - 1)
        ]
        self.backbone1 = nn.Sequential(nn.Conv2d(3, 24, 5, 2), nn.ReLU(inplace=True), *blocks)
        self.backbone2 = nn.Sequential(_Block(88, 96, 2), *(_Block(96, 96) for _ in range(4)))
        self.classifier_8 = nn.Conv2d(88, 2, 1)
        self.classifier_16 = nn.Conv2d(96, 6, 1)
        self.regressor_8 = nn.Conv2d(88, 32, 1)
        self.regressor_16 = nn.Conv2d(96, 96, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw outputs for (N, 3, 128, 128) RGB in [-1, 1].

        Returns:
            Box regressions (N, 896, 16) and score logits (N, 896, 1), anchors in MediaPipe's
            order (the 16x16 grid's two anchors per cell, then the 8x8 grid's six).
        """
        x = F.pad(x, (1, 2, 1, 2))
        fine = self.backbone1(x)
        coarse = self.backbone2(fine)
        n = x.shape[0]

        def cells(layer: nn.Module, features: torch.Tensor, width: int) -> torch.Tensor:
            return layer(features).permute(0, 2, 3, 1).reshape(n, -1, width)

        boxes = torch.cat([cells(self.regressor_8, fine, 16), cells(self.regressor_16, coarse, 16)], 1)
        scores = torch.cat([cells(self.classifier_8, fine, 1), cells(self.classifier_16, coarse, 1)], 1)
        return boxes, scores


def tiles(height: int, width: int) -> list[tuple[int, int, int]]:
    """The square tiles a frame is searched in: (x, y, side), row by row.

    Three overlapping squares across a 1080p frame's long side (a portrait frame the same
    downwards), one for a square frame; frames larger than 720 px on their short side get
    720 px tiles, three by three.
    """
    side = min(height, width, MAX_TILE)
    step_x, step_y = (width - side) // 2, (height - side) // 2
    across = (width - side) // step_x + 1 if step_x > 0 else 1
    down = (height - side) // step_y + 1 if step_y > 0 else 1
    return [(col * step_x, row * step_y, side) for row in range(down) for col in range(across)]


def resized_tiles(frame: np.ndarray, placed: list[tuple[int, int, int]]) -> np.ndarray:
    """Each tile of ``frame`` shrunk to 128x128 with ``INTER_AREA``: (T, 128, 128, C) uint8.

    The same pixels as resizing each tile on its own, for less: tiles in one column whose rows
    start at whole multiples of ``side / 128`` (a 1080p frame's 0, 180 and 360 for 720 px tiles,
    the same across a portrait frame) are cut from one resize of the strip they span. OpenCV's
    area weights of an output row depend only on the scale and on where the row starts within
    its source pixels, both then the same as in the tile's own resize; other tilings are resized
    tile by tile. tests/test_blazeface_tiles.py checks both on the shared clips.

    Args:
        frame: (H, W, C) uint8, any channel order.
        placed: The tiles, see :func:`tiles`.
    """
    out = np.empty((len(placed), INPUT, INPUT, frame.shape[2]), np.uint8)
    side = placed[0][2]
    exact = 1.0 / (INPUT / side) == side / INPUT  # OpenCV's scale, 1 / (128 / side), is side / 128
    done: set[int] = set()
    for i, (x, y, _) in enumerate(placed):
        if i in done:
            continue
        for down in (True, False):
            strip = [
                j
                for j, (x2, y2, _) in enumerate(placed)
                if (x2 == x and y2 >= y if down else y2 == y and x2 >= x)
            ]
            starts = [placed[j][1] - y if down else placed[j][0] - x for j in strip]
            if len(strip) > 1 and exact and not any(start * INPUT % side for start in starts):
                break
        else:
            strip, starts = [i], [0]
        length = max(starts) + side
        along = length * INPUT // side
        if down:
            shrunk = cv2.resize(
                frame[y : y + length, x : x + side], (INPUT, along), interpolation=cv2.INTER_AREA
            )
        else:
            shrunk = cv2.resize(
                frame[y : y + side, x : x + length], (along, INPUT), interpolation=cv2.INTER_AREA
            )
        for j, start in zip(strip, starts, strict=True):
            offset = start * INPUT // side
            out[j] = shrunk[offset : offset + INPUT] if down else shrunk[:, offset : offset + INPUT]
            done.add(j)
    return out


class FaceFinder:
    """BlazeFace with its anchors, finding faces in whole frames; safe to share between threads."""

    def __init__(self, network: BlazeFace, anchors: np.ndarray, device: torch.device) -> None:
        if anchors.shape != (ANCHORS, 4):
            raise ValueError(f"BlazeFace anchors must have shape ({ANCHORS}, 4), got {anchors.shape}")
        self.network = network.to(device).eval()
        self.anchors = torch.as_tensor(anchors, dtype=torch.float32, device=device)
        self.device = device
        self._lock = threading.Lock()

    @classmethod
    def from_state(
        cls, state: dict[str, torch.Tensor], anchors: np.ndarray, device: str | torch.device = "cpu"
    ) -> FaceFinder:
        """Build the finder from ``blazeface.pth``'s state_dict and ``anchors.npy``'s array.

        The caller reads both files from bytes whose sha256 it checked (see
        :mod:`inference.second_opinion`).

        Args:
            state: The network's state_dict.
            anchors: (896, 4) anchors: x_center, y_center, w, h in 0..1 of the 128 px input.

        Raises:
            RuntimeError: If the state_dict does not fit the network (torch names the keys).
            ValueError: If the anchors have another shape.
        """
        network = BlazeFace()
        network.load_state_dict(state)
        return cls(network, anchors, torch.device(device))

    @classmethod
    def load(cls, weights: str | Path, anchors: str | Path, device: str | torch.device = "cpu") -> FaceFinder:
        """Load ``blazeface.pth`` (a plain state_dict) and ``anchors.npy`` from files (tests, benchmarks)."""
        state = torch.load(weights, map_location="cpu", weights_only=True)
        return cls.from_state(state, np.load(anchors, allow_pickle=False), device)

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Faces in one frame.

        Args:
            frame_rgb: (H, W, 3) uint8, RGB.

        Returns:
            (n, 17) float32 rows: ymin, xmin, ymax, xmax, six key points (x, y), score; in frame
            pixels, without margin, merged over the tiles, the highest score first.
        """
        placed = tiles(*frame_rgb.shape[:2])
        tensor = torch.from_numpy(resized_tiles(frame_rgb, placed)).permute(0, 3, 1, 2)
        tensor = tensor.to(self.device).float() / 127.5 - 1.0
        # One thread whichever thread calls: the watching thread runs on one, the caller finishing
        # its queue on the process's count, and the boxes (the crops' source) must not depend on it.
        with self._lock, torch.inference_mode(), torch_threads(1):
            raw_boxes, raw_scores = self.network(tensor)
            rows = self._decode(raw_boxes, raw_scores, placed)
            return weighted_nms(rows).cpu().numpy().astype(np.float32)

    def _decode(
        self, boxes: torch.Tensor, scores: torch.Tensor, placed: list[tuple[int, int, int]]
    ) -> torch.Tensor:
        """The rows of all tiles whose score passes :data:`MIN_SCORE`, in frame pixels.

        Rows come tile by tile, each tile's in anchor order (the order the weighted NMS breaks
        ties in). Only the passing rows are decoded: the arithmetic is element by element, so
        each row is the same as when all 896 of each tile were.

        Args:
            boxes: (T, 896, 16) raw regressions; scores: (T, 896, 1) raw logits.
            placed: The T tiles, see :func:`tiles`.
        """
        scores = scores.clamp(-SCORE_CLIP, SCORE_CLIP).sigmoid()
        tile, anchor = torch.nonzero(scores[:, :, 0] >= MIN_SCORE, as_tuple=True)
        boxes, anchors = boxes[tile, anchor], self.anchors[anchor]
        centre, size = anchors[:, :2], anchors[:, 2:]
        count = boxes.shape[0]
        points = boxes.view(count, 8, 2) / INPUT * size[:, None, :] + centre[:, None, :]
        cx, cy = points[:, 0, 0], points[:, 0, 1]
        w = boxes[:, 2] / INPUT * size[:, 0]
        h = boxes[:, 3] / INPUT * size[:, 1]
        rows = torch.cat(
            [
                torch.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], 1),
                points[:, 2:, :].reshape(count, 12),
                scores[tile, anchor],
            ],
            1,
        )
        origin = torch.tensor([(x, y) for x, y, _ in placed], dtype=rows.dtype, device=rows.device)[tile]
        return _to_frame(rows, origin[:, :1], origin[:, 1:], placed[0][2])


def _to_frame(rows: torch.Tensor, x: torch.Tensor, y: torch.Tensor, side: int) -> torch.Tensor:
    """Rows in tile units (0..1 of a 128 px input) to frame pixels of tiles at (x, y), (n, 1) each."""
    scale = side / INPUT
    out = rows.clone()
    ys = [0, 2]
    xs = [1, 3]
    out[:, ys] = rows[:, ys] * INPUT * scale + y
    out[:, xs] = rows[:, xs] * INPUT * scale + x
    out[:, 4:16:2] = rows[:, 4:16:2] * INPUT * scale + x
    out[:, 5:16:2] = rows[:, 5:16:2] * INPUT * scale + y
    return out


def weighted_nms(rows: torch.Tensor) -> torch.Tensor:
    """BlazeFace's blending suppression over (n, 17) rows.

    The best remaining row takes every row overlapping it by more than
    :data:`MIN_SUPPRESSION_IOU` (itself included); the group becomes one row whose coordinates
    are the score-weighted mean and whose score is the group's mean score.
    """
    if rows.shape[0] == 0:
        return rows.new_zeros((0, 17))
    remaining = torch.argsort(rows[:, SCORE], descending=True)
    merged = []
    while remaining.numel():
        best = rows[remaining[0]]
        overlaps = _iou(best[BOX], rows[remaining, BOX]) > MIN_SUPPRESSION_IOU
        group = rows[remaining[overlaps]]
        remaining = remaining[~overlaps]
        row = best.clone()
        if group.shape[0] > 1:
            weights = group[:, SCORE : SCORE + 1]
            row[:SCORE] = (group[:, :SCORE] * weights).sum(0) / weights.sum()
            row[SCORE] = weights.sum() / group.shape[0]
        merged.append(row)
    return torch.stack(merged)


def _iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Intersection over union of one (ymin, xmin, ymax, xmax) box with each of ``boxes``."""
    low = torch.maximum(box[:2], boxes[:, :2])
    high = torch.minimum(box[2:], boxes[:, 2:])
    inter = (high - low).clamp(min=0).prod(1)
    area = (box[2:] - box[:2]).prod()
    areas = (boxes[:, 2:] - boxes[:, :2]).prod(1)
    return inter / (area + areas - inter)
