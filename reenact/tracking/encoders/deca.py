"""DECA's coarse encoder E_flame: a ResNet-50 trunk and a two-layer head to 236 FLAME parameters.

Architecture facts (DECA, decalib/models/encoders.py + resnet.py): a ResNet-50 with torchvision's
layout and key names but no classifier (`encoder.*` keys: conv1, bn1, layer1..4 of bottlenecks
[3, 4, 6, 3] with `downsample.0/1` on the first block of each stage, stride on the 3x3 conv), a
7x7 average pool on the 224 input's 7x7 feature map, then Linear 2048->1024, ReLU, Linear
1024->236 (`layers.0/2.*`). The trunk is written here rather than taken from torchvision so the
encoder needs nothing beyond torch; the golden test checks it against DECA's own code.
Input: (B, 3, 224, 224) RGB in [0, 1], no mean/std normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# The 236 outputs in order (DECA's param_list with its default sizes).
DECA_LAYOUT = (("shape", 100), ("tex", 50), ("exp", 50), ("pose", 6), ("cam", 3), ("light", 27))
DECA_OUTPUTS = sum(n for _, n in DECA_LAYOUT)
DECA_INPUT = 224


@dataclass
class DecaCode:
    """Per-image DECA parameters (numpy, float32).

    shape (B, 100) FLAME identity, tex (B, 50) FLAME texture-space code, exp (B, 50),
    pose (B, 6) = global rotation (3) + jaw (3) axis-angle, cam (B, 3) = [s, tx, ty] in the 224
    crop (u = (s (X + tx) + 1) * 112, v = (-s (Y + ty) + 1) * 112), light (B, 9, 3) SH band x RGB.
    """

    shape: np.ndarray
    tex: np.ndarray
    exp: np.ndarray
    pose: np.ndarray
    cam: np.ndarray
    light: np.ndarray

    @classmethod
    def from_vector(cls, code: torch.Tensor | np.ndarray) -> "DecaCode":
        code = np.asarray(code.detach().cpu() if isinstance(code, torch.Tensor) else code, np.float32)
        parts, start = {}, 0
        for name, n in DECA_LAYOUT:
            parts[name] = code[:, start:start + n]
            start += n
        parts["light"] = parts["light"].reshape(-1, 9, 3)   # light[k, c] = v[3k + c]
        return cls(**parts)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here) -> 1x1 x4, batch norm after each, identity or projected shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet50Trunk(nn.Module):
    """ResNet-50 up to its global average pool: (B, 3, 224, 224) -> (B, 2048)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 1):
            layers = []
            for b in range(blocks):
                layers.append(Bottleneck(inplanes, planes, stride if b == 0 else 1))
                inplanes = planes * 4
            setattr(self, f"layer{i}", nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))


class DecaEncoder(nn.Module):
    """E_flame. `forward` returns the raw (B, 236) vector; `encode` splits it into a DecaCode."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ResNet50Trunk()
        self.layers = nn.Sequential(nn.Linear(2048, 1024), nn.ReLU(), nn.Linear(1024, DECA_OUTPUTS))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(self.encoder(images))

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> DecaCode:
        return DecaCode.from_vector(self(images))
