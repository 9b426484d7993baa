"""The rasteriser interface: screen-space vertices and triangles in, Fragments out; backends by name."""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import InputError, NotAvailableError
from .fragments import Fragments
from .rasterize_pytorch3d import pytorch3d_available, rasterize_pytorch3d
from .rasterize_torch import rasterize_torch

RasterizeFn = Callable[[torch.Tensor, torch.Tensor, tuple[int, int]], Fragments]

# name -> (rasterise function, is it usable here?). Adding a backend is one entry.
BACKENDS: dict[str, tuple[RasterizeFn, Callable[[], bool]]] = {
    "torch": (rasterize_torch, lambda: True),
    "pytorch3d": (rasterize_pytorch3d, pytorch3d_available),
}


def available_backends() -> list[str]:
    return [name for name, (_, usable) in BACKENDS.items() if usable()]


def get_rasterizer(name: str = "torch") -> RasterizeFn:
    if name not in BACKENDS:
        raise InputError(f"unknown rasteriser backend {name!r}; choose one of {', '.join(BACKENDS)}")
    fn, usable = BACKENDS[name]
    if not usable():
        raise NotAvailableError(f"rasteriser backend {name!r} is not installed here;"
                                f" available: {', '.join(available_backends())}")
    return fn


def rasterize(screen: torch.Tensor, faces: torch.Tensor, image_size: int | tuple[int, int],
              backend: str = "torch") -> Fragments:
    """Nearest triangle, barycentrics and depth at every pixel centre of a batch of meshes.

    screen: (B, V, 3) or (V, 3) as (u, v, z): u right and v down in output pixels with pixel
    (row r, col q) centred at (q + 0.5, r + 0.5); z smaller = nearer. faces: (F, 3) shared by
    the batch. Coverage is strict (centre strictly inside), no culling, nearest z wins.
    """
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if screen.dim() == 2:
        screen = screen.unsqueeze(0)
    if screen.dim() != 3 or screen.shape[-1] != 3:
        raise InputError(f"screen vertices must be (B, V, 3), got {tuple(screen.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise InputError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= screen.shape[1]):
        raise InputError(f"faces index vertices outside 0..{screen.shape[1] - 1}")
    if not screen.is_floating_point():
        screen = screen.float()
    return get_rasterizer(backend)(screen, faces, (int(image_size[0]), int(image_size[1])))
