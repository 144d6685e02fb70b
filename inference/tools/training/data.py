"""PyTorch datasets over cached crops: single crops (``per-frame``) or sequences (``temporal``).

Crops become tensors with :func:`inference.models.preprocess.crops_to_tensor`, the function the
engine scores with, so training and inference normalise alike (BGR, ImageNet mean/std).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from inference.models.preprocess import crops_to_tensor
from inference.tools.training.crops import CachedVideo
from inference.weights.config import PER_FRAME, ModelConfig


def label_index(label: str, config: ModelConfig) -> int:
    """The network's output index of a label ("FAKE" is 0 in the public checkpoints)."""
    return config.labels.index(label)


class CropDataset(Dataset):
    """Items of one video each: a single crop (per-frame) or ``length`` crops in a row (temporal).

    Args:
        videos: Cached crops; videos without a face are skipped.
        config: Gives the crop size, normalisation and label order.
        length: Crops per item; 1 for per-frame models. A video with fewer crops than
            ``length`` gives one item, its crops repeated in order to fill it.

    Items are (tensor, label): (3, S, S) when ``length`` is 1, else (length, 3, S, S).
    """

    def __init__(self, videos: list[CachedVideo], config: ModelConfig, length: int = 1) -> None:
        self.config = config
        self.length = length
        self.items: list[tuple[CachedVideo, int]] = []
        for video in videos:
            if video.count == 0:
                continue
            starts = range(0, video.count - length + 1, length) if video.count >= length else [0]
            self.items += [(video, start) for start in starts]

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> list[int]:
        """The label index of every item (for class balancing)."""
        return [label_index(video.video.label, self.config) for video, _ in self.items]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        video, start = self.items[index]
        crops = video.load()
        picked = np.resize(np.arange(start, min(start + self.length, video.count)), self.length)
        batch = crops_to_tensor([np.asarray(crops[i]) for i in picked], self.config)
        return (batch[0] if self.length == 1 else batch), label_index(video.video.label, self.config)


def item_length(config: ModelConfig) -> int:
    """Crops per training item for the config's model kind."""
    return 1 if config.kind == PER_FRAME else config.frames
