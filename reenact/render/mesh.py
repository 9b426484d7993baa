"""Per-vertex quantities of a triangle mesh and their interpolation over rasterised pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fragments import Fragments


def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, F, 3) un-normalised `(v1 - v0) x (v2 - v0)`: twice the area times the unit normal."""
    corners = vertices[:, faces]                                   # (B, F, 3, 3)
    return torch.cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(B, V, 3) area-weighted vertex normals: normalise(sum of incident face cross products).

    L2-normalised with `eps` as the official tool does (guidance-maps.md §5.3); a vertex
    on no triangle gets the zero vector.
    """
    batch, n_vertices = vertices.shape[:2]
    per_face = face_normals(vertices, faces)
    summed = vertices.new_zeros(batch, n_vertices, 3)
    for corner in range(3):
        summed.index_add_(1, faces[:, corner], per_face)
    return F.normalize(summed, dim=-1, eps=eps)


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """table[index] along dim 0, fast on CPU: rows flattened to 2-D and float32 moved as int32 bits
    (index_select on (M, 4, 3) float32 is several times slower than on the same bytes as (M, 12) int32)."""
    rows = table.reshape(table.shape[0], -1)
    if rows.dtype == torch.float32:
        out = rows.view(torch.int32).index_select(0, index).view(torch.float32)
    else:
        out = rows.index_select(0, index)
    return out.view(-1, *table.shape[1:])


def _blend(bary: torch.Tensor, corner_values: torch.Tensor) -> torch.Tensor:
    return (corner_values[:, 0] * bary[:, 0:1] + corner_values[:, 1] * bary[:, 1:2]
            + corner_values[:, 2] * bary[:, 2:3])


def interpolate_vertex_attributes(fragments: Fragments, faces: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """(N, C): (B, V, C) per-vertex attributes at each covered pixel, barycentrically blended."""
    batch, n_vertices, channels = attributes.shape
    corner_ids = faces.index_select(0, fragments.face) + (fragments.batch_index * n_vertices).unsqueeze(1)
    corner_values = gather_rows(attributes.reshape(batch * n_vertices, channels), corner_ids.view(-1))
    return _blend(fragments.bary.to(attributes.dtype), corner_values.view(-1, 3, channels))


def interpolate_corner_attributes(fragments: Fragments, corner_attributes: torch.Tensor) -> torch.Tensor:
    """(N, C): per-triangle-corner attributes (F, 3, C), e.g. UVs with their own index list."""
    return _blend(fragments.bary.to(corner_attributes.dtype), gather_rows(corner_attributes, fragments.face))
