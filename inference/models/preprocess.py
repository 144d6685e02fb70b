"""Turn face crops into the network's input tensor, exactly as the original code did."""

from __future__ import annotations

import numpy as np
import torch

from inference.faces.crops import resize_crop
from inference.weights.config import ModelConfig


def crops_to_tensor(crops_bgr: list[np.ndarray], config: ModelConfig) -> torch.Tensor:
    """Stack crops into a normalised batch.

    Args:
        crops_bgr: Face crops, each (H, W, 3) uint8 in BGR order (any size).
        config: Supplies the input size and the mean/std (applied in BGR channel order,
            as the original did).

    Returns:
        Float tensor of shape (N, 3, image_size, image_size).
    """
    batch = np.stack([resize_crop(crop, config.image_size) for crop in crops_bgr])
    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(config.mean).view(1, 3, 1, 1)
    std = torch.tensor(config.std).view(1, 3, 1, 1)
    return tensor.sub_(mean).div_(std)
