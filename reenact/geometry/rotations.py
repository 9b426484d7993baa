"""Axis-angle helpers for motion transfer (numpy, float64, via scipy's Rotation)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from ..faces.shots import each_shot


def relative_rotation(rotvec_t: np.ndarray, rotvec_ref: np.ndarray) -> Rotation:
    """delta with R_t = delta · R_ref (the motion from the reference to frame t)."""
    return Rotation.from_rotvec(rotvec_t) * Rotation.from_rotvec(rotvec_ref).inv()


def rest_rotation(rotvecs: np.ndarray) -> np.ndarray:
    """(3,) axis-angle: the pose a head holds most among its rotations (T, 3), the median of each
    component of their turns from their mean (a look away for part of a clip moves a mean, not
    this)."""
    rotvecs = np.asarray(rotvecs, np.float64).reshape(-1, 3)
    mean = Rotation.from_rotvec(rotvecs).mean()
    turns = relative_rotation(rotvecs, mean.as_rotvec()).as_rotvec()
    return (Rotation.from_rotvec(np.median(turns, axis=0)) * mean).as_rotvec()


def turn_from_rest(rotvecs: np.ndarray) -> np.ndarray:
    """(T,) degrees each head rotation (T, 3 axis-angle) is turned from their `rest_rotation`."""
    rotvecs = np.asarray(rotvecs, np.float64).reshape(-1, 3)
    return np.degrees(relative_rotation(rotvecs, rest_rotation(rotvecs)).magnitude())


def scaled(rotation: Rotation, factor: float) -> Rotation:
    """rotation^factor: the same axis, `factor` times the angle."""
    return Rotation.from_rotvec(rotation.as_rotvec() * factor)


def transfer_rotation(rotvec_t: np.ndarray, rotvec_ref: np.ndarray, rotvec_src: np.ndarray,
                      factor: float = 1.0) -> np.ndarray:
    """(T, 3) axis-angle: the driving's motion since its reference, scaled, applied to the source."""
    delta = scaled(relative_rotation(rotvec_t, rotvec_ref), factor)
    src = Rotation.from_rotvec(np.array(np.broadcast_to(rotvec_src, np.shape(rotvec_t))))
    return (delta * src).as_rotvec()


def smooth_rotations(rotvecs: np.ndarray, sigma: float, shots: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing over time of (T, 3) rotations, done on sign-continuous quaternions
    (within each shot, given `shots`: faces/shots.py)."""
    if shots is not None:
        return each_shot(lambda part: smooth_rotations(part, sigma), rotvecs, shots)
    if sigma <= 0 or len(rotvecs) < 2:
        return np.array(rotvecs, dtype=np.float64)
    quat = Rotation.from_rotvec(rotvecs).as_quat()
    flips = np.sign(np.einsum("ij,ij->i", quat[1:], quat[:-1]))
    flips[flips == 0] = 1
    quat[1:] *= np.cumprod(flips)[:, None]
    quat = gaussian_filter1d(quat, sigma, axis=0, mode="nearest")
    return Rotation.from_quat(quat / np.linalg.norm(quat, axis=1, keepdims=True)).as_rotvec()


def smooth(values: np.ndarray, sigma: float, shots: np.ndarray | None = None) -> np.ndarray:
    """Zero-phase Gaussian smoothing along time (axis 0), within each shot given `shots`."""
    if shots is not None:
        return each_shot(lambda part: smooth(part, sigma), values, shots)
    values = np.asarray(values, dtype=np.float64)
    if sigma <= 0 or len(values) < 2:
        return values.copy()
    return gaussian_filter1d(values, sigma, axis=0, mode="nearest")
