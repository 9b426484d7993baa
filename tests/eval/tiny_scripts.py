"""Stand-ins with the call signatures of the FID Inception and FVD I3D TorchScript files
(TorchScript needs their source in a file, hence this module)."""

import torch
from torch import nn


class TinyInception(nn.Module):
    """uint8 (N, 3, H, W) -> (N, 6): channel means and standard deviations, on the 0..255 scale."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = x.float()
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], dim=1)


class TinyI3D(nn.Module):
    """float (N, 3, T, 224, 224) in [-1, 1] -> (N, 5): the clip mean, repeated."""

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        return x.mean((1, 2, 3, 4)).unsqueeze(1).repeat(1, 5)
