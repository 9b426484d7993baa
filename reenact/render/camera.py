"""From posed vertices to the screen space of the output image (guidance-maps.md §2.3, §5.1).

Screen space: (u, v, z) with u right and v down in output pixels, pixel (row r, col q)
centred at (q + 0.5, r + 0.5), z smaller = nearer. View space (used for normals and depth):
x image-right, y up, z toward the viewer.
"""

from __future__ import annotations

import numpy as np
import torch

DECA_CROP_SIZE = 224     # the official camera's normalised coordinates span this crop


def as_affine(m) -> torch.Tensor:
    """(..., 2, 3) float64 tensor from a (..., 2, 3) or (..., 3, 3) array."""
    m = torch.as_tensor(np.asarray(m, dtype=np.float64))
    return m[..., :2, :]


def invert_affine(m: torch.Tensor) -> torch.Tensor:
    """Inverse of (..., 2, 3) affine maps."""
    lin_inv = torch.linalg.inv(m[..., :2])
    return torch.cat([lin_inv, -(lin_inv @ m[..., 2:])], dim=-1)


def compose_affine(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """outer ∘ inner: apply `inner` first."""
    return torch.cat([outer[..., :2] @ inner[..., :2], outer[..., :2] @ inner[..., 2:] + outer[..., 2:]], dim=-1)


def apply_affine(points: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """(B, V, 2) points through (B, 2, 3) maps (row vector times the transposed linear part)."""
    m = m.to(points.dtype)
    return points @ m[:, :, :2].transpose(1, 2) + m[:, None, :, 2]


def in_plane_rotation(m: torch.Tensor) -> torch.Tensor:
    """(B, 2, 2) rotation part of similarity maps, in image (y-down) coordinates."""
    lin = m[..., :2]
    scale = torch.sqrt(torch.abs(torch.linalg.det(lin)))
    return lin / scale[..., None, None]


def rotate_view(vectors: torch.Tensor, rotation_ydown: torch.Tensor) -> torch.Tensor:
    """Apply an image-plane rotation (given in y-down image coordinates) to y-up view vectors."""
    flip = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=rotation_ydown.dtype, device=rotation_ydown.device)
    rot_yup = (flip @ rotation_ydown @ flip).to(vectors.dtype)
    xy = vectors[..., :2] @ rot_yup.transpose(-1, -2)
    return torch.cat([xy, vectors[..., 2:]], dim=-1)


def weak_perspective(vertices: torch.Tensor, cam: torch.Tensor, crop_size: float = DECA_CROP_SIZE) -> torch.Tensor:
    """World vertices (B, V, 3) with cam (B, 3) = [s, tx, ty] to crop pixels (u_c, v_c, z_c).

    x_c = s(X + tx), y_c = -s(Y + ty), z_c = -sZ; then u_c = (x_c + 1) * crop/2 (so NDC -1..1
    spans 0..224 for the 224 crop, DECA's convention), same for v_c; z_c is kept as is.
    """
    cam = cam.to(vertices.dtype)
    s, tx, ty = cam[:, 0, None], cam[:, 1, None], cam[:, 2, None]
    half = crop_size / 2
    x_c = s * (vertices[..., 0] + tx)
    y_c = -s * (vertices[..., 1] + ty)
    z_c = -s * vertices[..., 2]
    return torch.stack([(x_c + 1) * half, (y_c + 1) * half, z_c], dim=-1)


def flame_screen(vertices: torch.Tensor, cam: torch.Tensor, crop_transform: torch.Tensor,
                 crop_size: float = DECA_CROP_SIZE, canvas_from_frame: torch.Tensor | None = None) -> torch.Tensor:
    """Posed FLAME vertices to screen space of the output canvas (official chain, §5.1).

    crop_transform: (B, 2, 3) frame -> crop pixels (the official T, 512 image -> 224 crop);
    the crop pixels go back through its inverse to the frame, then through the optional
    canvas_from_frame (B, 2, 3) (identity in the official tool, where the frame is the 512
    source crop). z stays the camera's z_c, not rescaled.
    """
    crop = weak_perspective(vertices, cam, crop_size)
    screen_from_crop = canvas_transform(crop_transform, canvas_from_frame)
    uv = apply_affine(crop[..., :2], screen_from_crop)
    return torch.cat([uv, crop[..., 2:]], dim=-1)


def canvas_transform(crop_transform: torch.Tensor, canvas_from_frame: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 2, 3) crop pixels -> canvas pixels: canvas_from_frame ∘ crop_transform⁻¹."""
    crop_transform = crop_transform.to(torch.float64)
    m = invert_affine(crop_transform)
    if canvas_from_frame is not None:
        m = compose_affine(canvas_from_frame.to(torch.float64).expand_as(m), m)
    return m
