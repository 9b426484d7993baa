"""Simple meshes with known geometry, for analytic tests, benchmarks and smoke checks."""

from __future__ import annotations

import math

import torch


def uv_sphere(n_lat: int = 71, n_lon: int = 72, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit sphere with poles on ±y: (V, 3) vertices and (F, 3) outward-wound triangles.

    n_lat latitude bands and n_lon longitude steps give 2 + (n_lat - 1) n_lon vertices and
    2 (n_lat - 1) n_lon triangles (71 x 72: 5042 vertices, 10080 triangles, FLAME-sized).
    """
    theta = torch.arange(1, n_lat, dtype=torch.float64) * math.pi / n_lat
    phi = torch.arange(n_lon, dtype=torch.float64) * 2 * math.pi / n_lon
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([t.sin() * p.sin(), t.cos(), t.sin() * p.cos()], -1).reshape(-1, 3)
    verts = torch.cat([ring.new_tensor([[0.0, 1.0, 0.0]]), ring, ring.new_tensor([[0.0, -1.0, 0.0]])])
    ring_index = torch.arange((n_lat - 1) * n_lon).reshape(n_lat - 1, n_lon) + 1
    nxt = ring_index.roll(-1, dims=1)
    top = torch.stack([torch.zeros(n_lon, dtype=torch.int64), ring_index[0], nxt[0]], -1)
    a, b = ring_index[:-1], nxt[:-1]
    c, d = ring_index[1:], nxt[1:]
    quads = torch.cat([torch.stack([a, c, d], -1).reshape(-1, 3), torch.stack([a, d, b], -1).reshape(-1, 3)])
    south = len(verts) - 1
    bottom = torch.stack([torch.full((n_lon,), south), nxt[-1], ring_index[-1]], -1)
    faces = torch.cat([top, quads, bottom])
    return verts.to(dtype), faces


def head_like(n_lat: int = 71, n_lon: int = 72, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A FLAME-sized head stand-in (metres, y up, facing +z): an ellipsoid with a nose bump."""
    verts, faces = uv_sphere(n_lat, n_lon, torch.float64)
    x, y, z = verts.unbind(-1)
    nose = 0.25 * torch.exp(-((x / 0.18) ** 2 + ((y + 0.05) / 0.25) ** 2)) * (z > 0)
    head = torch.stack([0.078 * x, 0.11 * y, 0.095 * z * (1 + nose)], -1)
    return head.to(dtype), faces


def grid_plane(n: int = 1, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit square [0, 1]^2 in the z = 0 plane split into n x n quads, two triangles each,
    wound so that (v1 - v0) x (v2 - v0) points to +z."""
    s = torch.linspace(0, 1, n + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(s, s, indexing="ij")
    verts = torch.stack([xx, yy, torch.zeros_like(xx)], -1).reshape(-1, 3)
    idx = torch.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    faces = torch.cat([torch.stack([a, b, d], -1).reshape(-1, 3), torch.stack([a, d, c], -1).reshape(-1, 3)])
    return verts.to(dtype), faces
