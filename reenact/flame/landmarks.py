"""Landmarks on the FLAME surface, and which MediaPipe points they correspond to.

A landmark is a barycentric point on one triangle. Three embeddings are understood:

* the 68-point iBUG embedding users get with DECA (`landmark_embedding.npy`) or with RingNet /
  FLAME_PyTorch (`flame_static_embedding.pkl` + `flame_dynamic_embedding.npy`): 51 static inner
  points (iBUG 17-67) and a 17-point jaw contour. The contour is either *dynamic* (a look-up
  table of 79 rows indexed by head yaw, for 2D detectors that put the contour on the silhouette)
  or *fixed* (DECA's `full_lmk_*`, for detectors whose contour is a fixed surface point);
* an optional dense MediaPipe embedding (SMIRK's `mediapipe_landmark_embedding.npz`: triangle,
  barycentric coordinates and the MediaPipe landmark index of each point).

`MEDIAPIPE_TO_IBUG68` picks, for each iBUG-68 point, the MediaPipe Face Landmarker point (of 478)
with the same anatomical meaning; docs/tracking.md explains the choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import vertices2landmarks

from ..errors import AssetError
from .pickle_safe import load_npy_object, load_pickle

# iBUG-68 index -> MediaPipe 478 index. Subject's right side first, as in iBUG (image left).
# Jaw contour 0-16: face-oval points from ear level (eye-corner height) to the chin, evenly spaced
# in arc length on MediaPipe's canonical face; brows: upper brow line outer->inner; nose bridge
# 27-30 evenly from nasion to the tip (the point of largest depth); eyes: corners plus the lid
# points at 1/3 and 2/3 of the eye width; lips: corners, Cupid's-bow peaks, midlines.
MEDIAPIPE_TO_IBUG68 = np.array([
    127, 234, 132, 58, 172, 136, 150, 176, 152, 400, 379, 365, 397, 288, 361, 454, 356,  # 0-16 jaw
    70, 63, 105, 66, 107,                                                                # 17-21 right brow
    336, 296, 334, 293, 300,                                                             # 22-26 left brow
    168, 197, 195, 4,                                                                    # 27-30 nose bridge
    98, 97, 2, 326, 327,                                                                 # 31-35 nose base
    33, 160, 158, 133, 153, 144,                                                         # 36-41 right eye
    362, 385, 387, 263, 373, 380,                                                        # 42-47 left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,                                 # 48-59 outer lips
    78, 81, 13, 311, 308, 402, 14, 178,                                                  # 60-67 inner lips
], dtype=np.int64)

# MediaPipe points on the eyelid margins that a blink moves: each eye's contour without its two
# corners (upper lid outer->inner, then lower lid), subject's right eye first. They include the
# iBUG lid points 37, 38, 40, 41, 43, 44, 46, 47 of MEDIAPIPE_TO_IBUG68.
MEDIAPIPE_EYELIDS = np.array([
    246, 161, 160, 159, 158, 157, 173, 7, 163, 144, 145, 153, 154, 155,                  # right eye
    466, 388, 387, 386, 385, 384, 398, 249, 390, 373, 374, 380, 381, 382,                # left eye
], dtype=np.int64)

# iBUG-68 left/right mirror permutation (point i of a mirrored face is point IBUG68_MIRROR[i]).
IBUG68_MIRROR = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65], dtype=np.int64)

N_DYNAMIC_ROWS = 79  # yaw 0..39 degrees, then -1..-39


@dataclass
class LandmarkEmbedding:
    """The 68-point FLAME landmark embedding (triangle index + barycentric coordinates)."""

    static_faces: np.ndarray   # (51,) iBUG 17-67
    static_bary: np.ndarray    # (51, 3)
    dynamic_faces: np.ndarray  # (79, 17) contour per yaw row
    dynamic_bary: np.ndarray   # (79, 17, 3)
    full_faces: np.ndarray     # (68,) fixed contour + static
    full_bary: np.ndarray      # (68, 3)
    source: str = ""

    def __post_init__(self) -> None:
        shapes = {"static_faces": (51,), "static_bary": (51, 3), "dynamic_faces": (N_DYNAMIC_ROWS, 17),
                  "dynamic_bary": (N_DYNAMIC_ROWS, 17, 3), "full_faces": (68,), "full_bary": (68, 3)}
        for name, shape in shapes.items():
            arr = np.asarray(getattr(self, name))
            arr = arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr
            if arr.shape != shape:
                raise AssetError(f"{self.source or 'landmark embedding'}: {name} has shape {arr.shape}, expected {shape}")
            setattr(self, name, arr.astype(np.int64 if name.endswith("faces") else np.float32))

    def check_faces(self, n_faces: int, source: str = "") -> None:
        top = max(int(self.static_faces.max()), int(self.dynamic_faces.max()), int(self.full_faces.max()))
        if top >= n_faces:
            raise AssetError(f"{self.source}: landmark triangle {top} does not exist in the model "
                             f"{source} ({n_faces} triangles); the embedding belongs to another mesh")


@dataclass
class MediaPipeEmbedding:
    """Dense MediaPipe landmarks on the FLAME surface (SMIRK's `mediapipe_landmark_embedding.npz`)."""

    faces: np.ndarray               # (N,)
    bary: np.ndarray                # (N, 3)
    landmark_indices: np.ndarray    # (N,) index into MediaPipe's 478 points
    source: str = ""


def load_landmark_embedding(path: str | Path, dynamic_path: str | Path | None = None) -> LandmarkEmbedding:
    """DECA's `landmark_embedding.npy`, or RingNet's `flame_static_embedding.pkl` + `flame_dynamic_embedding.npy`."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"landmark embedding not found: {path}")
    if dynamic_path is None:
        data = load_npy_object(path, allow_torch=True) if path.suffix == ".npy" else load_pickle(path, allow_torch=True)
        keys = ("static_lmk_faces_idx", "static_lmk_bary_coords", "dynamic_lmk_faces_idx",
                "dynamic_lmk_bary_coords", "full_lmk_faces_idx", "full_lmk_bary_coords")
        if not isinstance(data, dict) or any(k not in data for k in keys):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise AssetError(f"{path} is not DECA's landmark_embedding.npy (found {got}). For RingNet's files "
                             "pass flame_static_embedding.pkl together with flame_dynamic_embedding.npy")
        return LandmarkEmbedding(*(np.asarray(data[k]) for k in keys), source=str(path))
    dynamic_path = Path(dynamic_path)
    static = load_pickle(path)
    dynamic = load_npy_object(dynamic_path, allow_torch=True)
    for name, d in ((path, static), (dynamic_path, dynamic)):
        if not isinstance(d, dict) or "lmk_face_idx" not in d or "lmk_b_coords" not in d:
            raise AssetError(f"{name} is not a RingNet/FLAME landmark embedding (needs lmk_face_idx, lmk_b_coords)")
    s_faces, s_bary = np.asarray(static["lmk_face_idx"]), np.asarray(static["lmk_b_coords"])
    d_faces = np.asarray(np.stack([np.asarray(r) for r in dynamic["lmk_face_idx"]]))
    d_bary = np.asarray(np.stack([np.asarray(r) for r in dynamic["lmk_b_coords"]]))
    # RingNet ships no fixed contour: the frontal row (yaw 0) of the dynamic table serves as one.
    full_faces = np.concatenate([d_faces.reshape(N_DYNAMIC_ROWS, 17)[0], s_faces.reshape(-1)])
    full_bary = np.concatenate([d_bary.reshape(N_DYNAMIC_ROWS, 17, 3)[0], s_bary.reshape(-1, 3)])
    return LandmarkEmbedding(s_faces, s_bary, d_faces, d_bary, full_faces, full_bary, source=f"{path} + {dynamic_path}")


def load_mediapipe_embedding(path: str | Path) -> MediaPipeEmbedding:
    """A dense MediaPipe embedding .npz (lmk_face_idx, lmk_b_coords, landmark_indices)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            faces, bary, idx = (np.asarray(z[k]) for k in ("lmk_face_idx", "lmk_b_coords", "landmark_indices"))
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot read MediaPipe embedding {path}: {exc}") from None
    except KeyError as exc:
        raise AssetError(f"{path} lacks {exc}; expected lmk_face_idx, lmk_b_coords and landmark_indices") from None
    faces, idx = faces.reshape(-1).astype(np.int64), idx.reshape(-1).astype(np.int64)
    bary = bary.reshape(-1, 3).astype(np.float32)
    if not (len(faces) == len(bary) == len(idx)) or idx.min() < 0 or idx.max() >= 478:
        raise AssetError(f"{path}: inconsistent MediaPipe embedding ({len(faces)} faces, {len(bary)} barycentrics, "
                         f"{len(idx)} landmark indices in 0..477)")
    return MediaPipeEmbedding(faces, bary, idx, source=str(path))


def landmarks_on_mesh(vertices: torch.Tensor, faces: torch.Tensor, face_idx: torch.Tensor,
                      bary: torch.Tensor) -> torch.Tensor:
    """(B, L, 3) points; face_idx (L,) or (B, L), bary (L, 3) or (B, L, 3)."""
    b = vertices.shape[0]
    face_idx = face_idx.to(vertices.device)
    face_idx = (face_idx.expand(b, -1) if face_idx.dim() == 1 else face_idx).contiguous()
    bary = bary.to(vertices).expand(b, -1, -1) if bary.dim() == 2 else bary.to(vertices)
    return vertices2landmarks(vertices, faces.to(vertices.device), face_idx, bary)


def yaw_row(rotation: torch.Tensor) -> torch.Tensor:
    """Row of the dynamic-contour table for head rotation matrices (B, 3, 3), DECA's convention.

    yaw = atan2(-R[2,0], hypot(R[0,0], R[1,0])) in degrees, rounded, capped at 39; rows 0..39 are
    yaw 0..39, rows 40..78 are yaw -1..-39 (anything below -39 uses row 78). As in DECA's FLAME
    class (which MagicPortrait uses) the angle is not negated.
    """
    yaw = torch.atan2(-rotation[:, 2, 0], torch.sqrt(rotation[:, 0, 0] ** 2 + rotation[:, 1, 0] ** 2))
    deg = torch.round(torch.clamp(torch.rad2deg(yaw), max=39.0)).long()
    return torch.where(deg >= 0, deg, torch.where(deg < -39, torch.full_like(deg, 78), 39 - deg))


def flame_landmarks68(vertices: torch.Tensor, faces: torch.Tensor, embedding: LandmarkEmbedding,
                      head_rotation: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 68, 3) iBUG landmarks of posed FLAME vertices.

    With `head_rotation` (B, 3, 3) = R_global @ R_neck the jaw contour comes from the dynamic
    table row for that yaw (DECA's "2D" landmarks); without it, the fixed contour (DECA's "3D"
    landmarks), which is what matches detectors such as MediaPipe whose contour is a surface point.
    """
    if head_rotation is None:
        return landmarks_on_mesh(vertices, faces, torch.as_tensor(embedding.full_faces),
                                 torch.as_tensor(embedding.full_bary))
    rows = yaw_row(head_rotation).cpu()
    dyn_faces = torch.as_tensor(embedding.dynamic_faces)[rows]
    dyn_bary = torch.as_tensor(embedding.dynamic_bary)[rows]
    b = vertices.shape[0]
    face_idx = torch.cat([dyn_faces, torch.as_tensor(embedding.static_faces).expand(b, -1)], dim=1)
    bary = torch.cat([dyn_bary, torch.as_tensor(embedding.static_bary).expand(b, -1, -1)], dim=1)
    return landmarks_on_mesh(vertices, faces, face_idx, bary)
