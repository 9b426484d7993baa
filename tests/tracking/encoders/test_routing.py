"""Routing encoder outputs into tracks, on the synthetic FLAME-format head: known encoder outputs in,
the official routing rule (guidance-maps.md §3) and its maps out; the render map's texture and
light in each asset situation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reenact.geometry.align import AlignedFlame, AlignOptions, align
from reenact.geometry.guidance import FlameTopology, flame_guidance, guidance_from_tracks
from reenact.render.albedo import choose_render_look, flame_albedo
from reenact.tracking.encoders.deca import DecaCode
from reenact.tracking.encoders.preprocess import box_crop_transform
from reenact.tracking.encoders.routing import (EncoderOutputs, deca_cam_in_crop, parameter_sources, route)
from reenact.tracking.encoders.smirk import SmirkCode
from reenact.tracking.types import HeadTrack

FRAME = 512


def _fit_track(n: int, rng: np.random.Generator, k: float, shift) -> HeadTrack:
    """A stand-in for the landmark fit: arbitrary parameters, an axis-aligned crop of a 512 frame."""
    crop = np.tile(np.array([[k, 0, shift[0]], [0, k, shift[1]]], np.float32), (n, 1, 1))
    params = {"shape": rng.normal(0, 1, 100).astype(np.float32),
              "expression": rng.normal(0, 1, (n, 50)).astype(np.float32),
              "jaw": rng.normal(0, 0.05, (n, 3)).astype(np.float32),
              "global_rot": rng.normal(0, 0.1, (n, 3)).astype(np.float32),
              "neck": np.zeros((n, 3), np.float32), "eyes": np.zeros((n, 6), np.float32),
              "cam": np.tile(np.array([7.0, 0.0, 0.01], np.float32), (n, 1))}
    return HeadTrack("flame", params, 25.0, (FRAME, FRAME), 512, crop, np.ones(n, np.float32), {})


def _deca_code(n: int, rng: np.random.Generator) -> DecaCode:
    return DecaCode(shape=rng.normal(0, 1, (n, 100)).astype(np.float32), tex=rng.normal(0, 1, (n, 50)).astype(np.float32),
                    exp=rng.normal(0, 1, (n, 50)).astype(np.float32),
                    pose=np.concatenate([rng.normal(0, 0.2, (n, 3)), rng.normal(0, 0.05, (n, 3))], 1).astype(np.float32),
                    cam=np.stack([rng.uniform(8, 10, n), rng.normal(0, 0.01, n), rng.normal(0, 0.01, n)], 1).astype(np.float32),
                    light=np.concatenate([np.full((n, 1, 3), 3.0), rng.normal(0, 0.3, (n, 8, 3))], 1).astype(np.float32))


def _deca_transforms(n: int, rng: np.random.Generator) -> np.ndarray:
    boxes = []
    for _ in range(n):
        lo = rng.uniform(150, 190, 2)
        boxes.append(box_crop_transform(np.stack([lo, lo + rng.uniform(140, 180, 2)]), 1.1 * 1.3))
    return np.stack(boxes)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    src_fit, drv_fit = _fit_track(1, rng, 1.1, (-20, -30)), _fit_track(3, rng, 0.9, (15, 40))
    src_enc = EncoderOutputs(_deca_code(1, rng), _deca_transforms(1, rng), None)
    drv_enc = EncoderOutputs(_deca_code(3, rng), _deca_transforms(3, rng),
                             SmirkCode(rng.normal(0, 1, (3, 50)).astype(np.float32),
                                       np.abs(rng.normal(0, 0.1, (3, 3))).astype(np.float32),
                                       rng.uniform(0, 1, (3, 2)).astype(np.float32)))
    return src_fit, drv_fit, src_enc, drv_enc


def test_deca_camera_lands_on_the_same_frame_pixels_in_the_track_crop():
    rng = np.random.default_rng(1)
    cam = np.array([[9.0, 0.012, -0.02]])
    deca_t = box_crop_transform(np.array([[170.0, 160.0], [330.0, 350.0]]), 1.43)[None]
    crop = np.array([[[1.3, 0.0, -90.0], [0.0, 1.3, -60.0]]])
    new = deca_cam_in_crop(cam, deca_t, crop, 512).astype(np.float64)
    xy = rng.normal(0, 0.08, (20, 2))
    # official: 224 crop pixels with the 112 half-size, back to the frame through T^-1
    u224 = (cam[0, 0] * (xy[:, 0] + cam[0, 1]) + 1) * 112
    v224 = (-cam[0, 0] * (xy[:, 1] + cam[0, 2]) + 1) * 112
    a, b, c = deca_t[0, 0, 0], deca_t[0, 0, 2], deca_t[0, 1, 2]
    frame = np.stack([(u224 - b) / a, (v224 - c) / a], 1)
    u = (new[0, 0] * (xy[:, 0] + new[0, 1]) + 1) * 256
    v = (-new[0, 0] * (xy[:, 1] + new[0, 2]) + 1) * 256
    ours = np.stack([(u - crop[0, 0, 2]) / 1.3, (v - crop[0, 1, 2]) / 1.3], 1)
    np.testing.assert_allclose(ours, frame, atol=1e-3)


def test_routed_parameters_follow_the_official_rule(case):
    src_fit, drv_fit, src_enc, drv_enc = case
    src, drv = route(src_fit, src_enc), route(drv_fit, drv_enc)
    aligned = align(src, drv, AlignOptions(mode="absolute"))
    np.testing.assert_allclose(aligned.shape, src_enc.deca.shape[0], atol=1e-6)
    np.testing.assert_allclose(aligned.tex, src_enc.deca.tex[0], atol=1e-6)
    np.testing.assert_allclose(aligned.light, src_enc.deca.light[0], atol=1e-6)
    np.testing.assert_allclose(aligned.pose[:, 0:3], drv_enc.deca.pose[:, :3], atol=1e-6)   # DECA rotation
    np.testing.assert_allclose(aligned.pose[:, 6:9], drv_enc.smirk.jaw, atol=1e-6)          # SMIRK jaw
    np.testing.assert_allclose(aligned.expression, drv_enc.smirk.expression, atol=1e-6)     # SMIRK expression
    assert not aligned.pose[:, 3:6].any() and not aligned.pose[:, 9:15].any()               # neck, eyes zero
    assert parameter_sources(drv) == {"shape": "deca", "expression": "smirk", "jaw": "smirk", "global_rot": "deca",
                                      "cam": "deca", "neck": "zero", "eyes": "zero", "tex": "deca", "light": "deca"}


@pytest.mark.slow
def test_routed_maps_equal_the_official_chain(case, test_head):
    src_fit, drv_fit, src_enc, drv_enc = case
    model = test_head.model
    topology = FlameTopology(torch.as_tensor(np.asarray(model.data.faces), dtype=torch.int64))

    def flame(shape, expression, pose):
        return model(shape=shape, expression=expression, global_rot=pose[:, :3], neck=pose[:, 3:6],
                     jaw=pose[:, 6:9], eyes=pose[:, 9:15]).vertices

    n, ours = guidance_from_tracks(route(src_fit, src_enc), route(drv_fit, drv_enc), flame=flame,
                                   topology=topology, size=FRAME, options=AlignOptions(mode="absolute"))
    ours = [b.to_uint8() for b in ours]
    # the official rule, written out: source DECA shape/cam/crop T (224, with its 223), driving DECA
    # rotation, SMIRK expression and jaw, neck and eyes zero
    pose = np.zeros((3, 15))
    pose[:, :3], pose[:, 6:9] = drv_enc.deca.pose[:, :3], drv_enc.smirk.jaw
    official = AlignedFlame(shape=src_enc.deca.shape[0].astype(np.float64), expression=drv_enc.smirk.expression,
                            pose=pose, cam=np.repeat(src_enc.deca.cam, 3, 0),
                            crop_transform=np.repeat(src_enc.deca_transforms[:, :2], 3, 0), crop_size=224,
                            tex=src_enc.deca.tex[0], light=src_enc.deca.light[0], mode="absolute")
    theirs = [b.to_uint8() for b in flame_guidance(official, flame, topology, size=FRAME)]
    assert n == 3
    for name in ("depth", "normal", "render"):
        a = np.concatenate([b[name] for b in ours]).astype(int)
        b = np.concatenate([b[name] for b in theirs]).astype(int)
        assert (a > 0).any()
        # same vertices on the same pixels: at most a silhouette pixel flips on a float tie
        assert (np.abs(a - b) > 1).mean() < 1e-4, name


@pytest.mark.parametrize("deca, smirk", [(True, False), (False, True), (False, False)])
def test_missing_encoders_fall_back_per_parameter_and_say_so(case, deca, smirk):
    _, drv_fit, _, drv_enc = case
    enc = EncoderOutputs(drv_enc.deca if deca else None, drv_enc.deca_transforms if deca else None,
                         drv_enc.smirk if smirk else None)
    routed = route(drv_fit, enc)
    sources = parameter_sources(routed)
    for key in ("expression", "jaw"):
        want = drv_enc.smirk.expression if key == "expression" else drv_enc.smirk.jaw
        np.testing.assert_array_equal(routed.params[key], want if smirk else drv_fit.params[key])
        assert sources[key] == ("smirk" if smirk else "landmark_fit")
    np.testing.assert_array_equal(routed.params["global_rot"],
                                  drv_enc.deca.pose[:, :3] if deca else drv_fit.params["global_rot"])
    assert sources["global_rot"] == sources["shape"] == sources["cam"] == ("deca" if deca else "landmark_fit")
    assert ("tex" in routed.params) == deca


def test_encoder_sizes_follow_the_configured_coefficient_counts(case):
    _, drv_fit, _, drv_enc = case
    small = HeadTrack(**{**drv_fit.__dict__, "params": {**drv_fit.params, "shape": np.zeros(60, np.float32),
                                                         "expression": np.zeros((3, 80), np.float32)}})
    routed = route(small, drv_enc)
    assert routed.params["shape"].shape == (60,) and routed.params["expression"].shape == (3, 80)
    np.testing.assert_array_equal(routed.params["expression"][:, :50], drv_enc.smirk.expression)
    assert not routed.params["expression"][:, 50:].any()


def _texture_space(path, side=8, k=60):
    rng = np.random.default_rng(0)
    np.savez(path, mean=rng.uniform(0, 255, (side, side, 3)), tex_dir=rng.normal(0, 20, (side, side, 3, k)))
    return path


def test_render_map_uses_the_right_texture_and_light_in_each_asset_situation(tmp_path, case):
    _, _, src_enc, _ = case
    texture = _texture_space(tmp_path / "FLAME_texture.npz")
    tex, light = src_enc.deca.tex[0], src_enc.deca.light[0]
    # 1. DECA + texture space: the source's code in the FLAME texture space, the source's light
    look = choose_render_look(tex, light, texture, has_uvs=True)
    np.testing.assert_allclose(look.albedo.texture.numpy(), flame_albedo(texture, tex).texture.numpy())
    np.testing.assert_array_equal(look.light, light)
    assert "DECA texture code" in look.description
    # 2. texture space only: its mean, the fixed light
    look = choose_render_look(None, None, texture, has_uvs=True)
    np.testing.assert_allclose(look.albedo.texture.numpy(), flame_albedo(texture, np.zeros(50)).texture.numpy())
    assert look.light is None and look.description == "flame texture mean, fixed light"
    # 3. neither: the constant albedo
    look = choose_render_look(None, None, tmp_path / "missing.npz", has_uvs=True)
    assert look.albedo.texture is None and look.description == "constant albedo, fixed light"
    # no UVs (no head_template.obj) cannot texture either
    assert choose_render_look(tex, light, texture, has_uvs=False).albedo.texture is None


def test_guidance_meta_names_the_render_look(case, test_head, tmp_path):
    src_fit, drv_fit, src_enc, drv_enc = case
    model = test_head.model
    faces = torch.as_tensor(np.asarray(model.data.faces), dtype=torch.int64)
    uv = torch.rand(len(faces), 3, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    topology = FlameTopology(faces, uv)
    texture = _texture_space(tmp_path / "FLAME_texture.npz")

    def flame(shape, expression, pose):
        return model(shape=shape, expression=expression, global_rot=pose[:, :3], jaw=pose[:, 6:9]).vertices

    looks = {}
    for name, src in (("deca", route(src_fit, src_enc)), ("fit", route(src_fit, EncoderOutputs(None, None, None)))):
        _, batches = guidance_from_tracks(src, route(drv_fit, drv_enc), flame=flame, topology=topology,
                                          texture_path=texture, size=128, options=AlignOptions(mode="absolute"))
        batch = next(iter(batches))
        looks[name] = (batch.meta["render_look"], batch.render)
    assert looks["deca"][0].startswith("flame texture with the source's DECA texture code")
    assert looks["fit"][0] == "flame texture mean, fixed light"
    assert not torch.equal(looks["deca"][1], looks["fit"][1])


class _Known:
    """An encoder stand-in whose `encode` returns known codes, one row per image, in order."""

    def __init__(self, code):
        self.code, self.seen = code, 0

    def encode(self, images):
        rows = slice(self.seen, self.seen + len(images))
        self.seen += len(images)
        assert images.shape[1:] == (3, 224, 224) and 0 <= float(images.min()) and float(images.max()) <= 1
        return type(self.code)(**{k: getattr(self.code, k)[rows] for k in self.code.__dataclass_fields__})


def test_the_flame_tracker_runs_the_encoders_on_the_frames_and_routes_them(test_head):
    from reenact.tracking.flame_tracker import FlameFitSettings, FlameTracker
    from tests.synthetic_head import make_face_track, random_motion

    rng = np.random.default_rng(2)
    face_track, _ = make_face_track(test_head, random_motion(4, seed=3), frame_size=(360, 640))
    deca, smirk = _deca_code(4, rng), SmirkCode(rng.normal(0, 1, (4, 50)).astype(np.float32),
                                                np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32))
    tracker = FlameTracker(test_head, FlameFitSettings(use_dense=False, device="cpu", frame_iterations=2,
                                                       shape_iterations=2), deca=_Known(deca), smirk=_Known(smirk))
    frames = [np.full((360, 640, 3), 90 + 10 * t, np.uint8) for t in range(4)]
    track = tracker.track(face_track, frames=lambda: iter(frames))
    np.testing.assert_array_equal(track.params["expression"], smirk.expression)
    np.testing.assert_array_equal(track.params["global_rot"], deca.pose[:, :3])
    np.testing.assert_allclose(track.params["shape"], deca.shape.mean(0))
    sources = parameter_sources(track)
    # the synthetic face stage crops with a rotation, which DECA's camera cannot express: fit camera
    assert sources["cam"] == "landmark_fit" and sources["expression"] == "smirk" and sources["tex"] == "deca"
    assert tracker.cache_tag == "+deca+smirk"
    # without frames, nothing to encode: all from the fit, and said so
    plain = tracker.track(face_track)
    assert set(parameter_sources(plain).values()) <= {"landmark_fit", "zero", "none"}
