"""The ResNet-50 trunk under DECA's coarse encoder, in plain PyTorch.

DECA's checkpoint stores it with torchvision's module names (`conv1`, `bn1`, `layer1..4.<i>.
conv1..3 / bn1..3 / downsample.0-1`). torchvision cannot be loaded with this project's torch, so
the trunk is built here with the same names and shapes: a 7x7 stride-2 stem and 3x3 max-pool,
then bottleneck blocks (1x1 reduce, 3x3 with the block's stride, 1x1 expand by 4; a 1x1 conv+BN
shortcut where the shape changes), global average pooling to 2048 values. No classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EXPANSION = 4
# (bottleneck width, blocks, stride of the first block) for layer1..layer4 of ResNet-50
RESNET50_LAYERS = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))


class Bottleneck(nn.Module):
    def __init__(self, in_chs: int, width: int, stride: int) -> None:
        super().__init__()
        out_chs = width * EXPANSION
        self.conv1 = nn.Conv2d(in_chs, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.downsample = None
        if stride != 1 or in_chs != out_chs:
            self.downsample = nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_chs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class ResNet50Trunk(nn.Module):
    """(B, 3, H, W) -> (B, 2048) pooled features."""

    out_features = 512 * EXPANSION

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_chs = 64
        for index, (width, blocks, stride) in enumerate(RESNET50_LAYERS, start=1):
            layer = []
            for block in range(blocks):
                layer.append(Bottleneck(in_chs, width, stride if block == 0 else 1))
                in_chs = width * EXPANSION
            setattr(self, f"layer{index}", nn.Sequential(*layer))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(images)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))
