"""Triangles for rendering MediaPipe's 478-point face mesh (the FLAME-free geometry)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..faces.topology import MESH_POINTS, contour, face_triangles

N_MESH_POINTS = MESH_POINTS   # points the mesh triangulates; the 10 iris points (468..477) are not in it


@lru_cache(maxsize=1)
def mediapipe_triangles() -> np.ndarray:
    """(880, 3) int64 triangles of MediaPipe's canonical face mesh without the 18 that bridge the lips.

    Like FLAME's surface, the eyes are covered and the mouth is an opening: an open mouth shows as
    a hole in the maps rather than as stretched lip triangles. Wound so that (v1-v0) x (v2-v0)
    points toward the camera in view space (x right, y up, z toward the viewer).
    """
    tris = face_triangles().astype(np.int64)
    inner_lips = set(contour("lips_inner"))
    bridge = np.array([all(int(v) in inner_lips for v in t) for t in tris])
    tris = tris[~bridge]
    tris.setflags(write=False)
    return tris
