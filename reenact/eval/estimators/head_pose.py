"""Head pose (yaw, pitch, roll) from 2D face landmarks by perspective-n-point against a generic head.

The generic head is MediaPipe's canonical face model (the geometry only, not its tracker): dlib's
68 landmarks are matched to the canonical vertices that sit at the same anatomical points, using
only points that expressions barely move (eye corners, nose, the top of the jaw line).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ...faces.topology import load_canonical_face
from ..face_metrics import euler_angles

# dlib 68-point index -> MediaPipe canonical-face vertex at the same place on the face. Measured
# as nearest neighbours between the two landmark sets on frontal portraits, then kept only where
# the match was the same on every portrait and the point is rigid under expressions.
RIGID_DLIB_TO_MEDIAPIPE = {
    0: 127, 16: 356,                        # jaw line at ear height
    27: 168, 28: 197, 30: 4, 33: 2,         # nose bridge, tip, base
    32: 97, 34: 326,                        # nostrils
    36: 33, 39: 133, 42: 362, 45: 263,      # eye corners
}

# Every dlib point's nearest MediaPipe landmark (same measurement), for reading 68-point
# keypoints off a MediaPipe track when dlib is not installed.
DLIB68_FROM_MEDIAPIPE = np.array([
    127, 227, 177, 215, 172, 136, 149, 148, 152, 377, 378, 365, 397, 435, 401, 454, 356,
    70, 63, 105, 66, 107, 285, 296, 334, 293, 383,
    168, 197, 5, 4, 240, 97, 2, 326, 305,
    33, 160, 158, 173, 153, 144, 362, 385, 386, 466, 373, 380,
    61, 74, 37, 11, 267, 304, 291, 321, 314, 17, 84, 91, 78, 82, 13, 312, 308, 317, 15, 86,
], np.int64)


@lru_cache(maxsize=1)
def _model_points() -> tuple[np.ndarray, np.ndarray]:
    """(dlib indices, (K, 3) canonical points in camera axes: x right, y down, z away from the camera)."""
    vertices = load_canonical_face()["vertices"].astype(np.float64)   # y up, z towards the viewer, cm
    idx = np.array(sorted(RIGID_DLIB_TO_MEDIAPIPE))
    pts = vertices[[RIGID_DLIB_TO_MEDIAPIPE[i] for i in idx]] * np.array([1.0, -1.0, -1.0])
    return idx, pts


def head_rotation(landmarks68: np.ndarray, image_size: tuple[int, int]) -> np.ndarray | None:
    """3x3 head rotation in camera axes for (68, 2) dlib landmarks, or None if PnP fails.

    The camera is a pinhole with focal length = the frame's longer side and the principal point
    at the centre (a ~53° field of view); yaw/pitch differences barely depend on this choice.
    """
    idx, obj = _model_points()
    img = np.asarray(landmarks68, np.float64)[idx, :2]
    h, w = image_size
    f = float(max(h, w))
    camera = np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1]])
    ok, rvec, tvec = cv2.solvePnP(obj, img, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        return None
    ok, rvec, tvec = cv2.solvePnP(obj, img, camera, None, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:
        return None
    return cv2.Rodrigues(rvec)[0]


def head_angles(landmarks68: np.ndarray, image_size: tuple[int, int]) -> np.ndarray | None:
    """(3,) yaw, pitch, roll in degrees (see face_metrics.euler_angles), or None."""
    r = head_rotation(landmarks68, image_size)
    return None if r is None else euler_angles(r)


def mediapipe_angles(transform: np.ndarray) -> np.ndarray:
    """(3,) yaw, pitch, roll in degrees from a MediaPipe facial transformation matrix (whose axes
    are y up, z towards the viewer), in the same camera axes as `head_angles`."""
    m = np.asarray(transform, np.float64)[:3, :3]
    m = m / np.cbrt(np.linalg.det(m))
    flip = np.diag([1.0, -1.0, -1.0])
    return euler_angles(flip @ m @ flip)
