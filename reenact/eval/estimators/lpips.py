"""LPIPS v0.1 with the AlexNet backbone (Zhang et al. 2018), built here so that no torchvision is needed.

Two user-supplied files: torchvision's ImageNet AlexNet weights (only `features.*` is used) and the
LPIPS linear-layer weights (`lin0.model.1.weight` … `lin4.model.1.weight`, 1x1 convs without bias).
Distance = Σ_layers mean_xy  w_l · (n(f_l(a)) − n(f_l(b)))², with n() unit-normalising each feature
vector along the channels and inputs scaled to [-1, 1] then shifted and scaled per channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import AssetError
from ..weights import describe

CHANNELS = (64, 192, 384, 256, 256)
TAPS = (1, 4, 7, 9, 11)               # after each ReLU of torchvision's alexnet().features
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


def alexnet_features() -> nn.Sequential:
    """torchvision's AlexNet `features` layout, so its state-dict keys load as they are."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )


class LpipsAlex(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = alexnet_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(N,) distances for (N, 3, H, W) images in [-1, 1]."""
        total = 0
        for lin, fa, fb in zip(self.lins, self._taps(a), self._taps(b)):
            total = total + lin((fa - fb) ** 2).mean((2, 3))
        return total.view(-1)


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or non-tensor files
        raise AssetError(f"{path} could not be read as PyTorch weights ({exc.__class__.__name__}); "
                         "replace it with the original file") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise AssetError(f"{path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in sd.items()}


class Lpips:
    """LPIPS distance between RGB uint8 frames (lower = more alike)."""

    name = "LPIPS v0.1 AlexNet"

    def __init__(self, backbone_file: Path, linear_file: Path, device: str = "cpu"):
        net = LpipsAlex()
        backbone = {k.removeprefix("features."): v for k, v in _state_dict(backbone_file).items()
                    if k.startswith("features.")}
        linear = {k.replace(".model.1.", ".").replace("lin", "", 1): v
                  for k, v in _state_dict(linear_file).items() if k.startswith("lin")}
        try:
            net.features.load_state_dict(backbone, strict=True)
            net.lins.load_state_dict(linear, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise AssetError(f"LPIPS weights do not fit AlexNet-LPIPS v0.1 ({backbone_file.name}, "
                             f"{linear_file.name}): {first}") from None
        self.net = net.eval().to(device)
        self.device = device
        self.version = f"{describe(backbone_file)}; {describe(linear_file)}"

    @torch.no_grad()
    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        def prep(x: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, torch.float32)
            return (t.permute(2, 0, 1)[None] / 127.5) - 1.0

        return float(self.net(prep(a), prep(b))[0])
