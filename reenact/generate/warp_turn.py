"""How far the warp turns a source's head: the turn it draws, read back by the landmarker.

The warp turns a head by moving the source's MediaPipe mesh, whose depth is MediaPipe's estimate
for that one photo. How turned the drawn face then looks depends on that depth and on the face's
proportions: read back by MediaPipe (as the driving's turn was), s1's 25 degrees read as 19,
Einstein's (10 degrees turned already) as 22, the statue's as 17. On ../shared's
turning clips the output's yaw followed the driving's at 1.15x for Einstein and 0.93x for the
statue (the judge's yaw error past 10 degrees: 3.0 and 2.3), 0.99-1.01x for the others.

So the engine draws two probe turns of the source's own mesh, reads them with the landmarker and
scales the turns it is asked for by the typical read-back over this source's (`turn_gain`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.spatial.transform import Rotation

# degrees each way of the two probe turns: in the range a talking head turns (a 15-degree probe
# read Einstein's excess as 1.3x where the clips' 25-35 degrees read 1.15x)
TURN_PROBE = 25.0
# What the probes read back, per degree asked, on portraits whose output yaw followed the
# driving's at 0.99-1.01x (s1 0.76, s42 0.72; the shared clips' own first frames 0.70-0.75): the
# gain the rest of the chain (the tracker's turn against the landmarker's) is tuned to.
TYPICAL_TURN_READ = 0.745
# the correction's bounds: a misread probe (a cartoon's mesh, a shadowed half face) must not
# double or halve the turn
TURN_GAIN_RANGE = (0.85, 1.15)
# a source turned further than this is not probed: its turn back towards the camera is held
# (warp.REVEAL_FREE_YAW), so the probes would read the hold, not the face
PROBE_WITHIN_YAW = 15.0

# a face whose landmarks span less than this share of its picture's shorter side is not probed:
# read from the whole picture, a small face's probes read apart from how its output reads (s1 put
# at 0.03 of a 4000x3000 picture read 0.65 per degree, gain 1.14, and its output then turned 1.12x
# the driving's where it turned 1.00x without; the same face padded to a full-length portrait, at
# 0.17, read 0.88, gain 0.85: its output turned 0.91x, and 1.05x without). Probed and checked:
# s3 at 0.23, s11 0.24, the statue 0.27, s42 padded to a full-length portrait 0.25 (read 0.82, gain
# 0.91: its output turned 1.04x the driving's, 1.11x without).
PROBE_FACE_SHARE = 0.2

# images -> per image (yaw, pitch, roll) degrees, or None where it shows no face
Reader = Callable[[list[np.ndarray]], "list[np.ndarray | None]"]


def turn_gain_from_read(read: float | None) -> float:
    """The factor on every asked turn for a source whose probes read back `read` degrees per
    degree (None: not probed, 1.0)."""
    if read is None or not np.isfinite(read) or read <= 0:
        return 1.0
    return float(np.clip(TYPICAL_TURN_READ / read, *TURN_GAIN_RANGE))


def probe_turn(points: np.ndarray, pivot: np.ndarray, degrees: float) -> np.ndarray:
    """(N, 3) `points` (x right, y down, depth away; source pixels) turned `degrees` of yaw about
    the vertical axis through `pivot` (3,)."""
    turn = Rotation.from_euler("y", degrees, degrees=True).as_matrix()
    return (np.asarray(points, np.float64)[:, :3] - pivot) @ turn.T + pivot


def read_turn(render: Callable[[np.ndarray], np.ndarray], points: np.ndarray, pivot: np.ndarray,
              read_angles: Reader) -> float | None:
    """Degrees of yaw read back per degree asked: `render` draws the source at target points,
    `read_angles` reads drawn images' head angles. None without depth or where a probe shows no
    face."""
    if points.shape[1] < 3 or not np.any(points[:, 2]):
        return None
    reads = read_angles([render(probe_turn(points, pivot, sign * TURN_PROBE)) for sign in (1.0, -1.0)])
    if any(angles is None for angles in reads):
        return None
    return (float(reads[0][0]) - float(reads[1][0])) / (2.0 * TURN_PROBE)


def landmarker_angles(images: list[np.ndarray]) -> list[np.ndarray | None]:
    """The head angles (yaw, pitch, roll; degrees; x right, y down, depth away) of the face the
    landmarker finds in each of `images` (one landmarker for all: it loads its model once), from
    its facial transformation matrix (as the driving's turn is read: `tracking.geometry`); None
    without a face. The mesh tracker's own pose fit reads the probes too, but spreads them less
    than the outputs' read turns spread (Einstein 1.10x the typical against 1.15x on the clips)."""
    from ..errors import NoFaceError
    from ..faces import detect_faces
    from ..tracking.geometry import mediapipe_rotation_in_crop

    try:
        faces = detect_faces(images, video=False, source_name="the warp's probe turns")
    except NoFaceError:
        return [None] * len(images)
    rot, ok = mediapipe_rotation_in_crop(np.asarray(faces.transforms), np.repeat(np.eye(2, 3)[None], len(images), 0))
    flip = np.diag([1.0, -1.0, -1.0])          # the matrix's y up, z towards the camera -> image axes
    return [Rotation.from_matrix(flip @ r @ flip).as_euler("yxz", degrees=True) if seen and good else None
            for r, seen, good in zip(rot, faces.detected, ok)]
