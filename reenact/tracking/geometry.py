"""Small rigid-geometry helpers shared by the tracker backends (NumPy, batched over frames)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from ..faces.shots import each_shot

# Image axes (x right, y down, z away from the camera) <-> model axes (x right, y up, z toward it):
# a half turn about x, so it is a proper rotation and its own inverse.
FLIP_YZ = np.diag([1.0, -1.0, -1.0])


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(rotvec, np.float64).reshape(-1, 3)).as_matrix().reshape(
        *np.shape(rotvec)[:-1], 3, 3)


def matrix_to_rotvec(matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, np.float64)
    return Rotation.from_matrix(m.reshape(-1, 3, 3)).as_rotvec().reshape(*m.shape[:-2], 3)


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """The rotation closest to each (…, 3, 3) matrix (drops scale and shear)."""
    u, _, vt = np.linalg.svd(matrix)
    d = np.sign(np.linalg.det(u @ vt))
    u = u.copy()
    u[..., :, 2] *= d[..., None]
    return u @ vt


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle between rotation matrices a and b, degrees."""
    rel = np.einsum("...ji,...jk->...ik", a, b)
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def similarity_procrustes(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted similarity dst ~ s R src + t for batches: src (N,3) or (B,N,3), dst (B,N,3).

    Returns R (B,3,3), t (B,3), s (B,). Umeyama's closed form; weights (N,) or (B,N), may hold zeros.
    """
    dst = np.asarray(dst, np.float64)
    src = np.broadcast_to(np.asarray(src, np.float64), dst.shape)
    w = np.ones(dst.shape[:2]) if weights is None else np.broadcast_to(np.asarray(weights, np.float64), dst.shape[:2])
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    mu_s = np.einsum("bn,bnk->bk", w, src)
    mu_d = np.einsum("bn,bnk->bk", w, dst)
    cs, cd = src - mu_s[:, None], dst - mu_d[:, None]
    cov = np.einsum("bn,bni,bnj->bij", w, cd, cs)
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(sig)
    fix[:, 2] = d
    rot = u @ (fix[:, :, None] * vt)
    var_s = np.einsum("bn,bnk->b", w, cs ** 2)
    scale = (sig * fix).sum(axis=1) / np.maximum(var_s, 1e-12)
    trans = mu_d - scale[:, None] * np.einsum("bij,bj->bi", rot, mu_s)
    return rot, trans, scale


def smooth_in_time(x: np.ndarray, sigma: float, shots: np.ndarray | None = None) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0 (frames); sigma in frames, 0 = off. With `shots`
    (T,) shot ids (faces/shots.py) each shot is smoothed on its own: nothing leaks across a cut."""
    if sigma <= 0 or len(x) < 2:
        return x
    return each_shot(lambda part: gaussian_filter1d(np.asarray(part, np.float64), sigma, axis=0, mode="nearest")
                     .astype(x.dtype), x, shots)


def inplane_angle(crop_transforms: np.ndarray) -> np.ndarray:
    """Rotation angle (radians, image y-down convention) of each (T,2,3) crop similarity."""
    a = crop_transforms[:, :, :2]
    return np.arctan2(a[:, 1, 0], a[:, 0, 0])


def rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((len(angle), 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1], out[:, 2, 2] = c, -s, s, c, 1
    return out


def mediapipe_rotation_in_crop(transforms: np.ndarray, crop_transforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Head rotation in the crop (model axes: y up, z toward camera) from MediaPipe's facial
    transformation matrices, and which frames had a usable matrix.

    MediaPipe's matrix maps its canonical face (x right, y up, z toward the camera) into a camera
    frame with the same axes, so its rotation part is the head rotation in the original frame. A
    crop that turns the image by angle a (y-down pixels) turns the head by -a about z in y-up axes.
    """
    m = np.asarray(transforms, np.float64)[:, :3, :3]
    norms = np.linalg.norm(m, axis=(1, 2))
    ok = np.isfinite(m).all(axis=(1, 2)) & (norms > 1e-6)
    rot = np.tile(np.eye(3), (len(m), 1, 1))
    if ok.any():
        rot[ok] = nearest_rotation(m[ok])
    ok &= np.linalg.det(np.where(ok[:, None, None], m, np.eye(3))) > 0
    return np.einsum("bij,bjk->bik", rot_z(-inplane_angle(crop_transforms)), rot), ok
