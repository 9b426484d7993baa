"""Pure-PyTorch triangle rasteriser with pytorch3d's conventions (no compiled extension).

Conventions (guidance-maps.md §5.1), in screen coordinates (u right, v down, pixels):
* pixel (row r, col q) is sampled at its centre `(q + 0.5, r + 0.5)`;
* a pixel is covered only when its centre is strictly inside a triangle (all three
  barycentrics > 0), so centres exactly on an edge, even an edge shared by two triangles,
  are not covered; zero-area triangles are skipped; there is no back-face culling;
* the smallest screen z wins; ties (equal in float32) go to the lower triangle index;
* barycentrics are screen-space (no perspective correction).

How: every triangle's bounding box of pixel centres is tested against its three edge
functions. Triangles are grouped by bounding-box size (rounded up to a few fixed widths and
heights), so each group is one dense broadcast over (triangles, rows, cols); values are
gathered only at the cells found inside. Inside candidates are reduced per pixel with one `scatter_reduce(amin)` over a
64-bit key: the monotone bit pattern of the float32 depth in the high word, the triangle
index in the low word. The winner's barycentrics are then recomputed per covered pixel.
Edge functions are evaluated relative to each triangle's bounding-box corner, so they are
small numbers, in float32 while that is exact for corners on a 1/16-pixel grid (values below
2^15) and in float64 for larger boxes, both for the coverage test and for the barycentrics.
"""

from __future__ import annotations

import torch

from .fragments import Fragments
from .mesh import gather_rows

# Bounding-box sides a group is padded to; padding cells lie outside the triangle, so they
# cost time but never change the result.
_SIDES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536,
          2048, 3072, 4096, 6144, 8192, 12288, 16384)
_EMPTY_KEY = torch.iinfo(torch.int64).max
_FLOAT32_EXACT = 2.0 ** 15


def _triangle_setup(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> dict:
    """Per-triangle edge and depth planes in the local pixel grid of its bounding box."""
    corners = screen[:, faces].double()             # (B, F, 3 corners, 3 coords); cheap per triangle
    x = corners[..., 0] - 0.5                       # pixel centres at integer coordinates
    y = corners[..., 1] - 0.5
    z = corners[..., 2]
    x0, x1, x2 = x.unbind(-1)
    y0, y1, y2 = y.unbind(-1)
    area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)           # signed, doubled

    x_lo = x.amin(-1).ceil().clamp(min=0)
    x_hi = x.amax(-1).floor().clamp(max=width - 1)
    y_lo = y.amin(-1).ceil().clamp(min=0)
    y_hi = y.amax(-1).floor().clamp(max=height - 1)
    live = (area != 0) & torch.isfinite(area) & torch.isfinite(z).all(-1) & (x_hi >= x_lo) & (y_hi >= y_lo)

    # Edge function of corner i is E(a, b, p) over the opposite edge a -> b, with
    # (a, b) = (1, 2), (2, 0), (0, 1); E(a, b, p) = (bx-ax)(py-ay) - (by-ay)(px-ax).
    # Multiplied by sign(area) so that "inside" is all three > 0 for either winding.
    sign = area.sign().unsqueeze(-1)
    xa, ya = x.roll(-1, -1), y.roll(-1, -1)
    xb, yb = x.roll(-2, -1), y.roll(-2, -1)
    dx = (xb - xa) * sign
    dy = (yb - ya) * sign
    a_coef = -dy                                    # d E / d col
    b_coef = dx                                     # d E / d row
    x_lo_safe = torch.where(live, x_lo, torch.zeros_like(x_lo))
    y_lo_safe = torch.where(live, y_lo, torch.zeros_like(y_lo))
    c_coef = dx * (y_lo_safe.unsqueeze(-1) - ya) - dy * (x_lo_safe.unsqueeze(-1) - xa)

    # Depth at a pixel is z0 + b1 (z1 - z0) + b2 (z2 - z0) with b_i = E_i / |area|: with b1, b2 >= 0
    # and b1 + b2 <= 1 inside, it stays within the corner depths even on slivers, and is exactly
    # z0 on a constant-depth triangle (so equal-depth ties are real ties). Depths are shifted so
    # every corner is >= 1, which makes the float32 bit pattern increase with depth.
    inv_area = torch.where(live, 1.0 / area.abs(), torch.zeros_like(area))
    finite_z = torch.where(torch.isfinite(z), z, torch.full_like(z, float("inf")))
    z_shift = 1.0 - finite_z.reshape(z.shape[0], -1).amin(1).view(-1, 1, 1)
    z_shift = torch.where(torch.isfinite(z_shift), z_shift, torch.zeros_like(z_shift))
    z0 = z[..., 0] + z_shift[..., 0]
    z_weights = torch.stack([z0, (z[..., 1] - z[..., 0]) * inv_area, (z[..., 2] - z[..., 0]) * inv_area], -1)

    planes = torch.stack([  # (B, F, 4, 3): edges 0..2 as (constant, d/dcol, d/drow); corner depth weights
        torch.stack([c_coef[..., 0], a_coef[..., 0], b_coef[..., 0]], -1),
        torch.stack([c_coef[..., 1], a_coef[..., 1], b_coef[..., 1]], -1),
        torch.stack([c_coef[..., 2], a_coef[..., 2], b_coef[..., 2]], -1),
        z_weights,                                  # (z0 + shift, dz1 / |area|, dz2 / |area|)
    ], -2)
    planes = planes.double()
    nx, ny = (x_hi - x_lo + 1), (y_hi - y_lo + 1)
    # float32 edge values are exact on a 1/16-pixel grid while |values| < 2^15; larger boxes or
    # far-away corners (clipped boxes) are tested in float64 instead.
    span = (planes[..., :3, 0].abs() + planes[..., :3, 1].abs() * nx.unsqueeze(-1)
            + planes[..., :3, 2].abs() * ny.unsqueeze(-1)).amax(-1)
    wide = ~(span < _FLOAT32_EXACT)
    return dict(planes=planes.float(), planes64=planes, wide=wide, x_lo=x_lo_safe.long(), y_lo=y_lo_safe.long(),
                nx=nx.long(), ny=ny.long(), live=live)


def _nearest_keys(s: dict, batch: int, n_faces: int, height: int, width: int, max_cells: int) -> torch.Tensor:
    """(B*H*W,) int64: per pixel, min over covering triangles of (depth bits << 32 | face)."""
    device = s["planes"].device
    planes = {torch.float32: s["planes"].reshape(batch * n_faces, 4, 3),
              torch.float64: s["planes64"].reshape(batch * n_faces, 4, 3)}
    wide = s["wide"].reshape(-1).long()
    x_lo, y_lo = s["x_lo"].reshape(-1), s["y_lo"].reshape(-1)
    live = s["live"].reshape(-1)
    nx = torch.where(live, s["nx"].reshape(-1), torch.zeros_like(x_lo))
    ny = torch.where(live, s["ny"].reshape(-1), torch.zeros_like(y_lo))
    face_id = torch.arange(n_faces, device=device).repeat(batch)
    base = torch.arange(batch, device=device).repeat_interleave(n_faces) * (height * width) + y_lo * width + x_lo
    room_x = width - 1 - x_lo                        # last local column still inside the image
    room_y = height - 1 - y_lo

    sides = torch.tensor(_SIDES, device=device)
    if int(max(nx.max(), ny.max()) if nx.numel() else 0) > _SIDES[-1]:
        raise ValueError(f"image side above {_SIDES[-1]} px is not supported")
    sx = torch.searchsorted(sides, nx)
    sy = torch.searchsorted(sides, ny)
    n_sides = len(_SIDES)
    group = torch.where(live, (wide * n_sides + sx) * n_sides + sy, torch.full_like(sx, -1))
    order = torch.argsort(group)
    groups, counts = torch.unique_consecutive(group[order], return_counts=True)

    keys = torch.full((batch * height * width,), _EMPTY_KEY, dtype=torch.int64, device=device)
    start = 0
    for g, count in zip(groups.tolist(), counts.tolist()):
        members = order[start:start + count]
        start += count
        if g < 0:
            continue
        dtype = torch.float64 if g >= n_sides * n_sides else torch.float32
        kx, ky = _SIDES[g // n_sides % n_sides], _SIDES[g % n_sides]
        step = max(1, max_cells // (kx * ky))
        for i in range(0, count, step):
            _rasterize_group(members[i:i + step], kx, ky, planes[dtype], base, face_id, room_x, room_y,
                             width, keys)
    return keys


def _rasterize_group(ids, kx, ky, planes, base, face_id, room_x, room_y, width, keys) -> None:
    device = planes.device
    col = torch.arange(kx, device=device)
    row = torch.arange(ky, device=device).unsqueeze(1)
    colf, rowf = col.to(planes.dtype), row.to(planes.dtype)
    p = gather_rows(planes, ids)                      # (n, 4, 3)

    def plane(j: int) -> torch.Tensor:              # (n, ky, kx)
        q = p[:, j, :, None, None]
        return torch.addcmul(torch.addcmul(q[:, 0], q[:, 1], colf), q[:, 2], rowf)

    e0, e1, e2 = plane(0), plane(1), plane(2)
    inside = torch.minimum(torch.minimum(e0, e1), e2) > 0
    rx, ry = room_x.index_select(0, ids), room_y.index_select(0, ids)
    if bool(((rx < kx - 1) | (ry < ky - 1)).any()):   # boxes clipped by the image border
        inside &= (col <= rx[:, None, None]) & (row <= ry[:, None, None])
    flat = inside.view(-1).nonzero().squeeze(1)
    if flat.numel() == 0:
        return
    # Depth, key and pixel index over the whole box grid, then gathered at the inside cells:
    # cheaper than recovering (triangle, row, col) of each inside cell by integer division.
    zw = p[:, 3, :, None, None]
    depth = torch.addcmul(torch.addcmul(zw[:, 0], e1, zw[:, 1]), e2, zw[:, 2])
    key = (depth.float().view(torch.int32).long() << 32) + face_id.index_select(0, ids)[:, None, None]
    pixel = base.index_select(0, ids)[:, None, None] + (row * width + col)
    key = key.view(-1).index_select(0, flat)
    pixel = pixel.view(-1).index_select(0, flat)
    keys.scatter_reduce_(0, pixel, key, "amin")


def _barycentric(planes: torch.Tensor, tri: torch.Tensor, col: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """(N, 3) barycentrics at local pixel (col, row) of triangles `tri`, in the planes' dtype."""
    p = gather_rows(planes.reshape(-1, 12), tri).view(-1, 4, 3)
    c = col.to(p.dtype).unsqueeze(1)
    r = row.to(p.dtype).unsqueeze(1)
    edge = torch.addcmul(torch.addcmul(p[:, :3, 0], p[:, :3, 1], c), p[:, :3, 2], r)   # (N, 3)
    return edge / edge.sum(1, keepdim=True)                                          # sum = |doubled area|


def _winners(s: dict, keys: torch.Tensor, screen: torch.Tensor, faces: torch.Tensor, height: int, width: int):
    """Covered pixels, their triangle, barycentrics and depth, from the reduced keys."""
    pixel = (keys != _EMPTY_KEY).nonzero().squeeze(1)
    face = keys.index_select(0, pixel) & 0xFFFFFFFF
    b = torch.div(pixel, height * width, rounding_mode="floor")
    rem = pixel - b * (height * width)
    row = torch.div(rem, width, rounding_mode="floor")
    col = rem - row * width
    tri = b * faces.shape[0] + face
    c = col - s["x_lo"].reshape(-1).index_select(0, tri)
    r = row - s["y_lo"].reshape(-1).index_select(0, tri)
    bary = _barycentric(s["planes"], tri, c, r)
    wide = s["wide"].reshape(-1).index_select(0, tri).nonzero().squeeze(1)
    if wide.numel():                           # large boxes: redo those pixels in float64
        bary = bary.double()
        bary[wide] = _barycentric(s["planes64"], tri[wide], c[wide], r[wide])
    corner_ids = faces.index_select(0, face) + (b * screen.shape[1]).unsqueeze(1)
    corner_z = screen[..., 2].reshape(-1).index_select(0, corner_ids.view(-1)).view(-1, 3)
    bary = bary.to(screen.dtype)
    depth = corner_z[:, 0] + bary[:, 1] * (corner_z[:, 1] - corner_z[:, 0]) + bary[:, 2] * (corner_z[:, 2] - corner_z[:, 0])
    return pixel, face, bary, depth


def rasterize_torch(screen: torch.Tensor, faces: torch.Tensor, image_size: tuple[int, int],
                    max_cells: int = 1 << 21) -> Fragments:
    """Rasterise a batch of meshes that share one triangle list.

    screen: (B, V, 3) float, (u, v, z): pixel coordinates of the output image (pixel centres
        at q + 0.5) and a depth where smaller is nearer. faces: (F, 3) int64 vertex indices.
    max_cells bounds the (triangles x box cells) tested at once, i.e. peak memory.
    """
    height, width = image_size
    faces = faces.to(device=screen.device, dtype=torch.int64)
    if screen.shape[0] == 0 or faces.shape[0] == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=screen.device)
        return Fragments(empty, empty, screen.new_zeros(0, 3), screen.new_zeros(0), screen.shape[0],
                         (height, width))
    setup = _triangle_setup(screen, faces, height, width)
    keys = _nearest_keys(setup, screen.shape[0], faces.shape[0], height, width, max_cells)
    pixel, face, bary, depth = _winners(setup, keys, screen, faces, height, width)
    return Fragments(pixel, face, bary, depth, screen.shape[0], (height, width))
