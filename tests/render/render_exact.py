"""Exact (rational) reference for the rasterisation conventions, for small test images."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def _edge(a, b, p):
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def exact_coverage(triangles, height: int, width: int):
    """Per pixel: (triangle index, barycentrics as Fractions, depth) of the nearest triangle whose
    interior strictly contains the pixel centre (q + 1/2, r + 1/2); ties go to the lower index.

    triangles: list of 3 (u, v, z) corners, each coordinate exactly representable.
    """
    tris = [[tuple(Fraction(float(c)) for c in corner) for corner in tri] for tri in triangles]
    out = {}
    for r in range(height):
        for q in range(width):
            p = (Fraction(2 * q + 1, 2), Fraction(2 * r + 1, 2))
            best = None
            for i, (v0, v1, v2) in enumerate(tris):
                area = _edge(v0, v1, v2)
                if area == 0:
                    continue
                w = (_edge(v1, v2, p) / area, _edge(v2, v0, p) / area, _edge(v0, v1, p) / area)
                if min(w) <= 0:
                    continue
                z = w[0] * v0[2] + w[1] * v1[2] + w[2] * v2[2]
                if best is None or z < best[2]:
                    best = (i, w, z)
            if best is not None:
                out[(r, q)] = best
    return out


def coverage_mask(exact: dict, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for (r, q) in exact:
        mask[r, q] = True
    return mask
