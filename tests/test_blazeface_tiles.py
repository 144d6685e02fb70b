"""BlazeFace's faster detection gives bitwise the rows of the straightforward one on the shared clips.

The reference below is the detection as first written (each tile resized on its own, the
network's residual padded with zero channels, each tile decoded on its own, all 896 anchors):
kept here only to compare against. Its rows, and so the ICPR crops cut from them, must be the
same bits as :meth:`FaceFinder.detect`'s on frames of every shared clip.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED_BLAZEFACE, SHARED_MEDIA

from inference.faces.blazeface import (
    ANCHORS,
    INPUT,
    MIN_SCORE,
    SCORE_CLIP,
    BlazeFace,
    FaceFinder,
    resized_tiles,
    tiles,
    weighted_nms,
)

FRAMES_PER_CLIP = 2
ANCHORS_FILE = SHARED_BLAZEFACE.with_name("anchors.npy")


def shared_frames() -> list[tuple[str, int, np.ndarray]]:
    """(clip, frame number, (H, W, 3) uint8 RGB) for a few evenly spread frames of each shared clip."""
    clips = sorted(SHARED_MEDIA.glob("*.mp4"))
    if not clips:
        pytest.skip(f"no shared clip under {SHARED_MEDIA}")
    out = []
    for clip in clips:
        capture = cv2.VideoCapture(str(clip))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        for index in np.linspace(0, max(0, count - 2), FRAMES_PER_CLIP).astype(int):
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, image = capture.read()
            if ok:
                out.append((clip.name, int(index), cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
        capture.release()
    return out


@pytest.fixture(scope="module")
def frames() -> list[tuple[str, int, np.ndarray]]:
    return shared_frames()


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    if not (SHARED_BLAZEFACE.is_file() and ANCHORS_FILE.is_file()):
        pytest.skip(f"BlazeFace files not present under {SHARED_BLAZEFACE.parent}")
    return FaceFinder.load(SHARED_BLAZEFACE, ANCHORS_FILE)


def _reference_block(block: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    if block.stride == 2:
        branch = F.pad(x, (0, 2, 0, 2))
        x = F.max_pool2d(x, 2, 2)
    else:
        branch = x
    if block.extra_channels:
        x = F.pad(x, (0, 0, 0, 0, 0, block.extra_channels))
    return F.relu(block.convs(branch) + x)


def _reference_network(net: BlazeFace, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = F.pad(x, (1, 2, 1, 2))
    fine = net.backbone1[1](net.backbone1[0](x))
    for block in net.backbone1[2:]:
        fine = _reference_block(block, fine)
    coarse = fine
    for block in net.backbone2:
        coarse = _reference_block(block, coarse)
    n = x.shape[0]

    def cells(layer: torch.nn.Module, features: torch.Tensor, width: int) -> torch.Tensor:
        return layer(features).permute(0, 2, 3, 1).reshape(n, -1, width)

    boxes = torch.cat([cells(net.regressor_8, fine, 16), cells(net.regressor_16, coarse, 16)], 1)
    scores = torch.cat([cells(net.classifier_8, fine, 1), cells(net.classifier_16, coarse, 1)], 1)
    return boxes, scores


def _reference_decode(anchors: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    centre, size = anchors[:, :2], anchors[:, 2:]
    points = boxes.view(ANCHORS, 8, 2) / INPUT * size[:, None, :] + centre[:, None, :]
    cx, cy = points[:, 0, 0], points[:, 0, 1]
    w = boxes[:, 2] / INPUT * size[:, 0]
    h = boxes[:, 3] / INPUT * size[:, 1]
    decoded = torch.cat(
        [
            torch.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], 1),
            points[:, 2:, :].reshape(ANCHORS, 12),
            scores.clamp(-SCORE_CLIP, SCORE_CLIP).sigmoid(),
        ],
        1,
    )
    return decoded[decoded[:, 16] >= MIN_SCORE]


def _reference_to_frame(rows: torch.Tensor, x: int, y: int, side: int) -> torch.Tensor:
    scale = side / INPUT
    out = rows.clone()
    out[:, [0, 2]] = rows[:, [0, 2]] * INPUT * scale + y
    out[:, [1, 3]] = rows[:, [1, 3]] * INPUT * scale + x
    out[:, 4:16:2] = rows[:, 4:16:2] * INPUT * scale + x
    out[:, 5:16:2] = rows[:, 5:16:2] * INPUT * scale + y
    return out


def reference_detect(finder: FaceFinder, frame_rgb: np.ndarray) -> np.ndarray:
    """The detection as first written: (n, 17) float32 rows, see :meth:`FaceFinder.detect` (whose
    network runs on one torch thread: so does this one's)."""
    placed = tiles(*frame_rgb.shape[:2])
    batch = np.stack(
        [
            cv2.resize(frame_rgb[y : y + side, x : x + side], (INPUT, INPUT), interpolation=cv2.INTER_AREA)
            for x, y, side in placed
        ]
    )
    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            raw_boxes, raw_scores = _reference_network(finder.network, tensor)
    finally:
        torch.set_num_threads(before)
    with torch.inference_mode():
        found = [
            _reference_to_frame(_reference_decode(finder.anchors, boxes, scores), *tile)
            for tile, boxes, scores in zip(placed, raw_boxes, raw_scores, strict=True)
        ]
        return weighted_nms(torch.cat(found)).numpy().astype(np.float32)


def test_resized_tiles_are_each_tile_resized_on_its_own(frames: list[tuple[str, int, np.ndarray]]):
    """Every tile's 128 px pixels, strips or not, equal the tile's own INTER_AREA resize."""
    for clip, index, frame in frames:
        placed = tiles(*frame.shape[:2])
        ours = resized_tiles(frame, placed)
        for (x, y, side), tile in zip(placed, ours, strict=True):
            alone = cv2.resize(
                frame[y : y + side, x : x + side], (INPUT, INPUT), interpolation=cv2.INTER_AREA
            )
            assert np.array_equal(tile, alone), f"{clip} frame {index}: tile at ({x}, {y}) differs"


def test_detections_are_the_reference_bit_for_bit(
    finder: FaceFinder, frames: list[tuple[str, int, np.ndarray]]
):
    """FaceFinder.detect's rows are the reference's, bit for bit, on every shared clip."""
    found = 0
    for clip, index, frame in frames:
        ours, reference = finder.detect(frame), reference_detect(finder, frame)
        assert ours.dtype == np.float32 and ours.shape == reference.shape, f"{clip} frame {index}"
        assert np.array_equal(ours.view(np.uint32), reference.view(np.uint32)), (
            f"{clip} frame {index}: rows differ\nours {ours}\nreference {reference}"
        )
        found += len(ours)
    assert found > 0, "no face found on any shared frame: the comparison would be vacuous"


def test_detections_do_not_depend_on_the_callers_thread_count(
    finder: FaceFinder, frames: list[tuple[str, int, np.ndarray]]
):
    """The same rows, bit for bit, from a thread whose torch count is 1 (the second opinion's
    watching thread) and from one whose count is 2 (the caller finishing the watching queue):
    torch picks other convolution kernels with more threads."""
    picked = frames[:: max(1, len(frames) // 6)]
    found: dict[int, list[np.ndarray]] = {}

    def detect_with(count: int) -> None:
        torch.set_num_threads(count)
        found[count] = [finder.detect(frame) for _, _, frame in picked]

    before = torch.get_num_threads()
    try:
        for count in (1, 2):
            thread = threading.Thread(target=detect_with, args=(count,))
            thread.start()
            thread.join()
    finally:
        torch.set_num_threads(before)
    assert sum(len(rows) for rows in found[1]) > 0, "no face found: the comparison would be vacuous"
    for (clip, index, _), one, two in zip(picked, found[1], found[2], strict=True):
        assert np.array_equal(one.view(np.uint32), two.view(np.uint32)), f"{clip} frame {index}"
