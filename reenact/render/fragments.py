"""What a rasteriser hands back: which triangle covers each pixel centre, and where on it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch


@dataclass
class Fragments:
    """Nearest-surface rasterisation result, stored sparsely (covered pixels only).

    Guidance maps only need values where the mesh is, so every backend returns the covered
    pixels as flat lists; dense (B, H, W, ...) views are built on demand.

    pixel: (N,) int64 flat index `b*H*W + row*W + col`, ascending.
    face:  (N,) int64 triangle index into the (per-mesh) face list.
    bary:  (N, 3) screen-space barycentric coordinates of the pixel centre with respect to
           the triangle's corners in face-list order; all > 0 (strictly inside).
    depth: (N,) screen z of the surface at the pixel centre (smaller is nearer).
    """

    pixel: torch.Tensor
    face: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    batch_size: int
    image_size: tuple[int, int]

    @cached_property
    def batch_index(self) -> torch.Tensor:
        h, w = self.image_size
        return torch.div(self.pixel, h * w, rounding_mode="floor")

    def to_dense(self, values: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        """Scatter (N, ...) per-pixel values into a (B, H, W, ...) image, `fill` elsewhere."""
        h, w = self.image_size
        out = values.new_full((self.batch_size * h * w, *values.shape[1:]), fill)
        out[self.pixel] = values
        return out.view(self.batch_size, h, w, *values.shape[1:])

    @property
    def mask(self) -> torch.Tensor:
        """(B, H, W) bool: the pixel centre lies strictly inside some triangle."""
        ones = torch.ones(self.pixel.shape, dtype=torch.bool, device=self.pixel.device)
        return self.to_dense(ones, False)

    @property
    def face_index(self) -> torch.Tensor:
        """(B, H, W) int64 nearest triangle, -1 where nothing covers the pixel centre."""
        return self.to_dense(self.face, -1)

    @property
    def barycentric(self) -> torch.Tensor:
        """(B, H, W, 3), zero in the background."""
        return self.to_dense(self.bary, 0.0)

    @property
    def zbuf(self) -> torch.Tensor:
        """(B, H, W) screen z of the nearest surface, -1 in the background (pytorch3d's convention)."""
        return self.to_dense(self.depth, -1.0)

    def frame(self, b: int) -> "Fragments":
        """The fragments of one batch element, as a batch of one."""
        h, w = self.image_size
        keep = self.batch_index == b
        return Fragments(self.pixel[keep] - b * h * w, self.face[keep], self.bary[keep], self.depth[keep],
                         1, self.image_size)
