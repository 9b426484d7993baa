"""The official encoder crops (guidance-maps.md §1.2-1.3): a square box from landmarks, a
similarity onto a 224 crop (corners to 0 and 223), bilinear warp with black outside.

DECA ("kpt68" rule): side = int(1.1 * 1.3 * mean(box width, box height)) of the 68 landmarks,
warped from the image in [0, 1]. SMIRK: side = int(1.4 * mean(width, height)) of all 478
MediaPipe points, warped from the uint8 image and truncated back to uint8 before /255.
Our 68 points are MediaPipe's iBUG-68 equivalents, not FAN's (a documented, small difference).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

ENCODER_INPUT = 224
DECA_BOX_SCALE = 1.1 * 1.3      # kpt68 box enlargement (1.1) times the MagicPortrait crop scale (1.3)
SMIRK_BOX_SCALE = 1.4


def box_crop_transform(points: np.ndarray, scale: float, size: int = ENCODER_INPUT) -> np.ndarray:
    """(3, 3) image -> crop similarity of the square around `points` (N, 2+).

    side S = int(scale * ((right - left) + (bottom - top)) / 2) (Python int, truncation), centre at
    the box centre; the square's corners go to crop (0, 0) and (size - 1, size - 1).
    """
    xy = np.asarray(points, np.float64)[:, :2]
    xy = xy[np.isfinite(xy).all(axis=1)]
    left, top = xy.min(0)
    right, bottom = xy.max(0)
    side = int(((right - left) + (bottom - top)) / 2 * scale)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    a = (size - 1) / side
    return np.array([[a, 0.0, -a * (cx - side / 2)], [0.0, a, -a * (cy - side / 2)], [0.0, 0.0, 1.0]])


def warp_to_input(image: np.ndarray, transform: np.ndarray, size: int = ENCODER_INPUT) -> np.ndarray:
    """(size, size, C) float64: `image` (H, W, C) sampled bilinearly at transform^-1(col, row),
    pixel centres at integer coordinates, 0 outside (scikit-image's `warp`, order 1, constant)."""
    h, w = image.shape[:2]
    inv = np.linalg.inv(transform)
    cols, rows = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64))
    x = inv[0, 0] * cols + inv[0, 1] * rows + inv[0, 2]
    y = inv[1, 0] * cols + inv[1, 1] * rows + inv[1, 2]
    grid = torch.from_numpy(np.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], -1))[None]
    src = torch.from_numpy(np.asarray(image, np.float64)).permute(2, 0, 1)[None]
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[0].permute(1, 2, 0).numpy()


def deca_input(image_rgb: np.ndarray, landmarks68: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """(3, 224, 224) float32 RGB in [0, 1] and the (3, 3) image -> crop transform T."""
    transform = box_crop_transform(landmarks68, DECA_BOX_SCALE)
    crop = warp_to_input(np.asarray(image_rgb, np.float64) / 255.0, transform)
    return torch.from_numpy(crop.astype(np.float32)).permute(2, 0, 1).contiguous(), transform


def smirk_input(image_rgb: np.ndarray, points478: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """(3, 224, 224) float32 RGB in [0, 1] (warped in 0..255, truncated to uint8) and T."""
    transform = box_crop_transform(points478, SMIRK_BOX_SCALE)
    crop = warp_to_input(np.asarray(image_rgb, np.float64), transform).astype(np.uint8)
    return torch.from_numpy(crop.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous(), transform
