"""Tracks -> aligned heads -> guidance maps, with the toy FLAME model and a dome face mesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation
from toy_heads import dome_face, flame_track, mesh_track, random_flame_track

from reenact.geometry import AlignOptions, FlameTopology, align, flame_guidance, guidance_from_tracks
from reenact.geometry.face_mesh import N_MESH_POINTS, mediapipe_triangles
from reenact.render import flame_screen, rasterize, read_guidance, render_guidance, write_guidance

SIZE = 128                         # small canvases keep the suite fast; the chain is size-independent


def _scaled_crop(crop: np.ndarray) -> np.ndarray:
    """A 512-frame crop transform re-expressed for a SIZE-px frame (so the head fills the canvas)."""
    return crop @ np.diag([512 / SIZE, 512 / SIZE, 1.0])


def _tracks(toy_flame, n=3, seed=0):
    source = random_flame_track(1, seed=seed + 1, model=toy_flame)
    driving = random_flame_track(n, seed=seed + 2, model=toy_flame)
    for track in (source, driving):
        track.crop_transforms = np.stack([_scaled_crop(c) for c in track.crop_transforms])
    return source, driving


def _render_direct(toy_flame, shape, expression, pose, cam, crop, light=None):
    """The toy head posed with the given parameters and viewed through the given camera."""
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
    verts = toy_flame(t(shape)[None], t(expression)[None], t(pose)[None])
    screen = flame_screen(verts, t(cam)[None], torch.as_tensor(crop)[None])
    return render_guidance(screen, verts, toy_flame.faces, image_size=SIZE,
                           light=None if light is None else t(light))


def _frames(aligned, toy_flame, **kw):
    batches = list(flame_guidance(aligned, toy_flame, FlameTopology(toy_flame.faces), size=SIZE, batch_size=2, **kw))
    return {k: torch.cat([getattr(b, k) for b in batches]) for k in ("depth", "normal", "render", "mask")}


def test_absolute_mode_renders_the_source_head_under_the_driving_motion(toy_flame):
    source, driving = _tracks(toy_flame)
    maps = _frames(align(source, driving, AlignOptions(mode="absolute")), toy_flame)
    p, d = source.params, driving.params
    for t in range(3):
        pose = np.zeros(15)
        pose[0:3], pose[6:9] = d["global_rot"][t], d["jaw"][t]
        expected = _render_direct(toy_flame, p["shape"], d["expression"][t], pose, p["cam"][0],
                                  source.crop_transforms[0], p["light"][0] if p["light"].ndim == 3 else p["light"])
        assert torch.equal(maps["mask"][t], expected.mask[0])
        for name in ("depth", "normal", "render"):
            torch.testing.assert_close(maps[name][t], getattr(expected, name)[0], rtol=0, atol=1e-5)
        # ... which is not the driving's own head where the driving's camera puts it.
        own = _render_direct(toy_flame, d["shape"], d["expression"][t], pose, d["cam"][t], driving.crop_transforms[t])
        assert (own.mask[0] ^ maps["mask"][t]).sum() > 200


def test_relative_mode_moves_the_source_head_with_the_driving_change(toy_flame):
    source, driving = _tracks(toy_flame, n=4, seed=10)
    p, d = source.params, driving.params
    # Source starts in the driving's reference pose, with its own shape, expression and camera;
    # the driving camera and crop stay still, so only rotations and expressions move.
    d["global_rot"][:] = np.array([[0.0, 0.0, 0.0], [0.1, 0.3, 0.0], [-0.1, -0.2, 0.05], [0.2, 0.1, -0.1]])
    d["neck"][:], d["eyes"][:] = 0, 0
    d["cam"][:] = d["cam"][0]
    driving.crop_transforms[:] = driving.crop_transforms[0]
    p["global_rot"][0], p["neck"][0], p["eyes"][0] = d["global_rot"][0], 0, 0
    # frame 0 the reference, of the expression and of the turn (auto: the turn from the shot's rest)
    maps = _frames(align(source, driving, AlignOptions(mode="relative", reference="frame")), toy_flame)
    from scipy.spatial.transform import Rotation

    for t in range(4):
        jaw = (Rotation.from_rotvec(d["jaw"][t]) * Rotation.from_rotvec(d["jaw"][0]).inv()
               * Rotation.from_rotvec(p["jaw"][0])).as_rotvec()
        pose = np.r_[d["global_rot"][t], 0, 0, 0, jaw, np.zeros(6)]
        expression = p["expression"][0] + d["expression"][t] - d["expression"][0]
        expected = _render_direct(toy_flame, p["shape"], expression, pose, p["cam"][0], source.crop_transforms[0],
                                  p["light"])
        assert (expected.mask[0] ^ maps["mask"][t]).sum() <= 3          # float32 rounding on silhouettes
        both = expected.mask[0] & maps["mask"][t]
        torch.testing.assert_close(maps["depth"][t][both], expected.depth[0][both], rtol=0, atol=2e-4)


def test_expression_change_alters_only_the_face_region(toy_flame):
    source, driving = _tracks(toy_flame, n=2, seed=20)
    # Near-frontal poses keep the nose tip the nearest vertex. (Depth is normalised over the
    # whole head, so an expression that moved the nearest or farthest vertex would, by the
    # spec, shift the depth of every pixel; that case is not what this test is about.)
    driving.params["global_rot"][:] = [[0.05, -0.1, 0.0], [-0.05, 0.1, 0.02]]
    driving.params["expression"] *= 0.3
    other = random_flame_track(2, seed=99, model=toy_flame)
    second = flame_track(0.3 * other.params["expression"], driving.params["jaw"], driving.params["global_rot"],
                         driving.params["cam"], driving.crop_transforms, driving.params["shape"])
    options = AlignOptions(mode="absolute")
    a, b = align(source, driving, options), align(source, second, options)
    maps_a, maps_b = _frames(a, toy_flame), _frames(b, toy_flame)
    # Expressions move face-region vertices; vertex normals also change one ring further out.
    faces = toy_flame.faces
    moved = torch.zeros(len(toy_flame.template), dtype=torch.bool)
    moved[faces[toy_flame.face_mask[faces].any(1)].reshape(-1)] = True
    face_tris = faces[moved[faces].any(1)]
    for t in range(2):
        region = np.zeros((SIZE, SIZE), bool)
        z_ranges = []
        for aligned in (a, b):
            verts = toy_flame(torch.as_tensor(aligned.shape, dtype=torch.float32)[None],
                              torch.as_tensor(aligned.expression[t:t + 1], dtype=torch.float32),
                              torch.as_tensor(aligned.pose[t:t + 1], dtype=torch.float32))
            z_ranges.append((verts[0, :, 2].min().item(), verts[0, :, 2].max().item()))
            screen = flame_screen(verts, torch.as_tensor(aligned.cam[t:t + 1], dtype=torch.float32),
                                  torch.as_tensor(aligned.crop_transform[t:t + 1]))
            region |= rasterize(screen, face_tris, SIZE).mask[0].numpy()
        assert z_ranges[0] == z_ranges[1]
        region = binary_dilation(region, iterations=1)
        changed = np.zeros((SIZE, SIZE), bool)
        for name in ("depth", "normal", "render"):
            diff = (maps_a[name][t] - maps_b[name][t]).abs()
            changed |= (diff.reshape(SIZE, SIZE, -1).amax(-1) > 1e-6).numpy()
        assert changed.sum() > 50                       # the expressions really differ ...
        assert not (changed & ~region).any()            # ... and only inside the face region
        assert (maps_a["mask"][t].numpy() & ~region).sum() > 150       # the rest of the head is there, unchanged


def test_guidance_from_tracks_writes_a_complete_folder(tmp_path, toy_flame):
    source, driving = _tracks(toy_flame, n=3, seed=30)
    n, batches = guidance_from_tracks(source, driving, flame=toy_flame, topology=FlameTopology(toy_flame.faces),
                                      size=SIZE, batch_size=2)
    assert n == 3
    write_guidance(tmp_path / "out", batches, total=n, meta={"source": "s.jpg"})
    maps, meta = read_guidance(tmp_path / "out")
    assert maps["depth"].shape == (3, SIZE, SIZE, 3)
    assert meta["geometry"] == "flame" and meta["alignment"] == "absolute" and meta["light"] == "given"
    assert meta["albedo"].startswith("constant") and meta["source"] == "s.jpg"


def test_flame_texture_is_used_when_available(tmp_path, toy_flame):
    source, driving = _tracks(toy_flame, n=1, seed=40)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "FLAME_texture.npz", mean=rng.uniform(0, 255, (16, 16, 3)),
             tex_dir=rng.normal(0, 5, (16, 16, 3, 50)))
    verts = toy_flame.template.numpy()
    uv = np.c_[np.arctan2(verts[:, 0], verts[:, 2]) / (2 * np.pi) + 0.5, verts[:, 1] / 0.25 + 0.5]
    from reenact.render import uv_grid_corners

    topology = FlameTopology(toy_flame.faces, uv_grid_corners(uv, toy_flame.faces.numpy()))
    n, batches = guidance_from_tracks(source, driving, flame=toy_flame, topology=topology, size=SIZE,
                                      texture_path=tmp_path / "FLAME_texture.npz")
    textured = next(iter(batches))
    assert textured.meta["albedo"].startswith("flame_texture")
    _, batches = guidance_from_tracks(source, driving, flame=toy_flame, topology=topology, size=SIZE)
    plain = next(iter(batches))
    assert plain.meta["albedo"].startswith("constant")
    m = plain.mask[0]
    assert torch.equal(textured.mask, plain.mask)
    assert (textured.render[0][m] - plain.render[0][m]).abs().mean() > 0.05


def test_config_settings_reach_the_maps(tmp_path, toy_flame):
    import dataclasses

    from reenact.config import load_config
    from reenact.geometry import GuidanceRenderer

    source, driving = _tracks(toy_flame, n=2, seed=50)
    cfg = load_config(overrides=[f"render.size={SIZE}", "render.batch_size=1", "align.mode=relative",
                                 "render.constant_albedo=[0.5,0.5,0.5]",
                                 f"render.head_template={tmp_path / 'missing.obj'}",
                                 f"render.flame_texture={tmp_path / 'missing.npz'}"])
    # the user's FLAME stands in as the toy head: the renderer is the config's otherwise
    renderer = dataclasses.replace(GuidanceRenderer.from_config(cfg, "mesh"), flame=toy_flame,
                                   topology=FlameTopology(toy_flame.faces))
    aligned = align(source, driving, AlignOptions.from_config(cfg.align))
    n, batches = renderer.batches(source, aligned)
    batches = list(batches)
    assert n == 2 and [len(b) for b in batches] == [1, 1]
    assert batches[0].image_size == (SIZE, SIZE)
    assert batches[0].meta["alignment"] == "relative" and batches[0].meta["albedo"] == "constant 0.5,0.5,0.5"


def test_mediapipe_mesh_is_a_consistently_wound_surface():
    tris = mediapipe_triangles()
    assert tris.shape == (880, 3) and set(np.unique(tris)) == set(range(N_MESH_POINTS))
    directed = [(a, b) for t in tris for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))]
    assert len(set(directed)) == len(directed)           # no edge twice the same way: one orientation


def _dome_tracks(yaws):
    canonical = dome_face()
    n = len(yaws)
    src = mesh_track(canonical[None], [[0.0, 0.0, 0.0]], [[SIZE / 2, SIZE / 2, 0.0]], [SIZE / 40],
                     [np.c_[np.eye(2), [0.0, 0.0]]], crop_size=SIZE)
    drv = mesh_track(np.repeat(canonical[None], n, 0), [[0.0, y, 0.0] for y in yaws],
                     np.tile([300.0, 200.0, 0.0], (n, 1)), [5.0] * n, [np.c_[np.eye(2) * 0.5, [10.0, 0.0]]] * n)
    return src, drv


def test_mesh_backend_renders_the_face_turning_with_the_driving():
    # In image axes (y down) a rotation about +y turns the face toward image-left.
    source, driving = _dome_tracks([0.0, 0.5, -0.5])
    n, batches = guidance_from_tracks(source, driving, size=SIZE)
    frames = next(iter(batches))
    assert frames.meta["geometry"] == "mediapipe_mesh" and frames.meta["alignment"] == "relative"
    m = frames.mask
    area = m[0].sum().item()
    assert area == pytest.approx(np.pi * (8 * SIZE / 40) ** 2, rel=0.05)          # dome radius 8 cm
    nz = frames.normal[..., 2]
    assert (nz[m] > 0).float().mean() > 0.97 and nz[m].mean() > 0.6               # faces the camera
    mean_nx = [frames.normal[i][..., 0][m[i]].mean().item() for i in range(3)]
    assert abs(mean_nx[0]) < 0.01 and mean_nx[1] < -0.05 and mean_nx[2] > 0.05
    d = frames.depth[0]
    centre = d[SIZE // 2, SIZE // 2].item()
    assert centre > 0.95 and d[m[0]].min() < 0.1                                  # nose-side near = 1


MODEL = Path(__file__).resolve().parents[2] / "reenact" / "assets" / "face_landmarker.task"
SHARED_SOURCES = Path(__file__).resolve().parents[3] / "shared" / "data" / "source"


@pytest.mark.shared_data
@pytest.mark.skipif(not (MODEL.is_file() and SHARED_SOURCES.is_dir()), reason="needs ../shared/data and the landmarker model")
def test_real_face_mesh_triangles_face_the_camera():
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision
    from PIL import Image

    options = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(MODEL)), num_faces=1)
    tris = mediapipe_triangles()
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        for path in sorted(SHARED_SOURCES.glob("*.jpg"))[:3]:
            image = np.asarray(Image.open(path).convert("RGB"))
            result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
            pts = np.array([[p.x * image.shape[1], -p.y * image.shape[0], -p.z * image.shape[1]]
                            for p in result.face_landmarks[0]])
            normal_z = np.cross(pts[tris[:, 1]] - pts[tris[:, 0]], pts[tris[:, 2]] - pts[tris[:, 0]])[:, 2]
            assert (normal_z > 0).mean() > 0.98
