"""DECA's coarse encoder E_flame: a ResNet-50 trunk and a two-layer head to 236 FLAME parameters.

Architecture facts (DECA, decalib/models/encoders.py + resnet.py): torchvision's ResNet-50 layout
without its classifier (`encoder.*` keys; rebuilt without torchvision in resnet.py), a 7x7
average pool on the 224 input's 7x7 feature map (equal to the global mean), then Linear 2048->1024, ReLU, Linear 1024->236 (`layers.0/2.*`).
Input: (B, 3, 224, 224) RGB in [0, 1], no mean/std normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .resnet import ResNet50Trunk

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


class DecaEncoder(nn.Module):
    """E_flame. `forward` returns the raw (B, 236) vector; `encode` splits it into a DecaCode."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ResNet50Trunk()
        self.layers = nn.Sequential(nn.Linear(ResNet50Trunk.out_features, 1024), nn.ReLU(), nn.Linear(1024, DECA_OUTPUTS))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(self.encoder(images))

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> DecaCode:
        return DecaCode.from_vector(self(images))
