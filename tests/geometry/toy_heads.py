"""Toy FLAME-like model and track builders for alignment and guidance tests (imported by the tests)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from reenact.render.primitives import head_like
from reenact.tracking.types import HeadTrack

ROOT = np.array([0.0, -0.12, -0.02])     # global rotation pivot (FLAME's root sits low, at the neck)
NECK = np.array([0.0, -0.09, -0.015])
JAW = np.array([0.0, -0.02, -0.01])


def _rotate_about(v: torch.Tensor, rotvec: torch.Tensor, pivot: np.ndarray, mask=None) -> torch.Tensor:
    r = torch.as_tensor(Rotation.from_rotvec(rotvec.double().numpy()).as_matrix(), dtype=v.dtype)   # (B, 3, 3)
    p = torch.as_tensor(pivot, dtype=v.dtype)
    moved = torch.einsum("bij,bvj->bvi", r, v - p) + p
    if mask is None:
        return moved
    return torch.where(mask[None, :, None], moved, v)


class ToyFlame:
    """Linear stand-in with FLAME's call signature: (shape, expression, pose (B, 15)) -> (B, V, 3).

    Identity offsets move the whole head; expression offsets (a few mm) and the jaw move only
    the face region (front of the head, chin to brows, not the nose tip); neck and global rotations turn everything
    about their pivots, jaw first, then neck, then global, as a kinematic chain does.
    """

    def __init__(self, n_shape: int = 10, n_exp: int = 8, seed: int = 0):
        verts, faces = head_like(23, 28, torch.float64)
        self.template = verts
        self.faces = faces
        rng = np.random.default_rng(seed)
        x, y, z = verts.numpy().T
        features = np.stack([x, y, z, x * y, y * z, x * z, x ** 2, y ** 2], 1)          # smooth fields
        self.shapedirs = torch.as_tensor(np.einsum("vf,fck->vck", features, rng.normal(0, 0.08, (8, 3, n_shape))))
        # The face region stops short of the nose tip, the nearest point, so that expressions do
        # not change the depth normalisation range (FLAME's expressions barely move it either).
        self.face_mask = torch.as_tensor((z > 0.035) & (z < 0.1) & (y > -0.085) & (y < 0.06))
        exp = np.einsum("vf,fck->vck", features[:, :3] + 0.05, rng.normal(0, 0.05, (3, 3, n_exp)))
        self.expdirs = torch.as_tensor(exp) * self.face_mask[:, None, None]
        self.jaw_mask = self.face_mask & torch.as_tensor(y < -0.03)
        self.n_shape, self.n_exp = n_shape, n_exp

    def __call__(self, shape: torch.Tensor, expression: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        dtype = shape.dtype
        v = (self.template + torch.einsum("vck,bk->bvc", self.shapedirs, shape.double())
             + torch.einsum("vck,bk->bvc", self.expdirs, expression.double()))
        pose = pose.double()
        v = _rotate_about(v, pose[:, 6:9], JAW, self.jaw_mask)
        v = _rotate_about(v, pose[:, 3:6], NECK)
        v = _rotate_about(v, pose[:, 0:3], ROOT)
        return v.to(dtype)


def official_crop(cx: float, cy: float, side: float) -> np.ndarray:
    """(2, 3) frame -> 224 crop transform of guidance-maps.md §1.2 (note the 223)."""
    a = 223.0 / side
    return np.array([[a, 0.0, -a * (cx - side / 2)], [0.0, a, -a * (cy - side / 2)]])


def flame_track(expression, jaw, global_rot, cam, crops, shape, neck=None, eyes=None, tex=None, light=None) -> HeadTrack:
    n = len(expression)
    params = {"shape": np.asarray(shape, np.float32), "expression": np.asarray(expression, np.float32),
              "jaw": np.asarray(jaw, np.float32), "global_rot": np.asarray(global_rot, np.float32),
              "neck": np.zeros((n, 3), np.float32) if neck is None else np.asarray(neck, np.float32),
              "eyes": np.zeros((n, 6), np.float32) if eyes is None else np.asarray(eyes, np.float32),
              "cam": np.asarray(cam, np.float32)}
    if tex is not None:
        params["tex"] = np.asarray(tex, np.float32)
    if light is not None:
        params["light"] = np.asarray(light, np.float32)
    return HeadTrack(backend="flame", params=params, fps=25.0, image_size=(512, 512), crop_size=224,
                     crop_transforms=np.asarray(crops, np.float64).reshape(n, 2, 3), residuals=np.zeros(n))


def random_flame_track(n: int, seed: int, model: ToyFlame, moving_crop: bool = True) -> HeadTrack:
    rng = np.random.default_rng(seed)
    crops = [official_crop(256 + rng.normal(0, 6 * moving_crop), 250 + rng.normal(0, 6 * moving_crop),
                           300 + rng.normal(0, 10 * moving_crop)) for _ in range(n)]
    return flame_track(
        expression=rng.normal(0, 1, (n, model.n_exp)), jaw=np.c_[rng.uniform(0, 0.2, n), rng.normal(0, 0.02, (n, 2))],
        global_rot=rng.normal(0, 0.15, (n, 3)), cam=np.c_[rng.uniform(7, 9, n), rng.normal(0, 0.01, (n, 2))],
        crops=crops, shape=rng.normal(0, 1, model.n_shape), neck=rng.normal(0, 0.05, (n, 3)),
        eyes=rng.normal(0, 0.05, (n, 6)), tex=rng.normal(0, 1, 50), light=rng.normal(0, 0.3, (9, 3)) + np.array([[2.5] * 3] + [[0.0] * 3] * 8))


def mesh_track(canonical, rotation, translation, scale, crops, crop_size: int = 512) -> HeadTrack:
    n = len(canonical)
    return HeadTrack(backend="mesh", params={
        "canonical": np.asarray(canonical, np.float32), "rotation": np.asarray(rotation, np.float32),
        "translation": np.asarray(translation, np.float32), "scale": np.asarray(scale, np.float32)},
        fps=25.0, image_size=(720, 1280), crop_size=crop_size,
        crop_transforms=np.asarray(crops, np.float64).reshape(n, 2, 3), residuals=np.zeros(n))


def dome_face(radius_cm: float = 8.0) -> np.ndarray:
    """(478, 3) points on MediaPipe's face-mesh topology shaped like a dome, in the mesh
    tracker's canonical axes (x right, y down, z away from the camera), centimetres.

    Tutte embedding: the outer boundary loop pinned to a circle, every other point at the mean
    of its neighbours, then lifted onto a hemisphere facing the camera. The 10 iris points
    copy mesh points (they are not triangulated).
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from reenact.geometry.face_mesh import N_MESH_POINTS, mediapipe_triangles

    tris = mediapipe_triangles()
    directed = {(a, b) for t in tris for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    boundary = {a: b for a, b in directed if (b, a) not in directed}
    loops, seen = [], set()
    for start in boundary:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = boundary[v]
        loops.append(loop)
    outer = max(loops, key=len)
    n = N_MESH_POINTS
    adj = sp.lil_matrix((n, n))
    for a, b in directed:
        adj[a, b] = adj[b, a] = 1
    adj = adj.tocsr()
    lap = sp.diags(np.asarray(adj.sum(1)).ravel()) - adj
    angles = -2 * np.pi * np.arange(len(outer)) / len(outer)
    fixed = np.zeros((n, 2))
    fixed[outer] = np.c_[np.cos(angles), np.sin(angles)]
    free = np.setdiff1d(np.arange(n), outer)
    rhs = -lap[free][:, outer] @ fixed[outer]
    xy = fixed.copy()
    xy[free] = np.stack([spla.spsolve(lap[free][:, free].tocsc(), rhs[:, k]) for k in range(2)], 1)
    # Wind like the real mesh: triangles counter-clockwise seen from the camera (y up).
    e1, e2 = xy[tris[:, 1]] - xy[tris[:, 0]], xy[tris[:, 2]] - xy[tris[:, 0]]
    if np.median(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) < 0:
        xy[:, 0] = -xy[:, 0]
    z_up = np.sqrt(np.clip(1 - (xy ** 2).sum(1), 0, None)) * 0.8
    pts = np.c_[xy[:, 0], -xy[:, 1], -z_up] * radius_cm
    return np.concatenate([pts, pts[:10]]).astype(np.float64)
