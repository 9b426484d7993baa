"""Per-triangle facts of a piecewise-affine mesh warp: orientation, the backward affines, stretch."""

from __future__ import annotations

import numpy as np


def signed_areas(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(K,) twice the signed area of each triangle (positive: counter-clockwise in x-right/y-down)."""
    a, b, c = points[tris[:, 0]], points[tris[:, 1]], points[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def triangle_affines(dst: np.ndarray, src: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(K, 2, 3) affines mapping each triangle's dst corners to its src corners (backward warp)."""
    t = np.concatenate([dst[tris].transpose(0, 2, 1), np.ones((len(tris), 1, 3))], axis=1)   # (K, 3, 3)
    s = src[tris].transpose(0, 2, 1)                                                          # (K, 2, 3)
    det = np.linalg.det(t)
    ok = np.abs(det) > 1e-9
    out = np.zeros((len(tris), 2, 3))
    out[ok] = s[ok] @ np.linalg.inv(t[ok])
    return out


def largest_stretch(affines: np.ndarray) -> np.ndarray:
    """(K,) the factor by which each backward affine (K, 2, 3) (target pixel -> source pixel)
    shrinks the source along its most-shrunk direction, inverted: how many times the drawn
    triangle lengthens the source that way (1 / its smallest singular value)."""
    a, b, c, d = affines[:, 0, 0], affines[:, 0, 1], affines[:, 1, 0], affines[:, 1, 1]
    total = a * a + b * b + c * c + d * d
    det = a * d - b * c
    smallest = np.sqrt(np.maximum(0.5 * (total - np.sqrt(np.maximum(total * total - 4 * det * det, 0.0))), 0.0))
    return 1.0 / np.maximum(smallest, 1e-6)
