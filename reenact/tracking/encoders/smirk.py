"""SMIRK's expression encoder: a MobileNetV3 feature trunk and one linear head.

Architecture facts (SMIRK, src/smirk_encoder.py): backbone timm's
`tf_mobilenetv3_large_minimal_100` with `features_only=True` (rebuilt without timm in
mobilenetv3.py, same keys and shapes); its last feature map is average-pooled to 960 values and a
Linear 960 -> 55 gives expression (50), eyelids (2) and jaw (3). Output rules kept here:
eyelids clamped to [0, 1]; jaw = (ReLU(opening), clamp(yaw, -0.2, 0.2), clamp(roll, -0.2, 0.2)),
axis-angle radians. MagicPortrait keeps the expression and jaw and drops the eyelids. SMIRK's
pose and shape encoders are not needed (MagicPortrait discards their outputs).
Input: (B, 3, 224, 224) RGB in [0, 1], no mean/std normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .mobilenetv3 import MobileNetV3Features

SMIRK_N_EXP = 50
JAW_SIDE_LIMIT = 0.2     # rad, SMIRK's clamp on jaw yaw and roll


@dataclass
class SmirkCode:
    """expression (B, 50), jaw (B, 3) axis-angle, eyelids (B, 2) in [0, 1] (recorded, not used)."""

    expression: np.ndarray
    jaw: np.ndarray
    eyelids: np.ndarray


def split_head(raw: torch.Tensor, n_exp: int = SMIRK_N_EXP) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(expression, jaw, eyelids) from the head's raw outputs, with SMIRK's clamps."""
    expression = raw[:, :n_exp]
    eyelids = raw[:, n_exp:n_exp + 2].clamp(0, 1)
    jaw = torch.cat([F.relu(raw[:, n_exp + 2:n_exp + 3]),
                     raw[:, n_exp + 3:n_exp + 5].clamp(-JAW_SIDE_LIMIT, JAW_SIDE_LIMIT)], dim=1)
    return expression, jaw, eyelids


class SmirkExpressionEncoder(nn.Module):
    """`forward` returns the raw (B, 55) head output; `encode` applies SMIRK's output rules."""

    def __init__(self, n_exp: int = SMIRK_N_EXP) -> None:
        super().__init__()
        self.n_exp = n_exp
        self.encoder = MobileNetV3Features()
        features = self.encoder.feature_channels[-1]
        self.expression_layers = nn.Sequential(nn.Linear(features, n_exp + 2 + 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.encoder(images)[-1].mean(dim=(2, 3))
        return self.expression_layers(features)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> SmirkCode:
        expression, jaw, eyelids = split_head(self(images), self.n_exp)
        to_np = lambda t: t.cpu().numpy().astype(np.float32)  # noqa: E731
        return SmirkCode(to_np(expression), to_np(jaw), to_np(eyelids))
