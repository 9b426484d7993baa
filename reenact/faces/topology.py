"""MediaPipe face-mesh topology: triangles of the canonical mesh and the named contour loops."""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

MESH_POINTS = 468   # MediaPipe points with a canonical position: the 478 less the 10 iris points
CANONICAL_FACE = Path(__file__).resolve().parents[1] / "assets" / "mediapipe_canonical_face.npz"

# Inner-lip landmarks: the ring that bounds the mouth opening (MediaPipe's lips connections, inner half).
_INNER_LIP_START = 78


@lru_cache(maxsize=1)
def load_canonical_face() -> dict[str, np.ndarray]:
    """MediaPipe's canonical face model, vendored (Apache-2.0, Google LLC; extracted from the Face
    Landmarker bundle by tools/extract_mediapipe_canonical.py): {'vertices' (468, 3) cm, x right,
    y up, z toward the camera; 'uv' (468, 2); 'triangles' (898, 3); 'procrustes_weights' (468,)}."""
    from ..errors import AssetError

    try:
        with np.load(CANONICAL_FACE, allow_pickle=False) as z:
            data = {k: z[k] for k in ("vertices", "uv", "triangles", "procrustes_weights")}
    except (OSError, KeyError, ValueError) as exc:
        raise AssetError(f"the packaged MediaPipe canonical face {CANONICAL_FACE} is missing or damaged ({exc}); "
                         "reinstall reenact") from None
    for arr in data.values():
        arr.setflags(write=False)
    return data


@lru_cache(maxsize=1)
def mirror_partners() -> np.ndarray:
    """(468,) each canonical mesh point's mirror image across the face's middle (x -> -x; the
    canonical face is exactly symmetric: the 28 points on its middle are their own)."""
    from scipy.spatial import cKDTree

    vertices = load_canonical_face()["vertices"].astype(np.float64)
    _, partner = cKDTree(vertices).query(vertices * (-1.0, 1.0, 1.0))
    partner.setflags(write=False)
    return partner


def face_triangles() -> np.ndarray:
    """(898, 3) int32 triangles over landmarks 0..467 (MediaPipe's canonical face mesh)."""
    return load_canonical_face()["triangles"].astype(np.int32)


def _ordered_loops(edges: list[tuple[int, int]]) -> list[list[int]]:
    adj: dict[int, list[int]] = defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    loops, seen = [], set()
    for start in sorted(adj):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in adj[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(loop)
    return loops


@lru_cache(maxsize=None)
def contour(name: str) -> tuple[int, ...]:
    """An ordered closed loop of landmark indices: face_oval, lips_inner, lips_outer, left_eye,
    right_eye, left_iris, right_iris (left/right are the subject's, as MediaPipe names them)."""
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    groups = {
        "face_oval": C.FACE_LANDMARKS_FACE_OVAL, "left_eye": C.FACE_LANDMARKS_LEFT_EYE,
        "right_eye": C.FACE_LANDMARKS_RIGHT_EYE, "left_iris": C.FACE_LANDMARKS_LEFT_IRIS,
        "right_iris": C.FACE_LANDMARKS_RIGHT_IRIS, "lips_inner": C.FACE_LANDMARKS_LIPS,
        "lips_outer": C.FACE_LANDMARKS_LIPS,
    }
    if name not in groups:
        raise KeyError(f"unknown contour {name!r}; known: {sorted(groups)}")
    loops = _ordered_loops([(c.start, c.end) for c in groups[name]])
    if name.startswith("lips"):
        inner = [lp for lp in loops if _INNER_LIP_START in lp]
        loops = inner if name == "lips_inner" else [lp for lp in loops if _INNER_LIP_START not in lp]
    (loop,) = loops
    return tuple(int(i) for i in loop)


# Inner-lip landmarks facing each other across the mouth opening (upper, lower), left to right.
INNER_LIP_PAIRS = ((78, 78), (191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402),
                   (310, 318), (415, 324), (308, 308))


def lip_gaps(points: np.ndarray) -> np.ndarray:
    """(..., P) signed vertical opening of each inner-lip pair (lower y - upper y, image axes):
    negative where the lips have passed through each other."""
    p = np.asarray(points)
    return np.stack([p[..., lo, 1] - p[..., up, 1] for up, lo in INNER_LIP_PAIRS], axis=-1)


def curve_height(points: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """y of the polyline through `points` (N, 2+), taken in order of x, at each x of `xs` (held
    flat beyond its ends): a lip contour's or a jaw line's height across the face."""
    order = np.argsort(points[:, 0])
    return np.interp(xs, points[order, 0], points[order, 1])


def polygon_area(points: np.ndarray) -> np.ndarray:
    """Unsigned shoelace area of (..., N, 2) polygons."""
    x, y = points[..., 0], points[..., 1]
    return 0.5 * np.abs(np.sum(x * np.roll(y, -1, -1) - np.roll(x, -1, -1) * y, axis=-1))
