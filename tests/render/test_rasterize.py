"""The torch rasteriser against exact rational arithmetic of the docs' conventions (§5.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from render_exact import coverage_mask, exact_coverage

from reenact.errors import InputError, NotAvailableError
from reenact.render.rasterizer import available_backends, rasterize
from reenact.render.primitives import head_like


def _run(triangles, height, width, dtype=torch.float32):
    screen = torch.tensor(np.asarray(triangles, dtype=np.float64).reshape(-1, 3), dtype=dtype)[None]
    faces = torch.arange(len(screen[0])).reshape(-1, 3)
    return rasterize(screen, faces, (height, width))


def _assert_matches_exact(frags, triangles, height, width):
    exact = exact_coverage(triangles, height, width)
    np.testing.assert_array_equal(frags.mask[0].numpy(), coverage_mask(exact, height, width))
    face = frags.face_index[0]
    bary = frags.barycentric[0].double()
    zbuf = frags.zbuf[0].double()
    for (r, q), (i, w, z) in exact.items():
        assert face[r, q] == i
        np.testing.assert_allclose(bary[r, q].numpy(), [float(x) for x in w], rtol=0, atol=1e-6)
        assert abs(zbuf[r, q].item() - float(z)) < 1e-5


# Corners on a 1/4-pixel grid; the first two have edges running exactly through pixel centres.
TRIANGLES = {
    "edges_through_centres": [[(0.5, 0.5, 1.0), (9.5, 0.5, 2.0), (0.5, 9.5, 3.0)]],
    "half_pixel_offsets": [[(1.0, 1.0, 0.0), (11.0, 3.0, 1.0), (4.0, 12.0, -1.0)]],
    "thin_sliver": [[(0.25, 2.5, 0.0), (13.75, 3.5, 0.0), (0.25, 3.0, 0.0)]],
    "quarter_grid": [[(2.25, 0.75, 5.0), (13.5, 7.25, 1.0), (3.75, 13.5, 2.5)]],
}


@pytest.mark.parametrize("name", sorted(TRIANGLES))
@pytest.mark.parametrize("reverse", [False, True])
def test_single_triangle_covers_exactly_the_centres_strictly_inside(name, reverse):
    tris = [tri[::-1] if reverse else tri for tri in TRIANGLES[name]]
    _assert_matches_exact(_run(tris, 14, 15), tris, 14, 15)


def test_pixel_centre_is_at_q_plus_half():
    # A small triangle around (5.5, 3.5) covers exactly pixel row 3, col 5.
    frags = _run([[(5.3, 3.3, 0.0), (5.8, 3.4, 0.0), (5.5, 3.8, 0.0)]], 8, 8)
    assert frags.mask[0].nonzero().tolist() == [[3, 5]]
    # The same triangle around integer coordinates (5, 3) covers nothing.
    frags = _run([[(4.8, 2.8, 0.0), (5.3, 2.9, 0.0), (5.0, 3.3, 0.0)]], 8, 8)
    assert not frags.mask.any()


def test_centres_on_a_shared_edge_belong_to_neither_triangle():
    # A square split along its diagonal, which passes through the centres (q + .5, q + .5).
    quad = [(0.5, 0.5, 0.0), (8.5, 0.5, 0.0), (8.5, 8.5, 0.0), (0.5, 8.5, 0.0)]
    tris = [[quad[0], quad[1], quad[2]], [quad[0], quad[2], quad[3]]]
    frags = _run(tris, 10, 10)
    mask = frags.mask[0].numpy()
    for q in range(10):
        assert not mask[q, q]
    _assert_matches_exact(frags, tris, 10, 10)
    inside = np.zeros((10, 10), bool)
    inside[1:8, 1:8] = True
    np.fill_diagonal(inside, False)
    np.testing.assert_array_equal(mask, inside)


def test_nearest_surface_wins_and_exact_ties_go_to_the_lower_index():
    near = [(0.0, 0.0, 1.0), (12.0, 0.0, 1.0), (0.0, 12.0, 1.0)]
    far = [(2.0, 2.0, 3.0), (12.0, 2.0, 3.0), (2.0, 12.0, 3.0)]
    for order in ([far, near], [near, far]):
        frags = _run(order, 12, 12)
        _assert_matches_exact(frags, order, 12, 12)
        assert (frags.face_index[0][3, 3] == order.index(near))
    tied = [far, [(2.0, 2.0, 3.0), (2.0, 12.0, 3.0), (12.0, 2.0, 3.0)]]
    frags = _run(tied, 12, 12)
    assert frags.face_index[0][frags.mask[0]].eq(0).all()


def test_intersecting_triangles_switch_at_the_crossing():
    a = [(0.0, 0.0, 0.0), (16.0, 0.0, 16.0), (0.0, 16.0, 0.0)]       # z = u
    b = [(0.0, 0.0, 8.0), (16.0, 0.0, 8.0), (0.0, 16.0, 8.0)]        # z = 8
    _assert_matches_exact(_run([a, b], 16, 16), [a, b], 16, 16)


def test_zero_area_and_non_finite_triangles_are_skipped():
    tris = [[(1.0, 1.0, 0.0), (5.0, 5.0, 0.0), (9.0, 9.0, 0.0)],          # collinear
            [(1.0, 1.0, 0.0), (1.0, 1.0, 0.0), (9.0, 2.0, 0.0)],          # repeated corner
            [(1.0, 1.0, 0.0), (9.0, 1.0, float("nan")), (1.0, 9.0, 0.0)]]
    assert not _run(tris, 10, 10).mask.any()


def test_triangles_crossing_the_image_border_are_clipped():
    tris = [[(-6.0, -3.0, 0.0), (20.0, 2.0, 1.0), (3.0, 25.0, 2.0)]]
    _assert_matches_exact(_run(tris, 11, 13), tris, 11, 13)


def test_far_away_corners_keep_exact_edges():
    # Two triangles sharing an edge through the centres (1.5 + 2m, 0.5 + m), with corners
    # hundreds of thousands of pixels away: edge functions are ~1e11 here, beyond float32's
    # exact range, and a rounding error would hand those centres to one of the triangles.
    k = 300007.0
    a, b = (1.5 - 2 * k, 0.5 - k, 0.0), (1.5 + 2 * k, 0.5 + k, 0.0)
    tris = [[a, b, (-3 * k, 5 * k, 1.0)], [b, a, (3 * k, -5 * k, 1.0)]]
    frags = _run(tris, 12, 12)
    _assert_matches_exact(frags, tris, 12, 12)
    on_edge = {(m, 1 + 2 * m) for m in range(6)}
    mask = frags.mask[0].numpy()
    assert all(not mask[r, q] for r, q in on_edge)
    assert mask.sum() == 144 - len(on_edge)


def test_large_triangles_use_exact_edges_too():
    tri = [[(0.5, 0.25, 0.0), (511.75, 300.5, 1.0), (20.25, 511.5, 2.0)]]
    frags = _run(tri, 512, 512)
    # Check the exact rule on the pixels along the three edges, where rounding would show.
    v = np.asarray(tri[0])[:, :2]
    mask = frags.mask[0].numpy()
    from fractions import Fraction
    for r in range(0, 512, 31):
        for q in range(512):
            p = (Fraction(2 * q + 1, 2), Fraction(2 * r + 1, 2))
            e = []
            for a, b in ((1, 2), (2, 0), (0, 1)):
                ax, ay, bx, by = (Fraction(float(t)) for t in (*v[a], *v[b]))
                e.append((bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax))
            inside = all(x > 0 for x in e) or all(x < 0 for x in e)
            assert mask[r, q] == inside, (r, q)


def test_non_square_images_keep_rows_and_columns_apart():
    tris = [[(0.5, 0.5, 0.0), (20.0, 1.0, 0.0), (1.0, 6.0, 0.0)]]
    frags = _run(tris, 7, 21)
    assert frags.mask.shape == (1, 7, 21)
    _assert_matches_exact(frags, tris, 7, 21)


def test_a_screen_filling_quad_covers_every_pixel_off_its_diagonal():
    # The diagonal u = v runs through all 64 centres (q + .5, q + .5): strictly inside neither.
    tris = [[(0.0, 0.0, 0.0), (64.0, 0.0, 0.0), (64.0, 64.0, 0.0)], [(0.0, 0.0, 0.0), (64.0, 64.0, 0.0), (0.0, 64.0, 0.0)]]
    frags = _run(tris, 64, 64)
    assert frags.mask.sum().item() == 64 * 64 - 64
    assert not frags.mask[0].diagonal().any()
    # v = 63u/64 never meets a centre (odd * 63 != even): every pixel of the 63 rows is covered.
    tris = [[(0.0, 0.0, 0.0), (64.0, 0.0, 0.0), (64.0, 63.0, 0.0)], [(0.0, 0.0, 0.0), (64.0, 63.0, 0.0), (0.0, 63.0, 0.0)]]
    assert _run(tris, 64, 64).mask.sum().item() == 63 * 64


def test_float64_input_gives_the_same_fragments():
    tris = TRIANGLES["quarter_grid"] + TRIANGLES["half_pixel_offsets"]
    a, b = _run(tris, 14, 15, torch.float32), _run(tris, 14, 15, torch.float64)
    assert torch.equal(a.pixel, b.pixel) and torch.equal(a.face, b.face)
    torch.testing.assert_close(a.bary.double(), b.bary, rtol=0, atol=1e-6)


def _random_head_batch(n: int, seed: int = 0):
    verts, faces = head_like(21, 24)
    g = torch.Generator().manual_seed(seed)
    screens = []
    for _ in range(n):
        angle = (torch.rand(1, generator=g) - 0.5) * 1.2
        c, s = torch.cos(angle), torch.sin(angle)
        x = c * verts[:, 0] + s * verts[:, 2]
        z = -s * verts[:, 0] + c * verts[:, 2]
        scale = 300 + 100 * torch.rand(1, generator=g)
        offset = 40 + 30 * torch.rand(2, generator=g)
        screens.append(torch.stack([offset[0] + scale * (x + 0.1), offset[1] + scale * (0.12 - verts[:, 1]), -scale * z], -1))
    return torch.stack(screens), faces


def test_batched_output_equals_per_frame_output():
    screen, faces = _random_head_batch(4)
    batch = rasterize(screen, faces, (96, 80))
    for b in range(4):
        single = rasterize(screen[b:b + 1], faces, (96, 80))
        part = batch.frame(b)
        assert torch.equal(single.pixel, part.pixel)
        assert torch.equal(single.face, part.face)
        assert torch.equal(single.bary, part.bary)
        assert torch.equal(single.depth, part.depth)


def test_small_memory_chunks_change_nothing():
    from reenact.render.rasterize_torch import rasterize_torch

    screen, faces = _random_head_batch(2, seed=3)
    a = rasterize_torch(screen, faces, (96, 80))
    b = rasterize_torch(screen, faces, (96, 80), max_cells=64)
    assert torch.equal(a.pixel, b.pixel) and torch.equal(a.face, b.face) and torch.equal(a.bary, b.bary)


def test_closed_mesh_shows_only_front_surfaces():
    screen, faces = _random_head_batch(1, seed=5)
    frags = rasterize(screen, faces, (96, 80))
    corners = screen[0][faces[frags.face]]
    normal_z = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])[:, 2]
    # Outward faces seen from the viewer wind clockwise on screen (v down, z away): normal_z < 0.
    assert (normal_z < 0).float().mean() > 0.995


def test_bad_inputs_raise_clear_errors():
    screen = torch.zeros(1, 3, 3)
    with pytest.raises(InputError, match="outside"):
        rasterize(screen, torch.tensor([[0, 1, 3]]), 8)
    with pytest.raises(InputError, match="unknown rasteriser"):
        rasterize(screen, torch.tensor([[0, 1, 2]]), 8, backend="opengl")
    if "pytorch3d" not in available_backends():
        with pytest.raises(NotAvailableError, match="pytorch3d"):
            rasterize(screen, torch.tensor([[0, 1, 2]]), 8, backend="pytorch3d")


@pytest.mark.skipif("pytorch3d" not in available_backends(), reason="pytorch3d is not installed")
def test_pytorch3d_backend_agrees_with_torch_backend():
    screen, faces = _random_head_batch(3, seed=7)
    ours = rasterize(screen, faces, (96, 80), backend="torch")
    theirs = rasterize(screen, faces, (96, 80), backend="pytorch3d")
    same_cover = (ours.mask == theirs.mask).float().mean().item()
    assert same_cover > 0.998                      # single-pixel silhouette/tie differences allowed
    both = ours.mask & theirs.mask
    agree = (ours.face_index[both] == theirs.face_index[both]).float().mean().item()
    assert agree > 0.995
    same = both & (ours.face_index == theirs.face_index)
    torch.testing.assert_close(ours.barycentric[same], theirs.barycentric[same], rtol=0, atol=1e-4)
