"""FLAME tracker: fit one identity and per-frame expression, jaw, head rotation and camera to landmarks.

The fit works in the square crop of each frame (pixels rescaled to a 512 crop, so weights do not
depend on the crop size) with DECA's weak-perspective camera: for a posed point (X, Y, Z)
    u = (s (X + tx) + 1) * crop / 2,    v = (-s (Y + ty) + 1) * crop / 2.
Model landmarks are the 68 iBUG points with FLAME's fixed contour (MediaPipe's contour points are
surface points, not silhouettes), plus the dense MediaPipe embedding when the user has one;
MediaPipe's landmark depth (centred per frame) counts with a small weight.

1. Rotation initialised from MediaPipe's facial transformation matrix (a Procrustes fit of the
   template landmarks to MediaPipe's 3D points where the matrix is missing); camera by least squares.
2. Identity: shape plus the per-frame parameters of up to `shape_frames` frames spread over the
   clip, fitted jointly.
3. Per frame, in overlapping chunks (memory does not grow with the clip): expression, jaw,
   rotation and camera with the shape fixed; robust (pseudo-Huber) landmark loss, Gaussian priors,
   and temporal smoothness (landmark and head-rotation acceleration, expression change).
All stages are Levenberg-Marquardt with exact Jacobians of a closed form of FLAME's landmarks
(flame_closed_form.py; equal to smplx's LBS with the neck and eyes at rest, which the tracker keeps them
at). Temporal terms couple neighbouring frames, so each chunk's normal equations are block-banded
and solved exactly. Runs on CUDA when available.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

import numpy as np
import torch
from scipy.ndimage import minimum_filter1d

from ..errors import NoFaceError
from ..faces.shots import shot_ids
from ..faces.types import FaceTrack
from ..faces.visibility import in_picture, seen_share
from ..flame.head import CONTOUR, DENSE, FlameHead, load_flame_head
from ..flame.landmarks import MEDIAPIPE_EYELIDS
from ..flame.model import FlameModel
from ..schema import FlameFitSettings
from ..threads import torch_threads
from .flame_closed_form import REF, T_UNIT, FrameParams, LandmarkMaps, so3_log, world_landmarks
from .flame_solver import FitWeights, FrameFitter, History, Observations
from .completion import held_where_cut, pose_trust
from .confidence import hold_unreliable_frames, mouth_evidence
from .geometry import FLIP_YZ, mediapipe_rotation_in_crop, similarity_procrustes
from .mesh_tracker import canonical_reference
from .types import HeadTrack

log = logging.getLogger("reenact")
Frames = Callable[[], Iterable[np.ndarray]]   # a fresh iterator over the track's RGB frames


# A landmark past the picture's edge counts this much of one it sees. Guessed points still carry
# the head's pose: left out altogether, a half face's rotation was worse (synthetic head, jaw
# opening, a guessed neutral half: rotation 1.44 -> 1.96 degrees; at a quarter 1.26).
GUESSED_WEIGHT = 0.25
# Frames either side of one whose face the edge cuts whose turn is held as well: the fit's rotation
# smoothness carried an 8-degree misread 3-4 frames into the whole-face frames beside it (synthetic head)
HOLD_REACH = 4


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _no_encoders():
    from .encoders.routing import EncoderOutputs

    return EncoderOutputs(None, None, None)


def fit_chunks(n: int, size: int, overlap: int, cuts: np.ndarray | None = None) -> list[tuple[slice, bool]]:
    """The frames of each fitting chunk, in order, and whether it joins the chunk before: it then
    re-fits that chunk's last `overlap` frames (which so see the future too) and holds the two
    before them, so chunks meet without seams. No chunk reaches across a cut (`cuts` (T,) bool,
    faces/shots.py): the frames after one start afresh, with no smoothness tying them to the
    other shot's."""
    overlap = min(max(overlap, 0), size // 2)
    starts = [] if cuts is None else [int(c) for c in np.flatnonzero(cuts) if c > 0]
    chunks, done = [], 0
    while done < n:
        joined = done > 0 and done not in starts
        first = max(done - overlap, 0) if joined else done
        stop = min([first + size, n] + [c for c in starts if c > first])
        chunks.append((slice(first, stop), joined))
        done = stop
    return chunks


class FlameTracker:
    """Tracker backend "flame"."""

    name = "flame"
    geometry = "flame"

    def __init__(self, head: FlameHead, settings: FlameFitSettings | None = None, deca=None, smirk=None) -> None:
        """deca / smirk: the optional official encoders (reenact.tracking.encoders); without one, the
        parameters it would give come from the landmark fit."""
        self.settings = s = settings or FlameFitSettings()
        self.deca, self.smirk = deca, smirk
        if head.model.n_shape != s.n_shape or head.model.n_expression != s.n_expression:
            head = FlameHead(FlameModel(head.model.data, s.n_shape, s.n_expression), head.landmarks, head.mediapipe)
        self.head = head
        self.device = pick_device(s.device)
        self.lset = head.landmark_set(s.use_dense)
        self.maps = LandmarkMaps.build(head, self.lset, self.device)
        w = np.ones(len(self.lset.kind))
        w[self.lset.kind == CONTOUR] = s.contour_weight
        w[self.lset.kind == DENSE] = s.dense_weight
        # Blinks stay out of the expression (the official routing feeds SMIRK's expression, whose
        # eyelids are separate and dropped): with eyelid blendshapes they are fitted as their own,
        # cheaper unknowns; without, the eyelid-margin landmarks count `eyelid_weight` only.
        self.n_eyelids = head.model.n_eyelids
        if not self.n_eyelids:
            w[np.isin(self.lset.mediapipe_index, MEDIAPIPE_EYELIDS)] *= s.eyelid_weight
        self.n_coefficients = s.n_expression + self.n_eyelids     # the fit's expression block
        scale = np.concatenate([np.ones(s.n_expression), np.full(self.n_eyelids, s.eyelid_prior)])
        self.point_weights = torch.as_tensor(w, dtype=torch.float64, device=self.device)
        self.fitter = FrameFitter(self.maps, FitWeights(
            prior=s.noise_px ** 2, robust2=s.robust_px ** 2, jaw_side_sigma=s.jaw_side_sigma,
            accel=s.smooth_accel, expression_change=s.smooth_expression,
            rotation_accel=s.smooth_rotation * float(self.point_weights.sum()) * 100.0 ** 2), self.point_weights,
            torch.as_tensor(scale, dtype=torch.float64, device=self.device))

    @classmethod
    def ready(cls, inventory: Any) -> str | None:
        missing = inventory.missing("flame")
        return None if not missing else f"FLAME needs {missing[0].name} in {missing[0].path.parent} (see `reenact doctor`)"

    @classmethod
    def from_cfg(cls, cfg: Any) -> "FlameTracker":
        from .encoders.assets import encoder_files
        from .encoders.checkpoint import load_deca_encoder, load_smirk_encoder

        settings = FlameFitSettings.from_config(cfg.tracking.flame)
        deca_path, smirk_path = encoder_files(cfg)
        device = pick_device(settings.device)
        return cls(load_flame_head(cfg, settings.n_shape, settings.n_expression), settings,
                   deca=load_deca_encoder(deca_path, device) if deca_path else None,
                   smirk=load_smirk_encoder(smirk_path, device) if smirk_path else None)

    @property
    def cache_tag(self) -> str:
        """Distinguishes cached tracks made with and without the encoders and eyelid blendshapes."""
        return "".join(t for t, m in (("+deca", self.deca), ("+smirk", self.smirk),
                                      ("+eyelids", self.n_eyelids or None)) if m is not None)

    # ------------------------------------------------------------------------------------------
    def track(self, face_track: FaceTrack, progress: Callable[[int, int], None] | None = None,
              frames: Frames | None = None) -> HeadTrack:
        """Fit the clip (or a one-frame photo); returns FLAME parameters per frame in the crop frame.

        With `frames` (the clip's RGB frames, in track order) and encoder weights, the encoders'
        parameters replace the fitted ones as the official code routes them (encoders/routing.py);
        the track's meta `sources` says where each parameter came from."""
        from .encoders.routing import encode_clip, route

        with torch_threads(self.settings.cpu_threads if self.device.type == "cpu" else 0), torch.no_grad():
            fit = self._track(face_track, progress)
            mouth, lips = mouth_evidence(face_track, frames)
            fit = hold_unreliable_frames(fit, face_track, self.settings.confidence_residual, mouth,
                                         self.settings.mouth_detail_ratio, lips=lips)
            if frames is None or (self.deca is None and self.smirk is None):
                return route(fit, _no_encoders())
            routed = route(fit, encode_clip(frames(), face_track, self.deca, self.smirk, device=self.device))
            log.info("flame parameters: %s", routed.meta["sources"])
            return routed

    def _track(self, face_track: FaceTrack, progress: Callable[[int, int], None] | None) -> HeadTrack:
        s, dev, f64 = self.settings, self.device, torch.float64
        n = len(face_track)
        crop = float(face_track.crop_size)
        lmk = face_track.landmarks_in_crop().astype(np.float64)
        target = lmk[:, self.lset.mediapipe_index] * (REF / crop)        # (T, L, 3) px of a 512 crop
        valid = np.isfinite(target[..., :2]).all(axis=2)                 # (T, L)
        # past the picture's edge (a pan, a head at the border) MediaPipe guesses the face, and its
        # guess follows the expression poorly: the fit leans on the points it sees, and FLAME
        # completes the rest (BENCHMARKS.md, fourteenth stop)
        shown = seen_share(face_track.landmarks, face_track.image_size)
        seen = GUESSED_WEIGHT + (1.0 - GUESSED_WEIGHT) * shown[:, self.lset.mediapipe_index]
        frame_ok = valid.sum(axis=1) >= 6
        if not frame_ok.any():
            raise NoFaceError("no frame of the face track has landmarks; nothing to track")
        frame_w = np.where(np.asarray(face_track.detected, bool), 1.0, s.interpolated_weight) * frame_ok
        depth = np.where(np.isfinite(target[..., 2]), target[..., 2], 0.0)
        has_depth = (np.abs(depth) * valid).max(axis=1) > 1e-6          # a face stage without depth gives zeros
        obs = Observations(
            target=torch.as_tensor(np.nan_to_num(target), dtype=f64, device=dev),
            weight=torch.as_tensor(valid * seen * frame_w[:, None], dtype=f64, device=dev) * self.point_weights,
            depth=torch.as_tensor(has_depth * s.depth_weight, dtype=f64, device=dev))
        rot0 = torch.as_tensor(self._initial_rotations(face_track, lmk), dtype=f64, device=dev)

        # 1-2. identity from frames spread over the clip (every frame of a short clip or a photo)
        good = np.flatnonzero(frame_w >= 1.0) if (frame_w >= 1.0).any() else np.flatnonzero(frame_ok)
        keys = np.unique(good[np.linspace(0, len(good) - 1, min(s.shape_frames, len(good))).round().astype(int)])
        shape = torch.zeros(s.n_shape, dtype=f64, device=dev)
        p_keys = self._initial_params(rot0[keys], obs.index(keys), shape)
        shape, p_keys = self.fitter.fit(shape, p_keys, obs.index(keys), s.shape_iterations,
                                        temporal=False, fit_shape=True)

        # 3. every frame, in overlapping chunks (fit_chunks: joined without seams, apart at cuts),
        # shape fixed
        out = FrameParams(torch.zeros(n, 3, 3, dtype=f64), torch.zeros(n, 3, 3, dtype=f64),
                          torch.zeros(n, 3, dtype=f64), torch.zeros(n, self.n_coefficients, dtype=f64))
        residuals = np.zeros(n, np.float32)
        for sl, joined in fit_chunks(n, s.chunk_size, s.chunk_overlap, face_track.cuts):
            first = sl.start
            history = None
            if joined:
                held = out.index(slice(max(first - 2, 0), first))
                held = FrameParams(*(x.to(dev) for x in (held.rot, held.jaw, held.cam, held.expression)))
                history = History(self.fitter.project(shape, held)[..., :2], held.expression, so3_log(held.rot))
            p = self._initial_params(rot0[sl], obs.index(sl), shape, history)
            _, p = self.fitter.fit(shape, p, obs.index(sl), s.frame_iterations, temporal=True, history=history)
            err = (self.fitter.project(shape, p)[..., :2] - obs.target[sl, :, :2]).norm(dim=-1) * (crop / REF)
            # over the points the fit follows (not the eyelid margins it leaves out)
            m = torch.as_tensor(valid[sl], dtype=f64, device=dev) * (self.point_weights > 0)
            residuals[sl] = torch.sqrt((err ** 2 * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()
            out.rot[sl], out.jaw[sl], out.cam[sl], out.expression[sl] = (x.cpu() for x in (p.rot, p.jaw, p.cam,
                                                                                           p.expression))
            if progress is not None:
                progress(sl.stop, n)

        rot, jaw, cam = out.rot, out.jaw, out.cam.numpy()
        scale = np.exp(cam[:, 0])
        translation = cam[:, 1:] * T_UNIT / (scale[:, None] * REF / 2)
        f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
        # eyelids are reported, never rendered: alignment and the maps read "expression" only
        eyelids = {"eyelids": f32(out.expression[:, s.n_expression:])} if self.n_eyelids else {}
        shots = {"shot": shot_ids(face_track.cuts)} if face_track.cuts is not None else {}
        # a face the picture's edge cuts fits as turned away from it, as MediaPipe reads it (the guessed
        # points, a quarter of the weight, still pull): its yaw and roll are held from the frames of
        # the shot that show the whole face, as the mesh tracker's (the expression keeps the fit's own).
        # The fit's rotation smoothness carries the misread turn into the frames beside a cut one,
        # so they are held too (HOLD_REACH)
        # (a frame without landmarks is bridged by the fit's smoothness, not held: nothing misread it)
        trust = np.where(frame_ok, pose_trust(shown, canonical_reference()[1]), 1.0)
        trust = minimum_filter1d(trust, 2 * HOLD_REACH + 1, mode="nearest")
        global_rot = held_where_cut(so3_log(rot).numpy(), trust, shots.get("shot"))
        return HeadTrack(
            backend=self.name, geometry=self.geometry,
            params={"shape": f32(shape.cpu()), "expression": f32(out.expression[:, :s.n_expression]), **eyelids,
                    "jaw": f32(clamp_jaw(so3_log(jaw).numpy(), s.jaw_side_limit)), "global_rot": f32(global_rot),
                    "neck": np.zeros((n, 3), np.float32), "eyes": np.zeros((n, 6), np.float32),
                    "cam": f32(np.concatenate([scale[:, None], translation], axis=1)),
                    "in_picture": in_picture(shown), **shots},
            fps=float(face_track.fps), image_size=tuple(face_track.image_size), crop_size=int(face_track.crop_size),
            crop_transforms=np.asarray(face_track.crop_transforms, np.float32), residuals=residuals,
            meta={"flame_model": self.head.model.data.source, "landmarks": f"{len(self.lset.kind)} points",
                  "camera": "u = (s*(X+tx)+1)*crop/2, v = (-s*(Y+ty)+1)*crop/2 (crop pixels)",
                  "eyelids": ("fitted as eyelid blendshapes [left, right], kept out of the expression and the maps"
                              if self.n_eyelids else
                              f"no eyelid blendshapes: eyelid-margin landmarks weighted {s.eyelid_weight:g}")},
        )

    # ------------------------------------------------------------------------------------------
    def _initial_rotations(self, face_track: FaceTrack, lmk: np.ndarray) -> np.ndarray:
        """(T, 3, 3): MediaPipe's matrix where usable, else a 3D Procrustes of the template landmarks."""
        n = len(face_track)
        transforms = np.asarray(face_track.transforms, np.float64)
        if transforms.shape == (n, 4, 4):
            rot, ok = mediapipe_rotation_in_crop(transforms, np.asarray(face_track.crop_transforms, np.float64))
        else:
            rot, ok = np.tile(np.eye(3), (n, 1, 1)), np.zeros(n, bool)
        if not ok.all():
            eye = torch.eye(3, dtype=torch.float64, device=self.device)[None]
            rest = FrameParams(eye, eye, torch.zeros(1, 3, dtype=torch.float64, device=self.device),
                               torch.zeros(1, self.n_coefficients, dtype=torch.float64, device=self.device))
            shape0 = torch.zeros(self.settings.n_shape, dtype=torch.float64, device=self.device)
            template = world_landmarks(self.maps, shape0, rest)[0].cpu().numpy()
            pts = lmk[:, self.lset.mediapipe_index] @ FLIP_YZ   # image axes -> model axes
            w = np.isfinite(pts).all(axis=2).astype(np.float64)
            need = ~ok & (w.sum(axis=1) >= 3)
            if need.any():
                rot[need] = similarity_procrustes(template, np.nan_to_num(pts[need]), w[need])[0]
            ok |= need
        if ok.any() and not ok.all():  # no matrix and no landmarks: borrow the nearest frame's rotation
            known = np.flatnonzero(ok)
            nearest = known[np.abs(np.arange(n)[:, None] - known[None]).argmin(axis=1)]
            rot = rot[nearest]
        return rot

    def _initial_params(self, rot: torch.Tensor, obs: Observations, shape: torch.Tensor,
                        history: History | None = None) -> FrameParams:
        """Given rotations: jaw closed, expression zero (or the previous chunk's), least-squares camera."""
        b, dt, dev = len(rot), rot.dtype, rot.device
        eye = torch.eye(3, dtype=dt, device=dev).expand(b, 3, 3).clone()
        expression = (history.expression[-1:].expand(b, -1).clone() if history is not None
                      else torch.zeros(b, self.n_coefficients, dtype=dt, device=dev))
        p = FrameParams(rot, eye, torch.zeros(b, 3, dtype=dt, device=dev), expression)
        world = world_landmarks(self.maps, shape, p)
        # u - REF/2 = a X + c_u,  v - REF/2 = -a Y + c_v  (a = s REF/2): linear least squares
        w = obs.weight[..., None]
        x, y = world[..., 0:1], world[..., 1:2]
        du, dv = obs.target[..., 0:1] - REF / 2, obs.target[..., 1:2] - REF / 2
        sw = w.sum(1).clamp(min=1e-9)
        mx, my = (w * x).sum(1) / sw, (w * y).sum(1) / sw
        mu, mv = (w * du).sum(1) / sw, (w * dv).sum(1) / sw
        num = (w * ((x - mx[:, None]) * (du - mu[:, None]) - (y - my[:, None]) * (dv - mv[:, None]))).sum(1)
        den = (w * ((x - mx[:, None]) ** 2 + (y - my[:, None]) ** 2)).sum(1).clamp(min=1e-12)
        a = (num / den).clamp(min=1.0)
        p.cam = torch.cat([torch.log(a / (REF / 2)), (mu - a * mx) / T_UNIT, -(mv + a * my) / T_UNIT], dim=1)
        seen = (obs.weight.sum(1) > 0).cpu().numpy()
        if seen.any() and not seen.all():  # frames without landmarks start from the nearest seen frame
            known = np.flatnonzero(seen)
            nearest = known[np.abs(np.arange(b)[:, None] - known[None]).argmin(axis=1)]
            p.cam = p.cam[torch.as_tensor(nearest, device=dev)]
        return p


def clamp_jaw(jaw: np.ndarray, side_limit: float) -> np.ndarray:
    """SMIRK's jaw rule on axis-angle (T, 3): opening (x) not negative, yaw and roll within ±limit,
    so the landmark fit gives jaws of the kind MagicPortrait was trained on."""
    out = np.array(jaw, np.float64, copy=True)
    out[:, 0] = np.maximum(out[:, 0], 0.0)
    out[:, 1:] = np.clip(out[:, 1:], -side_limit, side_limit)
    return out
