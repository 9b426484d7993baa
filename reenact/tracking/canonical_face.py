"""MediaPipe's canonical face model (468 vertices, its triangles and Procrustes weights).

Vendored as reenact/assets/mediapipe_canonical_face.npz (Apache-2.0, Google LLC; extracted from
the Face Landmarker bundle by tools/extract_mediapipe_canonical.py). Units are centimetres,
x to the image right, y up, z toward the camera.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import AssetError

CANONICAL_FACE_FILE = Path(__file__).resolve().parents[1] / "assets" / "mediapipe_canonical_face.npz"


@lru_cache(maxsize=1)
def load_canonical_face() -> dict[str, np.ndarray]:
    """{'vertices' (468,3) cm, 'uv' (468,2), 'triangles' (898,3), 'procrustes_weights' (468,)}."""
    try:
        with np.load(CANONICAL_FACE_FILE, allow_pickle=False) as z:
            data = {k: z[k] for k in ("vertices", "uv", "triangles", "procrustes_weights")}
    except (OSError, KeyError, ValueError) as exc:
        raise AssetError(f"the packaged MediaPipe canonical face {CANONICAL_FACE_FILE} is missing or damaged ({exc}); "
                         "reinstall reenact") from None
    for arr in data.values():
        arr.setflags(write=False)
    return data
