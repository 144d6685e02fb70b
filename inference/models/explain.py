"""Where the model looked: Grad-CAM maps of the FAKE probability, with Captum.

Grad-CAM weighs the feature maps of a backbone layer by the gradient of the FAKE probability,
which flows back through the whole head (linear layer, LSTM, pooling). Captum's
``LayerGradCam`` does the hooks and the weighting; this module picks the layer, batches, and
turns the maps into images.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from inference.models.network import ResNeXtLSTM

# layer3 of ResNeXt50 (index 6 of the backbone): a 7x7 grid for a 112 px crop, twice as fine
# as layer4's 4x4, and still class-specific once the gradient has come through layer4.
EXPLAIN_LAYER = 6
BATCH_SIZE = 10


def fake_probability(network: ResNeXtLSTM, fake_index: int):
    """A forward function for Captum: normalised crops (N, 3, H, W) -> FAKE probability (N,)."""

    def forward(crops: torch.Tensor) -> torch.Tensor:
        return torch.softmax(network(crops), dim=1)[:, fake_index]

    return forward


def gradcam_grids(
    network: ResNeXtLSTM,
    batch: torch.Tensor,
    fake_index: int,
    done: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Grad-CAM of the FAKE probability at :data:`EXPLAIN_LAYER` for each crop.

    Args:
        network: The classifier network, in eval mode.
        batch: Normalised crops, shape (N, 3, H, W), on the network's device.
        fake_index: Output index of the FAKE class.
        done: Called after each batch with (crops done, crops in all); it may raise to stop.

    Returns:
        Maps of shape (N, h, w) (7x7 for 112 px crops), float32, >= 0, each scaled so that
        its maximum is 1 (all zeros where nothing pushed towards FAKE).
    """
    # Imported here: Captum costs about 2 s of start-up (it imports Matplotlib and more), and
    # only requests that ask for heatmaps need it.
    from captum.attr import LayerGradCam

    cam = LayerGradCam(fake_probability(network, fake_index), network.model[EXPLAIN_LAYER])
    grids = []
    # Native kernels, as in scoring: oneDNN is slower on 2 cores (see classifier.py).
    with torch.enable_grad(), torch.backends.mkldnn.flags(enabled=False):
        for start in range(0, len(batch), BATCH_SIZE):
            chunk = batch[start : start + BATCH_SIZE].clone().requires_grad_(True)
            attribution = cam.attribute(chunk, relu_attributions=True)
            grids.append(attribution.detach()[:, 0].float().cpu())
            if done is not None:
                done(min(start + BATCH_SIZE, len(batch)), len(batch))
    maps = torch.cat(grids)
    peak = maps.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    return (maps / peak).numpy()


def upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """A (h, w) map resized to (size, size) with bilinear interpolation, float32 in [0, 1]."""
    return np.clip(cv2.resize(grid.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR), 0, 1)


def overlay(crop_rgb: np.ndarray, grid: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The map drawn over the crop in the "inferno" colour map (hot = pushed towards FAKE).

    Args:
        crop_rgb: Face crop, shape (S, S, 3), uint8, RGB.
        grid: Map from :func:`gradcam_grids`, shape (h, w), values in [0, 1].
        alpha: Weight of the colour map against the crop.

    Returns:
        Image of shape (S, S, 3), uint8, RGB.
    """
    heat = (upsample(grid, crop_rgb.shape[0]) * 255).astype(np.uint8)
    colours = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(crop_rgb, 1 - alpha, colours, alpha, 0)


def side_by_side(crop_rgb: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The crop and its overlay next to each other, shape (S, 2S, 3), uint8, RGB."""
    return np.concatenate([crop_rgb, overlay(crop_rgb, grid)], axis=1)
