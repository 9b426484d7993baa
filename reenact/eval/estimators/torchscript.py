"""Feature networks for FID and FVD, loaded from the TorchScript files the field shares.

- FID: `inception-2015-12-05.pt` (stylegan2-ada-pytorch, clean-fid): called on uint8 (N, 3, H, W)
  images with `return_features=True`, it resizes to 299 itself and returns (N, 2048) pool features.
- FVD: `i3d_torchscript.pt` (StyleGAN-V, fvd-comparison): called on float (N, 3, T, 224, 224)
  clips scaled to [-1, 1] with `rescale=False, resize=False, return_features=True`, it returns
  (N, 400) logits-layer features.
TorchScript archives hold no Python code to run; torch reads them with its own loader.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from ...errors import AssetError
from ..weights import describe

FVD_SIZE = 224


def _load_script(path: Path, device: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load is deprecated, the files are not
            return torch.jit.load(str(path), map_location=device).eval()
    except Exception as exc:  # RuntimeError / ValueError for files that are not TorchScript archives
        raise AssetError(f"{path} is not a TorchScript archive ({exc.__class__.__name__}); "
                         "replace it with the original file") from None


class InceptionFeatures:
    name = "Inception-v3 (FID, 2015-12-05 TorchScript)"

    def __init__(self, path: Path, device: str = "cpu"):
        self.net = _load_script(path, device)
        self.device = device
        self.version = describe(path)

    @torch.no_grad()
    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous().to(self.device)
        feats = self.net(x, return_features=True)
        return feats.float().cpu().numpy().reshape(len(frames), -1)


class I3DFeatures:
    name = "I3D Kinetics-400 (FVD, TorchScript)"

    def __init__(self, path: Path, device: str = "cpu"):
        self.net = _load_script(path, device)
        self.device = device
        self.version = describe(path)

    @staticmethod
    def prepare(frame: np.ndarray) -> np.ndarray:
        """One frame as the I3D input wants it: 224x224, uint8 (scaled to [-1, 1] later)."""
        return cv2.resize(np.ascontiguousarray(frame), (FVD_SIZE, FVD_SIZE), interpolation=cv2.INTER_AREA)

    @torch.no_grad()
    def __call__(self, clips: list[np.ndarray]) -> np.ndarray:
        """(N, 400) features for N clips of (T, 224, 224, 3) uint8 frames."""
        x = torch.from_numpy(np.stack(clips)).to(self.device, torch.float32)   # N T H W C
        x = x.permute(0, 4, 1, 2, 3) / 127.5 - 1.0                              # N C T H W
        feats = self.net(x, rescale=False, resize=False, return_features=True)
        return feats.float().cpu().numpy().reshape(len(clips), -1)
