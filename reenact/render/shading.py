"""Second-order spherical-harmonics shading, with the official tool's basis order and constants."""

from __future__ import annotations

import math

import torch

# guidance-maps.md §5.4: basis 1, x, y, z, xy, xz, yz, x^2 - y^2, 3z^2 - 1, each times c_k.
SH_CONSTANTS = (
    1.0 / math.sqrt(4 * math.pi),
    *(2 * math.pi / 3 * math.sqrt(3 / (4 * math.pi)),) * 3,
    *(math.pi / 4 * 3 * math.sqrt(5 / (12 * math.pi)),) * 3,
    math.pi / 4 * (3 / 2) * math.sqrt(5 / (12 * math.pi)),
    math.pi / 4 * (1 / 2) * math.sqrt(5 / (4 * math.pi)),
)

# Used when the source has no estimated light (the mesh backend, or a FLAME track without one):
# an even ambient term plus a frontal key light slightly from above, so a frontal surface gets
# shading ~1.14 and a silhouette ~0.73. Rows are SH bands, columns R, G, B.
DEFAULT_LIGHT = (
    (2.6, 2.6, 2.6),
    (0.0, 0.0, 0.0),
    (0.2, 0.2, 0.2),
    (0.4, 0.4, 0.4),
    (0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0),
)


def sh_basis(normals: torch.Tensor, scaled: bool = True) -> torch.Tensor:
    """(..., 9) SH basis of (..., 3) normals (used as given: not re-normalised), times c_k if scaled."""
    x, y, z = normals.unbind(-1)
    basis = torch.stack([torch.ones_like(x), x, y, z, x * y, x * z, y * z, x * x - y * y, 3 * (z * z) - 1], -1)
    if not scaled:
        return basis
    return basis * torch.tensor(SH_CONSTANTS, dtype=normals.dtype, device=normals.device)


def scaled_light(light: torch.Tensor) -> torch.Tensor:
    """light (..., 9, 3) with c_k folded in, so that shading = unscaled basis @ scaled light."""
    return light * torch.tensor(SH_CONSTANTS, dtype=light.dtype, device=light.device)[:, None]


def sh_shading(normals: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """(..., 3) RGB shading: sum_k light[k, c] * c_k * basis_k(n). light: (9, 3) or (..., 9, 3)."""
    return torch.einsum("...k,...kc->...c", sh_basis(normals), light.to(normals.dtype))
