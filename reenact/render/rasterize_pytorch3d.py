"""Optional rasteriser backend on pytorch3d's `rasterize_meshes` (the official tool's rasteriser).

pytorch3d has no usable PyPI wheels, so this backend exists only where the user built it;
it takes the same screen-space input as the torch backend and returns the same Fragments.
"""

from __future__ import annotations

import torch

from ..errors import NotAvailableError
from .fragments import Fragments


def pytorch3d_available() -> bool:
    try:
        import pytorch3d.renderer.mesh.rasterize_meshes  # noqa: F401
    except Exception:  # ImportError, or a broken build failing on its compiled extension
        return False
    return True


def to_pytorch3d_ndc(screen: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Pixel coordinates (centres at q + 0.5) to pytorch3d NDC (+X left, +Y up, shorter side -1..1).

    pytorch3d samples pixel column q at x = (W - 2q - 1) / min(H, W), i.e. at our u = q + 0.5,
    and likewise for rows; depth is shifted to >= 10 so that nothing is clipped behind the
    camera (the official tool does the same, guidance-maps.md §5.1).
    """
    height, width = image_size
    short = min(height, width)
    x = -(2.0 * screen[..., 0] - width) / short
    y = -(2.0 * screen[..., 1] - height) / short
    z = screen[..., 2] - screen[..., 2].amin(dim=1, keepdim=True) + 10.0
    return torch.stack([x, y, z], dim=-1)


def rasterize_pytorch3d(screen: torch.Tensor, faces: torch.Tensor, image_size: tuple[int, int],
                        bin_size: int | None = None) -> Fragments:
    if not pytorch3d_available():
        raise NotAvailableError("the pytorch3d rasteriser backend needs pytorch3d, which is not installed;"
                                " use render.backend=torch")
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from pytorch3d.structures import Meshes

    height, width = image_size
    batch, n_faces = screen.shape[0], faces.shape[0]
    faces = faces.to(device=screen.device, dtype=torch.int64)
    ndc = to_pytorch3d_ndc(screen.float(), image_size)
    meshes = Meshes(verts=list(ndc), faces=[faces] * batch)
    pix_to_face, _, bary, _ = rasterize_meshes(
        meshes, image_size=(height, width), blur_radius=0.0, faces_per_pixel=1, bin_size=bin_size,
        perspective_correct=False, cull_backfaces=False)
    pix_to_face = pix_to_face[..., 0].reshape(-1)               # packed: b * F + face, -1 empty
    pixel = (pix_to_face >= 0).nonzero().squeeze(1)
    packed = pix_to_face[pixel]
    face = packed % n_faces
    bary_cov = bary[..., 0, :].reshape(-1, 3)[pixel].to(screen.dtype)
    # Depth in the caller's units (pytorch3d's zbuf is in the shifted NDC z).
    b = torch.div(pixel, height * width, rounding_mode="floor")
    corner_z = screen[..., 2].reshape(-1)[faces[face] + (b * screen.shape[1]).unsqueeze(1)]
    depth = (bary_cov * corner_z).sum(1)
    return Fragments(pixel, face, bary_cov, depth, batch, (height, width))
