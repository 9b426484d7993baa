"""Depth, normal and render maps against the formulas of guidance-maps.md §5.2-§5.4."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from render_exact import coverage_mask, exact_coverage

from reenact.errors import AssetError
from reenact.render import (SH_CONSTANTS, Albedo, GuidanceFrames, flame_albedo, flame_screen, render_guidance,
                            uv_grid_corners, vertex_normals)
from reenact.render.primitives import grid_plane, head_like, uv_sphere


def _rotation(ax: float, ay: float) -> torch.Tensor:
    cx, sx, cy, sy = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay)
    rx = torch.tensor([[1, 0, 0], [0, cx, -sx], [0, sx, cx]], dtype=torch.float64)
    ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=torch.float64)
    return ry @ rx


def _orthographic(world: torch.Tensor, k: float, cu: float, cv: float) -> torch.Tensor:
    """Screen (u, v, z) of y-up world points: u = cu + kX, v = cv - kY, z = -kZ."""
    return torch.stack([cu + k * world[..., 0], cv - k * world[..., 1], -k * world[..., 2]], -1)


def _pixel_centres(size: int):
    r, q = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    return q + 0.5, r + 0.5


class TestTiltedPlane:
    size, k, cu, cv = 96, 60.0, 48.0, 50.0
    rot = _rotation(-0.5, -0.7)

    def world(self, n=4):
        verts, faces = grid_plane(n, torch.float64)
        return ((verts - torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)) @ self.rot.T), faces

    def render(self, n=4, light=None, albedo=None, uv=None):
        world, faces = self.world(n)
        screen = _orthographic(world, self.k, self.cu, self.cv)
        return render_guidance(screen[None].float(), world[None].float(), faces, image_size=self.size,
                               light=light, albedo=albedo, uv_corners=uv), world

    def test_coverage_is_the_exact_strict_inside_set(self):
        world, faces = self.world(1)
        screen = _orthographic(world, self.k, self.cu, self.cv).float()
        frames, _ = self.render(1)
        exact = exact_coverage([screen[f].tolist() for f in faces], self.size, self.size)
        np.testing.assert_array_equal(frames.mask[0].numpy(), coverage_mask(exact, self.size, self.size))

    def test_depth_is_min_max_normalised_view_z_interpolated(self):
        frames, world = self.render()
        n = self.rot[:, 2]
        u, v = _pixel_centres(self.size)
        x, y = (u - self.cu) / self.k, (self.cv - v) / self.k
        z = -(n[0] * x + n[1] * y) / n[2]                          # the plane through the origin
        z_min, z_max = world[:, 2].min(), world[:, 2].max()
        expected = (z - z_min) / (z_max - z_min)
        m = frames.mask[0]
        assert m.sum() > 2000
        torch.testing.assert_close(frames.depth[0][m].double(), expected[m], rtol=0, atol=2e-6)
        assert (frames.depth[0][~m] == 0).all()

    def test_normals_are_the_plane_normal_and_colours_clip_negatives(self):
        frames, _ = self.render()
        n = self.rot[:, 2].float()
        m = frames.mask[0]
        torch.testing.assert_close(frames.normal[0][m], n.expand(int(m.sum()), 3), rtol=0, atol=1e-6)
        assert (frames.normal[0][~m] == 0).all()
        colours = frames.to_uint8()["normal"][0]
        expected = np.floor(np.clip(n.numpy(), 0, 1) * 255 + 0.5).astype(np.uint8)
        assert n[0] < 0 < n[1] and n[2] > 0                       # faces image-left and up: R clipped to 0
        np.testing.assert_array_equal(colours[m.numpy()], np.broadcast_to(expected, (int(m.sum()), 3)))
        assert (colours[~m.numpy()] == 0).all()

    @pytest.mark.parametrize("band", range(9))
    def test_render_is_albedo_times_each_sh_band(self, band):
        light = torch.zeros(9, 3)
        light[band] = torch.tensor([1.0, 2.0, -0.5])
        albedo = Albedo.constant_colour((0.8, 0.5, 0.25))
        frames, _ = self.render(light=light, albedo=albedo)
        x, y, z = self.rot[:, 2].tolist()
        basis = [1, x, y, z, x * y, x * z, y * z, x * x - y * y, 3 * z * z - 1][band]
        expected = torch.tensor([0.8, 0.5, 0.25]) * SH_CONSTANTS[band] * basis * light[band]
        m = frames.mask[0]
        torch.testing.assert_close(frames.render[0][m], expected.expand(int(m.sum()), 3), rtol=1e-5, atol=1e-6)
        assert (frames.render[0][~m] == 0).all()

    def test_texture_is_sampled_bilinearly_at_interpolated_uvs(self):
        world, faces = self.world(4)
        verts, _ = grid_plane(4, torch.float64)
        uv = uv_grid_corners(verts[:, :2].numpy(), faces.numpy())      # u = plane x, v = plane y
        texture = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
        light = torch.zeros(9, 3)
        light[0] = 1 / SH_CONSTANTS[0]                                 # shading exactly 1
        frames, _ = self.render(light=light, albedo=Albedo(texture, (0, 0, 0), "test"), uv=uv)
        # Plane coordinates of each pixel centre, hence its UV and grid position.
        u, v = _pixel_centres(self.size)
        x, y = (u - self.cu) / self.k, (self.cv - v) / self.k
        n = self.rot[:, 2]
        pts = torch.stack([x, y, -(n[0] * x + n[1] * y) / n[2]], -1) @ self.rot      # back to plane axes
        grid = torch.stack([pts[..., 0] + 0.5, pts[..., 1] + 0.5], -1)
        grid = torch.stack([grid[..., 0] * 2 - 1, 1 - grid[..., 1] * 2], -1)
        expected = F.grid_sample(texture[None].double(), grid[None], align_corners=False)[0].permute(1, 2, 0)
        m = frames.mask[0]
        torch.testing.assert_close(frames.render[0][m].double(), expected[m], rtol=0, atol=2e-5)


@pytest.fixture(scope="module")
def sphere_frames():
    verts, faces = uv_sphere(48, 64)
    return render_guidance(_orthographic(verts, TestSphere.k, TestSphere.c, TestSphere.c)[None], verts[None], faces,
                           image_size=TestSphere.size)


class TestSphere:
    size, k, c = 160, 70.0, 80.0

    @pytest.fixture
    def frames(self, sphere_frames):
        return sphere_frames

    def _rho(self):
        u, v = _pixel_centres(self.size)
        return (u - self.c) / self.k, (self.c - v) / self.k

    def test_coverage_is_the_disc(self, frames):
        x, y = self._rho()
        rho = torch.sqrt(x * x + y * y)
        inscribed = math.cos(math.pi / 48) * math.cos(math.pi / 64)
        m = frames.mask[0]
        assert m[rho < inscribed - 0.01].all()
        assert not m[rho > 1].any()

    def test_depth_and_normals_match_the_analytic_sphere(self, frames):
        x, y = self._rho()
        rho2 = x * x + y * y
        inner = (rho2 < 0.9 ** 2) & frames.mask[0]
        z = torch.sqrt(torch.clamp(1 - rho2, min=0))
        # Vertex z spans exactly [-1, 1], so depth = (Z + 1) / 2.
        torch.testing.assert_close(frames.depth[0][inner].double(), ((z + 1) / 2)[inner], rtol=0, atol=4e-3)
        analytic = torch.stack([x, y, z], -1)[inner]
        err = (frames.normal[0][inner].double() - analytic).norm(dim=-1)
        assert err.max() < 0.02
        length = frames.normal[0][frames.mask[0]].norm(dim=-1)
        assert length.max() <= 1 + 1e-6 and length.min() < 0.999       # interpolated, not re-normalised

    def test_normal_colours_keep_only_positive_components(self, frames):
        x, y = self._rho()
        img = frames.to_uint8()["normal"][0]
        m = frames.mask[0].numpy()
        left, below = (x < -0.02).numpy() & m, (y < -0.02).numpy() & m
        assert (img[left, 0] == 0).all() and (img[~left & m & (x > 0.05).numpy(), 0] > 0).all()
        assert (img[below, 1] == 0).all() and (img[m & (y > 0.05).numpy(), 1] > 0).all()
        assert (img[m, 2] > 0).all()


def test_depth_range_covers_all_vertices_and_is_per_sample():
    verts, faces = uv_sphere(12, 16)
    screen = _orthographic(verts, 20.0, 32.0, 32.0)
    alone = render_guidance(screen[None], verts[None], faces, image_size=64)
    # An extra vertex far behind, on no triangle, widens the range: visible depths rise toward 1.
    far = torch.cat([verts, torch.tensor([[0.0, 0.0, -3.0]])])
    with_far = render_guidance(_orthographic(far, 20.0, 32.0, 32.0)[None], far[None], faces, image_size=64)
    m = alone.mask[0]
    torch.testing.assert_close(with_far.depth[0][m], (alone.depth[0][m] * 2 + 2) / 4, rtol=0, atol=1e-6)
    both = render_guidance(torch.stack([screen, _orthographic(far, 20.0, 32.0, 32.0)[:-1]]),
                           torch.stack([verts, far[:-1] * 2]), faces, image_size=64)
    torch.testing.assert_close(both.depth[0], alone.depth[0])
    torch.testing.assert_close(both.depth[1], alone.depth[0])        # scaling z keeps min-max depth


def test_batched_maps_equal_per_frame_maps():
    verts, faces = head_like(31, 36)
    screens, views = [], []
    for i in range(3):
        rot = _rotation(0.2 * i - 0.2, 0.4 - 0.3 * i).float()
        world = verts @ rot.T
        views.append(world)
        screens.append(_orthographic(world, 600.0 + 50 * i, 60.0 + 3 * i, 70.0))
    light = torch.randn(3, 9, 3, generator=torch.Generator().manual_seed(1))
    batch = render_guidance(torch.stack(screens), torch.stack(views), faces, image_size=128, light=light)
    for i in range(3):
        one = render_guidance(screens[i][None], views[i][None], faces, image_size=128, light=light[i])
        assert torch.equal(batch.mask[i], one.mask[0])
        for name in ("depth", "normal", "render"):
            torch.testing.assert_close(getattr(batch, name)[i], getattr(one, name)[0], rtol=0, atol=1e-6)


def test_vertex_normals_are_area_weighted_face_sums():
    # A tent: two triangles sharing edge (0, 1), one twice the other's area.
    v = torch.tensor([[[0.0, 0, 0], [0, 1, 0], [1, 0, 1], [-2, 0, 2]]])
    f = torch.tensor([[0, 1, 2], [0, 3, 1]])
    n = vertex_normals(v, f)[0]
    fa = torch.linalg.cross(v[0, 1] - v[0, 0], v[0, 2] - v[0, 0])
    fb = torch.linalg.cross(v[0, 3] - v[0, 0], v[0, 1] - v[0, 0])
    torch.testing.assert_close(n[0], F.normalize(fa + fb, dim=0))
    torch.testing.assert_close(n[2], F.normalize(fa, dim=0))
    torch.testing.assert_close(n[3], F.normalize(fb, dim=0))


def test_sh_constants_are_the_documented_values():
    assert SH_CONSTANTS == pytest.approx([0.2820948, *[1.0233267] * 3, *[0.8580855] * 3, 0.4290428, 0.2477080], abs=5e-8)


def test_uint8_conversion_follows_save_image():
    values = torch.tensor([-0.3, 0.0, 0.5 / 255, 0.4999 / 255, 0.5, 0.998, 1.0, 7.0, float("nan")])
    frames = GuidanceFrames.from_dense(depth=values.view(1, 1, -1), normal=values.view(1, 1, -1, 1).expand(1, 1, 9, 3),
                                       render=torch.zeros(1, 1, 9, 3), mask=torch.ones(1, 1, 9, dtype=torch.bool))
    out = frames.to_uint8()
    expected = [0, 0, 1, 0, 128, 254, 255, 255, 0]
    assert out["depth"].shape == (1, 1, 9, 3) and out["depth"].dtype == np.uint8
    assert out["depth"][0, 0, :, 0].tolist() == expected
    assert (out["depth"][..., 0] == out["depth"][..., 2]).all()
    assert out["normal"][0, 0, :, 1].tolist() == expected
    torch.testing.assert_close(frames.depth, values.view(1, 1, -1), equal_nan=True)


def test_official_projection_chain():
    # Source crop box from §1.2: centre (cx, cy), side S; T maps it onto the 224 crop (with 223).
    cx, cy, s_box = 250.0, 270.0, 300
    a = 223 / s_box
    crop = torch.tensor([[[a, 0, -a * (cx - s_box / 2)], [0, a, -a * (cy - s_box / 2)]]], dtype=torch.float64)
    cam = torch.tensor([[8.0, 0.01, -0.02]])
    verts = torch.tensor([[[0.03, 0.05, 0.04], [-0.07, -0.01, 0.09]]])
    screen = flame_screen(verts, cam, crop).double()
    s, tx, ty = cam[0].double()
    X, Y, Z = verts[0].double().unbind(-1)
    u_c, v_c = (s * (X + tx) + 1) * 112, (-s * (Y + ty) + 1) * 112
    torch.testing.assert_close(screen[0, :, 0], u_c * s_box / 223 + cx - s_box / 2, rtol=0, atol=1e-4)
    torch.testing.assert_close(screen[0, :, 1], v_c * s_box / 223 + cy - s_box / 2, rtol=0, atol=1e-4)
    torch.testing.assert_close(screen[0, :, 2], -s * Z, rtol=0, atol=1e-6)      # z_c, not rescaled


def _write_texture_space(path, side=8, k=60, seed=0):
    rng = np.random.default_rng(seed)
    mean = rng.uniform(0, 255, (side, side, 3))
    tex_dir = rng.normal(0, 20, (side, side, 3, k))
    np.savez(path, mean=mean, tex_dir=tex_dir, vt=np.zeros((4, 2)), ft=np.zeros((2, 3), np.int64))
    return mean, tex_dir


def test_flame_texture_albedo_follows_the_official_recipe(tmp_path):
    mean, tex_dir = _write_texture_space(tmp_path / "FLAME_texture.npz")
    code = np.linspace(-1, 1, 50)
    albedo = flame_albedo(tmp_path / "FLAME_texture.npz", code, size=4)
    # (mean + tex_dir[..., :50] @ code) / 255, nearest 8 -> 4 (rows/cols 0, 2, 4, 6), BGR -> RGB.
    full = (mean + tex_dir[..., :50] @ code) / 255
    expected = full[::2, ::2, ::-1].transpose(2, 0, 1)
    np.testing.assert_allclose(albedo.texture.numpy(), expected, rtol=0, atol=1e-5)
    assert albedo.texture.shape == (3, 4, 4)
    assert "flame_texture" in albedo.source


def test_flame_texture_errors_are_asset_errors(tmp_path):
    with pytest.raises(AssetError, match="not found"):
        flame_albedo(tmp_path / "missing.npz", np.zeros(50))
    np.savez(tmp_path / "bad.npz", mean=np.zeros((4, 4, 3)), tex_dir=np.zeros((4, 4, 3, 10)))
    with pytest.raises(AssetError, match="tex_dir"):
        flame_albedo(tmp_path / "bad.npz", np.zeros(50))
