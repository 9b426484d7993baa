"""Synthetic-head test helpers: the FLAME-format test head, known motion, and FaceTracks made from it.

The head comes from tools/make_test_head.py (written once per test session into a temporary
folder). A FaceTrack is made the way the face stage would see that head: all 478 MediaPipe points
of the head's own dense embedding, projected with the tracker's weak-perspective camera into a
512 crop, with Gaussian pixel noise, placed in a larger frame by a similarity crop transform,
and a MediaPipe-style transformation matrix carrying the (slightly wrong) head rotation.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reenact.faces.types import FaceTrack
from reenact.flame.head import FlameHead
from reenact.flame.landmarks import MEDIAPIPE_EYELIDS, landmarks_on_mesh, load_landmark_embedding, load_mediapipe_embedding
from reenact.flame.model import FlameModel, load_flame_data
from reenact.tracking.geometry import rot_z, rotvec_to_matrix

REPO = Path(__file__).resolve().parents[1]
_cache: dict[str, dict[str, Path]] = {}


def make_test_head_module():
    spec = importlib.util.spec_from_file_location("make_test_head", REPO / "tools" / "make_test_head.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_head_once(tmp_root: Path) -> dict[str, Path]:
    """Write the synthetic head files once per session (both test folders share them)."""
    if "paths" not in _cache:
        _cache["paths"] = make_test_head_module().write_test_head(tmp_root / "synthetic_head")
    return _cache["paths"]


def load_head(paths: dict[str, Path], n_shape: int = 100, n_expression: int = 50, eyelids: bool = False) -> FlameHead:
    """The head; with `eyelids`, carrying its optional eyelid blendshapes (l_eyelid.npy, r_eyelid.npy)."""
    data = load_flame_data(paths["model"])
    if eyelids:
        data = data.with_eyelids(np.load(paths["l_eyelid"]), np.load(paths["r_eyelid"]))
    return FlameHead(FlameModel(data, n_shape, n_expression),
                     load_landmark_embedding(paths["landmark_embedding"]),
                     load_mediapipe_embedding(paths["mediapipe_embedding"]))


@dataclass
class Motion:
    """Known FLAME parameters of a clip."""

    shape: np.ndarray        # (S,)
    expression: np.ndarray   # (T, E)
    jaw: np.ndarray          # (T, 3)
    global_rot: np.ndarray   # (T, 3)
    cam: np.ndarray          # (T, 3) s, tx, ty
    eyelids: np.ndarray | None = None  # (T, 2) left, right closure (a head with eyelid blendshapes)

    def __len__(self) -> int:
        return len(self.expression)


def random_motion(n_frames: int, seed: int, n_shape: int = 100, n_expression: int = 50,
                  max_yaw_deg: float = 40.0, still: bool = False) -> Motion:
    """A random identity with smooth random expression, jaw and head motion (yaw sweeping ±max_yaw)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None] if not still else np.zeros((n_frames, 1))

    def waves(k: int, amp: np.ndarray | float, lo: float = 25, hi: float = 80) -> np.ndarray:
        period = rng.uniform(lo, hi, k)
        phase = rng.uniform(0, 2 * np.pi, k)
        return amp * np.sin(2 * np.pi * t / period + phase)

    yaw_period = max(n_frames / 1.25, 20) if not still else 1.0
    yaw = np.radians(max_yaw_deg) * np.sin(2 * np.pi * t[:, 0] / yaw_period + rng.uniform(0, 2 * np.pi))
    if still:
        yaw = np.full(n_frames, np.radians(rng.uniform(-25, 25)))
    pitch, roll = waves(1, np.radians(15))[:, 0], waves(1, np.radians(12))[:, 0]
    euler = np.stack([pitch, yaw, roll], axis=1)
    from scipy.spatial.transform import Rotation

    global_rot = Rotation.from_euler("YXZ", euler[:, [1, 0, 2]]).as_rotvec()
    jaw = np.zeros((n_frames, 3))
    jaw[:, 0] = 0.13 + waves(1, 0.12, 15, 40)[:, 0]                  # opening 0..14 degrees
    jaw[:, 1:] = waves(2, 0.02)
    expression = waves(n_expression, rng.normal(0, 1.0, n_expression))
    cam = np.stack([6.8 + waves(1, 0.3)[:, 0], waves(1, 0.01)[:, 0], 0.01 + waves(1, 0.01)[:, 0]], axis=1)
    return Motion(rng.normal(0, 1.0, n_shape), expression, jaw, global_rot, cam)


def posed_points(head: FlameHead, motion: Motion) -> torch.Tensor:
    """(T, 478, 3) world positions of the head's MediaPipe points."""
    f = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        out = head.model(shape=f(motion.shape)[None], expression=f(motion.expression), jaw=f(motion.jaw),
                         global_rot=f(motion.global_rot),
                         eyelids=None if motion.eyelids is None else f(motion.eyelids))
        order = np.argsort(head.mediapipe.landmark_indices)
        return landmarks_on_mesh(out.vertices, head.model.faces, torch.as_tensor(head.mediapipe.faces[order]),
                                 torch.as_tensor(head.mediapipe.bary[order]))


def project(points: np.ndarray, cam: np.ndarray, crop: int = 512) -> np.ndarray:
    """Weak perspective into crop pixels (x right, y down, z away in pixel units)."""
    s, tx, ty = cam[:, 0:1], cam[:, 1:2], cam[:, 2:3]
    u = (s * (points[..., 0] + tx) + 1) * crop / 2
    v = (-s * (points[..., 1] + ty) + 1) * crop / 2
    z = -s * points[..., 2] * crop / 2
    return np.stack([u, v, z], axis=-1)


def make_face_track(head: FlameHead, motion: Motion, noise_px: float = 1.0, seed: int = 0,
                    crop: int = 512, frame_size: tuple[int, int] = (720, 1280), matrix_noise_deg: float = 3.0,
                    with_matrices: bool = True, lid_closure: np.ndarray | None = None) -> tuple[FaceTrack, np.ndarray]:
    """A FaceTrack of the moving head and the noise-free crop landmarks (T, 478, 3).

    lid_closure (T,): a blink as MediaPipe reports it, whatever the head's geometry: each upper-lid
    margin point moves that fraction of the way down to its lower-lid partner (1 = shut)."""
    rng = np.random.default_rng(seed + 1000)
    n = len(motion)
    clean = project(posed_points(head, motion).numpy().astype(np.float64), motion.cam, crop)
    if lid_closure is not None:
        for eye in (MEDIAPIPE_EYELIDS[:14], MEDIAPIPE_EYELIDS[14:]):   # 7 upper then 7 lower, outer -> inner
            upper, lower = eye[:7], eye[7:]
            clean[:, upper] += np.asarray(lid_closure)[:, None, None] * (clean[:, lower] - clean[:, upper])
    noisy = clean + rng.normal(0, noise_px, clean.shape)
    # The crop is a rotated, scaled window of a bigger frame, as the face stage makes it.
    angle = np.radians(rng.uniform(-10, 10))
    k = rng.uniform(0.8, 1.6)
    a = k * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    b = np.array([crop / 2, crop / 2]) - a @ np.array([frame_size[1] * 0.55, frame_size[0] * 0.45])
    crop_tf = np.tile(np.concatenate([a, b[:, None]], axis=1), (n, 1, 1))
    frame_xy = np.einsum("ij,tnj->tni", np.linalg.inv(a), noisy[..., :2] - b)
    frame = np.concatenate([frame_xy, noisy[..., 2:] / k], axis=-1)
    transforms = np.zeros((n, 4, 4))
    if with_matrices:
        jitter = rotvec_to_matrix(rng.normal(0, np.radians(matrix_noise_deg) / np.sqrt(3), (n, 3)))
        rot_crop = jitter @ rotvec_to_matrix(motion.global_rot)
        transforms[:, :3, :3] = rot_z(np.full(n, angle)) @ rot_crop  # crop turns the head by -angle
        transforms[:, :3, 3] = [0.0, 0.0, -40.0]
        transforms[:, 3, 3] = 1.0
    x0, y0 = frame_xy[..., 0].min(1), frame_xy[..., 1].min(1)
    x1, y1 = frame_xy[..., 0].max(1), frame_xy[..., 1].max(1)
    track = FaceTrack(
        landmarks=frame.astype(np.float32), blendshapes=np.zeros((n, 52), np.float32),
        transforms=transforms.astype(np.float32), boxes=np.stack([x0, y0, x1, y1], 1).astype(np.float32),
        crop_transforms=crop_tf.astype(np.float32), detected=np.ones(n, bool),
        image_size=frame_size, crop_size=crop, fps=25.0,
    )
    return track, clean
