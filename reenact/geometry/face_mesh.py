"""Triangles for rendering MediaPipe's 478-point face mesh (the FLAME-free geometry)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import NotAvailableError

N_MESH_POINTS = 468   # points the tessellation uses; the 10 iris points (468..477) are not triangulated


@lru_cache(maxsize=1)
def mediapipe_triangles() -> np.ndarray:
    """(852, 3) int64 triangles of MediaPipe's face-landmark tessellation.

    MediaPipe Tasks lists the tessellation as edges, three per triangle in order
    (a->b, b->c, c->a); read back as triangles they are wound so that (v1-v0) x (v2-v0)
    points toward the camera in view space (x right, y up, z toward the viewer).
    """
    try:
        from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections
    except ImportError:
        raise NotAvailableError("the face-mesh renderer needs the mediapipe package (pip install mediapipe)") from None
    edges = FaceLandmarksConnections.FACE_LANDMARKS_TESSELATION
    starts = np.array([e.start for e in edges], dtype=np.int64).reshape(-1, 3)
    ends = np.array([e.end for e in edges], dtype=np.int64).reshape(-1, 3)
    if not np.array_equal(ends, np.roll(starts, -1, axis=1)):
        raise NotAvailableError("this mediapipe version lists its face tessellation in an unexpected order")
    starts.setflags(write=False)
    return starts
