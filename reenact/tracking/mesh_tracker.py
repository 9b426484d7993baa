"""FLAME-free tracker: MediaPipe's own face mesh as a per-frame similarity pose + canonical shape.

Each frame's 478 crop-space landmarks are explained as `scale * R @ canonical + translation`:
the pose comes from a similarity Procrustes fit of MediaPipe's canonical face on the points that
expressions hardly move (forehead, temples, nose, upper cheeks; not brows, eyelids, lips or jaw),
and `canonical` is what is left once that pose is undone,
i.e. the frame's face shape and expression in the canonical face's frame and units (cm). It needs
no licensed file, so it always runs; it supports relative motion transfer only (no identity
model, so a source and a driving face cannot be compared in absolute terms).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from ..errors import NoFaceError
from ..faces.landmarker import blendshape_names
from ..faces.shots import shot_ids
from ..faces.types import FaceTrack
from ..faces.topology import MESH_POINTS, contour, load_canonical_face
from ..faces.visibility import CUT_MARGIN, in_picture, seen_share
from ..io.memory import blocks
from ..schema import MeshSettings
from .completion import complete_from_blendshapes, complete_from_mirror, held_where_cut, pose_trust
from .confidence import hold_covered_eyes, hold_unreliable_frames, mouth_evidence, with_visibility
from .geometry import FLIP_YZ, matrix_to_rotvec, rotvec_to_matrix, similarity_procrustes, smooth_in_time
from .types import HeadTrack

# Block sizes of the per-frame algebra: working copies stay a few MB however long the clip (issue 15).
FRAME_BLOCK = 256
POINT_BLOCK = 32
N_MESH = MESH_POINTS
_OVAL = list(contour("face_oval"))
# MediaPipe indices of the brow lines and the eyelid rims; points near them move with expressions.
_BROWS = [70, 63, 105, 66, 107, 46, 53, 52, 65, 55, 300, 293, 334, 296, 336, 276, 283, 282, 295, 285]
_EYELIDS = [33, 246, 161, 160, 159, 158, 157, 173, 133, 7, 163, 144, 145, 153, 154, 155,
            263, 466, 388, 387, 386, 385, 384, 398, 362, 249, 390, 373, 374, 380, 381, 382]


def canonical_reference() -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's canonical face in image axes (x right, y down, z away), cm; and the Procrustes
    weights: 1 on the ~165 points above the nostrils that are at least 1 cm from a brow line and
    6 mm from an eyelid rim (MediaPipe's own 33 weighted points include the jaw line, which moves
    when the mouth opens, and weigh a few points heavily, which makes the pose noisier)."""
    v = load_canonical_face()["vertices"].astype(np.float64)
    near_brow = np.linalg.norm(v[:, None] - v[_BROWS][None], axis=-1).min(axis=1) < 1.0
    near_lid = np.linalg.norm(v[:, None] - v[_EYELIDS][None], axis=-1).min(axis=1) < 0.6
    rigid = (v[:, 1] >= -1.2) & ~near_brow & ~near_lid
    return v @ FLIP_YZ, rigid.astype(np.float64)


def _fill_invalid(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames that had no usable landmarks (nearest at the ends)."""
    if valid.all():
        return values
    t = np.arange(len(values))
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(t, t[valid], flat[valid, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(values.shape).astype(values.dtype)


class MeshTracker:
    """Tracker backend "mesh"."""

    name = "mesh"
    geometry = "mesh"

    def __init__(self, settings: MeshSettings | None = None) -> None:
        self.settings = settings or MeshSettings()

    @classmethod
    def ready(cls, inventory: Any) -> str | None:
        return None  # MediaPipe's mesh needs nothing beyond the landmarker

    @classmethod
    def from_cfg(cls, cfg: Any) -> "MeshTracker":
        return cls(MeshSettings.from_config(cfg.tracking.mesh))

    def track(self, face_track: FaceTrack, progress: Callable[[int, int], None] | None = None,
              frames: Callable[[], Iterable[np.ndarray]] | None = None) -> HeadTrack:
        """The clip's pose and pose-free landmarks, the expression held through frames whose mouth
        is covered and the upper face through frames that hide an eye (the face stage's
        visibility signals; a track without them measures them from
        `frames`, a callable giving a fresh iterator over its RGB frames, when given)."""
        head = self._track(face_track, progress)
        face_track = with_visibility(face_track, frames)
        detail, lips = mouth_evidence(face_track)
        if detail is None or len(face_track) < 2:
            return head
        # A hand over the mouth leaves MediaPipe sure of a closed, neutral mouth. The landmark
        # residual is no signal here (a wide-open mouth raises it on clean clips); the mouth's
        # lost edges and the lips' lost colour are (tracking/confidence.py).
        head = hold_unreliable_frames(head, face_track, None, detail, self.settings.mouth_detail_ratio,
                                      expression_keys=("canonical",), lips=lips)
        # a hand over the eyes: the brows and lids held; over one eye: both follow the other; the
        # mouth still speaks
        return hold_covered_eyes(head, face_track)

    def _track(self, face_track: FaceTrack, progress: Callable[[int, int], None] | None) -> HeadTrack:
        # Two passes, so that no (T, 478, 3) float64 working copy of a long clip exists (issue 15):
        # the pose a block of frames at a time, then shape and residual a block of points at a
        # time over all frames (time smoothing and gap filling need whole columns). Every value
        # is computed exactly as on the whole array at once.
        n = len(face_track)
        ref, weights = canonical_reference()
        rot = np.tile(np.eye(3), (n, 1, 1))
        trans, scale = np.zeros((n, 3)), np.ones(n)
        valid = np.zeros(n, bool)
        for part in blocks(n, FRAME_BLOCK):
            lmk = face_track.landmarks_in_crop(frames=part).astype(np.float64)  # x right, y down, z away
            ok = np.isfinite(lmk).all(axis=(1, 2))
            valid[part] = ok
            if ok.any():
                rows = np.flatnonzero(ok) + part.start
                rot[rows], trans[rows], scale[rows] = similarity_procrustes(ref, lmk[ok, :N_MESH], weights)
        if not valid.any():
            raise NoFaceError("no frame of the face track has landmarks; nothing to track")
        rotvec = _fill_invalid(matrix_to_rotvec(rot), valid)
        trans, log_scale = _fill_invalid(trans, valid), _fill_invalid(np.log(scale), valid)
        # The canonical face is each frame's landmarks with that frame's own pose undone, before the
        # pose is smoothed: what the smoothing takes off a fast zoom or turn (most at the clip's
        # ends) must not come back as expression (a camera zooming 1.5x grew the face 6 %).
        own_rot, own_trans, own_scale = rotvec_to_matrix(rotvec), trans, np.exp(log_scale)
        shots = shot_ids(face_track.cuts)
        # A face the picture's edge cuts reads as turned: its turn is held from the frames around it
        # (after the canonical face's own pose is taken, which its landmarks agree with).
        seen = seen_share(face_track.landmarks, face_track.image_size)
        rotvec = held_where_cut(rotvec, pose_trust(seen, weights), shots)
        # Axis-angle vectors average safely here: head rotations stay far from the half turn.
        rotvec = smooth_in_time(rotvec, self.settings.pose_sigma, shots)
        trans = smooth_in_time(trans, self.settings.pose_sigma, shots)
        scale = np.exp(smooth_in_time(log_scale, self.settings.pose_sigma, shots))
        rot = rotvec_to_matrix(rotvec)
        n_points = face_track.landmarks.shape[1]
        canonical = np.empty((n, n_points, 3), np.float32)
        weighted_sq_err = np.empty((n, N_MESH))
        for points in blocks(n_points, POINT_BLOCK):
            lmk = _fill_invalid(np.nan_to_num(face_track.landmarks_in_crop(points=points).astype(np.float64)), valid)
            block = np.einsum("tji,tnj->tni", own_rot, lmk - own_trans[:, None]) / own_scale[:, None, None]
            canonical[:, points] = smooth_in_time(block, self.settings.canonical_sigma, shots)
            # Residual: how far the rigid points sit from the canonical face once posed, crop px.
            rigid = slice(points.start, min(N_MESH, points.stop))
            if rigid.start < rigid.stop:
                posed_ref = scale[:, None, None] * np.einsum("tij,nj->tni", rot, ref[rigid]) + trans[:, None]
                err = np.linalg.norm(posed_ref - lmk[:, : rigid.stop - rigid.start], axis=-1)
                weighted_sq_err[:, rigid] = err ** 2 * weights[rigid]
        residuals = np.sqrt(weighted_sq_err.sum(axis=1) / weights.sum())
        # the outline of a face the edge cuts is trusted less near the edge (CUT_MARGIN): MediaPipe
        # places it from the rest; the lips and eyes it sees for what they are (trusting them less
        # too, jawOpen r on the pan variants fell, 0.81 -> 0.74 on s42 with d0)
        shown = seen.copy()
        shown[:, _OVAL] = seen_share(face_track.landmarks, face_track.image_size, CUT_MARGIN)[:, _OVAL]
        canonical = complete_from_mirror(canonical, shown)
        canonical = complete_from_blendshapes(canonical, shown, face_track.blendshapes)
        if progress is not None:
            progress(n, n)
        params = {"rotation": rotvec.astype(np.float32), "translation": trans.astype(np.float32),
                  "scale": scale.astype(np.float32), "canonical": canonical,
                  "in_picture": in_picture(seen)}
        if face_track.blendshapes is not None and len(face_track.blendshapes) == n:
            # MediaPipe's reading of how far the jaw hangs open, for choosing a reference at rest
            params["jaw_open"] = np.asarray(face_track.blendshapes, np.float32)[:, blendshape_names().index("jawOpen")]
        if shots is not None:
            params["shot"] = shots
        return HeadTrack(
            backend=self.name, geometry=self.geometry, params=params,
            fps=float(face_track.fps), image_size=tuple(face_track.image_size), crop_size=int(face_track.crop_size),
            crop_transforms=np.asarray(face_track.crop_transforms, np.float32),
            residuals=residuals.astype(np.float32),
            meta={"canonical_units": "cm", "axes": "x right, y down, z away from camera (crop pixels)",
                  "valid_frames": str(int(valid.sum()))},
        )
