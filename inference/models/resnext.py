"""ResNeXt50 (32x4d) without its pooling and classifier: the backbone of the public checkpoints.

The same modules, in the same order and under the same names, as
``nn.Sequential(*list(torchvision.models.resnext50_32x4d().children())[:-2])``, so the
checkpoints' ``model.*`` keys load unchanged and the outputs are torchvision's
(``tests/test_resnext.py`` compares them). It is written out here because importing torchvision
imports ``torchvision.ops``, and with it TorchDynamo and SymPy: about 3 s of every command's
start-up on 2 CPU cores, for a network this small.
"""

from __future__ import annotations

import torch
from torch import nn

EXPANSION = 4
GROUPS = 32
WIDTH_PER_GROUP = 4
BLOCKS = (3, 4, 6, 3)


class Bottleneck(nn.Module):
    """torchvision's ``Bottleneck`` of ResNeXt: 1x1, grouped 3x3 (with the stride), 1x1, plus the shortcut."""

    def __init__(self, channels_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        width = int(planes * (WIDTH_PER_GROUP / 64.0)) * GROUPS
        self.conv1 = nn.Conv2d(channels_in, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=GROUPS, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * EXPANSION, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * EXPANSION)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, planes * 4, H / stride, W / stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


def _layer(channels_in: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or channels_in != planes * EXPANSION:
        downsample = nn.Sequential(
            nn.Conv2d(channels_in, planes * EXPANSION, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * EXPANSION),
        )
    layers = [Bottleneck(channels_in, planes, stride, downsample)]
    layers += [Bottleneck(planes * EXPANSION, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def resnext50_backbone() -> nn.Sequential:
    """ResNeXt50 32x4d up to layer4: (N, 3, H, W) -> (N, 2048, H / 32, W / 32).

    Indices as in the checkpoints: 0 conv1, 1 bn1, 2 relu, 3 maxpool, 4-7 layer1-layer4. The
    parameters are initialised by PyTorch's defaults (build it on the meta device when a state
    dict will replace them).
    """
    stem = [
        nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    ]
    layers, channels = [], 64
    for index, (planes, blocks) in enumerate(zip((64, 128, 256, 512), BLOCKS, strict=True)):
        layers.append(_layer(channels, planes, blocks, stride=1 if index == 0 else 2))
        channels = planes * EXPANSION
    backbone = nn.Sequential(*stem, *layers)
    if not backbone[0].weight.is_meta:
        # torchvision builds its 1000-class head here, before the loop below: drawing its numbers
        # too keeps a seeded random start the same as torchvision's (training from scratch).
        nn.Linear(channels, 1000)
    for module in backbone.modules():
        # Nothing to initialise on the meta device (and its normal_ imports TorchDynamo: 2 s).
        if isinstance(module, nn.Conv2d) and not module.weight.is_meta:
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return backbone
