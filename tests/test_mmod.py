"""dlib's CNN face detector in PyTorch, and the pyramid levels it is fed, against dlib itself."""

from __future__ import annotations

import math
from pathlib import Path

import dlib
import face_recognition
import face_recognition_models
import numpy as np
import pytest
import skimage.data
import torch

from inference.faces import mmod, pyramid


def dlib_tiled_pyramid(image: np.ndarray, mean: tuple[float, float, float]) -> tuple[np.ndarray, list]:
    """dlib's CNN input: every level, made with dlib's own float resize, laid out as dlib tiles them.

    Returns:
        The normalised tiled image (3, H, W) and each level's (x, y) origin.
    """
    height, width = image.shape[:2]
    origins = pyramid.tile_origins(height, width)
    sizes = pyramid.level_sizes(height, width)[: len(origins)]
    rows = max(y + h for (_, y), (h, _) in zip(origins, sizes, strict=True)) + pyramid.TILE_OUTER_PADDING
    tiled = np.zeros((3, rows, width + 2 * pyramid.TILE_OUTER_PADDING), np.float32)
    level = [(image[:, :, k].astype(np.float32) - mean[k]) / 256 for k in range(3)]
    for index, ((x, y), (h, w)) in enumerate(zip(origins, sizes, strict=True)):
        if index:
            level = [dlib.resize_image(channel, h, w) for channel in level]
        for k in range(3):
            tiled[k, y : y + h, x : x + w] = level[k]
    return tiled, origins


def best_detection(image: np.ndarray) -> tuple[float, tuple[int, int, int, int]]:
    """(confidence, (left, top, right, bottom)) of the network's best window on the whole image."""
    network = mmod.network()
    tiled, origins = dlib_tiled_pyramid(image, network.spec.mean)
    with torch.inference_mode():
        scores = network(torch.from_numpy(tiled)[None])[0, 0].numpy()
    row, col = np.unravel_index(np.argmax(scores), scores.shape)
    x, y = mmod.STRIDE * col + mmod.OFFSET, mmod.STRIDE * row + mmod.OFFSET
    sizes = pyramid.level_sizes(*image.shape[:2])
    # dlib assigns a window to the level nearest its centre.
    level = min(range(len(origins)), key=lambda k: distance((x, y), origins[k], sizes[k]))
    ox, oy = origins[level]
    half = (network.spec.window[0] - 1) / 2
    rect = dlib.drectangle(x - ox - half, y - oy - half, x - ox + half, y - oy + half)
    rect = pyramid.LEVEL.rect_up(rect, level) if level else rect
    sides = (rect.left(), rect.top(), rect.right(), rect.bottom())
    return float(scores[row, col]), tuple(math.floor(side + 0.5) for side in sides)


def distance(point: tuple[int, int], origin: tuple[int, int], size: tuple[int, int]) -> int:
    """Squared distance from ``point`` to the rectangle at ``origin`` of ``size`` (height, width)."""
    dx = max(origin[0] - point[0], 0, point[0] - (origin[0] + size[1] - 1))
    dy = max(origin[1] - point[1], 0, point[1] - (origin[1] + size[0] - 1))
    return dx * dx + dy * dy


def test_network_scores_like_dlib():
    image = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])  # BGR, fed as is
    (theirs,) = face_recognition.api.cnn_face_detector(image, 0)
    confidence, box = best_detection(image)
    assert confidence == pytest.approx(theirs.confidence, abs=1e-4)
    r = theirs.rect
    assert box == (r.left(), r.top(), r.right(), r.bottom())


def test_level_pixels_are_dlibs_levels():
    """The approximation the engine uses for a level's pixels, against dlib's own resize chain."""
    frame = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    height, width = frame.shape[:2]
    up_h, up_w = pyramid.upsampled_size(height, width)
    level_image = dlib.resize_image(frame, up_h, up_w).astype(np.float32)  # dlib's pyramid_up
    sizes = pyramid.level_sizes(up_h, up_w)
    for level in range(1, 6):
        h, w = sizes[level]
        level_image = np.dstack(
            [dlib.resize_image(np.ascontiguousarray(level_image[:, :, k]), h, w) for k in range(3)]
        )
        ours = pyramid.level_pixels(frame, level, (0, w), (0, h)).astype(np.float32)
        inner = (slice(4, h - 4), slice(4, w - 4))
        # Measured 0.6-1.8 grey levels; placed a pixel off, 3.8-6.7.
        assert np.abs(ours[inner] - level_image[inner]).mean() < 2.5
        # Where the CNN's tiled image holds this level, and the padding beside it.
        x, y = pyramid.tile_origins(up_h, up_w)[level]
        tiled = pyramid.tiled_pixels(frame, (x - 5, x + w), (y, y + h), fill=(1.0, 2.0, 3.0))
        np.testing.assert_array_equal(tiled[:, 5:], ours)
        np.testing.assert_array_equal(tiled[0, 0], [1, 2, 3])


def test_reader_refuses_other_dlib_networks(tmp_path: Path):
    landmarks = Path(face_recognition_models.pose_predictor_five_point_model_location())
    with pytest.raises(mmod.DetectorFormatError, match="MMOD"):
        mmod.read(landmarks)
    truncated = tmp_path / "cut.dat"
    truncated.write_bytes(
        Path(face_recognition_models.cnn_face_detector_model_location()).read_bytes()[:5000]
    )
    with pytest.raises(mmod.DetectorFormatError):
        mmod.read(truncated)


def test_whole_image_detection_is_face_recognitions():
    image = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2, ::-1])  # 256 px, BGR
    theirs = face_recognition.api.cnn_face_detector(image, 1)
    ours = mmod.detect(image)
    assert [box for box, _ in ours] == [
        (d.rect.top(), d.rect.right(), d.rect.bottom(), d.rect.left()) for d in theirs
    ]
    assert [score for _, score in ours] == pytest.approx([d.confidence for d in theirs], abs=0.01)
    assert mmod.detect(np.full((200, 300, 3), 90, np.uint8)) == []


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (16, 4000), (40, 40)])
def test_images_too_small_for_a_window_have_no_faces(shape: tuple[int, int]):
    # dlib itself raises on these ("Filter windows must be small enough..."); a strip or a
    # thumbnail holds no 80-pixel window, so the answer is simply no face.
    image = np.full((*shape, 3), 128, np.uint8)
    assert mmod.detect(image) == []
