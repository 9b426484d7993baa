"""Identity, expression, pose and keypoint metrics: pure functions of the estimators' outputs."""

from __future__ import annotations

import numpy as np

AKD_REFERENCE_SIDE = 256.0   # AKD is reported in pixels of a 256-px frame, as the field does (FOMM)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two embeddings (CSIM for one pair of faces)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    if den == 0:
        raise ValueError("a zero embedding has no direction")
    return float(a @ b / den)


def csim(source_embedding: np.ndarray, output_embeddings: np.ndarray) -> float:
    """Mean cosine similarity between the source face and each output frame's face."""
    return float(np.mean([cosine_similarity(source_embedding, e) for e in np.atleast_2d(output_embeddings)]))


def akd(landmarks_a: np.ndarray, landmarks_b: np.ndarray, frame_side: float) -> float:
    """Average keypoint distance between matching (T, K, 2) landmark sets, in pixels of a
    `AKD_REFERENCE_SIDE` frame (distances scaled by 256 / the frame's longer side)."""
    a, b = np.asarray(landmarks_a, np.float64), np.asarray(landmarks_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"landmark sets differ in shape: {a.shape} vs {b.shape}")
    return float(np.linalg.norm(a[..., :2] - b[..., :2], axis=-1).mean() * AKD_REFERENCE_SIDE / frame_side)


def aed(expressions_a: np.ndarray, expressions_b: np.ndarray) -> float:
    """Average expression distance: mean absolute difference of per-frame expression coefficients."""
    a, b = np.asarray(expressions_a, np.float64), np.asarray(expressions_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"expression sets differ in shape: {a.shape} vs {b.shape}")
    return float(np.abs(a - b).mean())


def apd(angles_a: np.ndarray, angles_b: np.ndarray) -> float:
    """Average pose distance: mean absolute difference of (T, 3) yaw/pitch/roll angles in degrees,
    each difference wrapped into [-180, 180)."""
    a, b = np.asarray(angles_a, np.float64), np.asarray(angles_b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"pose sets differ in shape: {a.shape} vs {b.shape}")
    d = (a - b + 180.0) % 360.0 - 180.0
    return float(np.abs(d).mean())


def euler_angles(rotation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) yaw, pitch, roll in degrees, for R = Rz(roll)·Ry(yaw)·Rx(pitch)
    (camera axes x right, y down, z forward: yaw turns about the vertical, pitch nods)."""
    r = np.asarray(rotation, np.float64)
    yaw = np.arcsin(np.clip(-r[..., 2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[..., 2, 1], r[..., 2, 2])
    roll = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The inverse of `euler_angles` for one pose (degrees)."""
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx
