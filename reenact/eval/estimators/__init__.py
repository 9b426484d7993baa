"""The measuring instruments of the evaluation, loaded once per process, each named with its version.

`Estimators.load` takes what this machine has: dlib (optional extra) for landmarks, head pose and
identity, ArcFace / LPIPS / Inception / I3D when their weight files are present, MediaPipe
(always bundled) for expression and as a fallback, and the user's SMIRK / DECA encoder weights for
the literature's AED / APD (`aed_smirk`, `apd_deca`, next to the MediaPipe / dlib `aed`, `apd`).
`reading(frame)` gives one frame's face measurements; `metric_info()` says, per metric, which
estimator measured it or why nothing did.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..weights import find_weight, missing
from .head_pose import DLIB68_FROM_MEDIAPIPE, head_angles

log = logging.getLogger("reenact")


@dataclass
class FaceReading:
    keypoints: np.ndarray            # (68, 2) dlib-ordered landmarks, pixels
    angles: np.ndarray | None        # (3,) yaw, pitch, roll, degrees
    expression: np.ndarray | None    # (51,) MediaPipe blendshape scores
    identity: np.ndarray | None      # embedding, when asked for
    smirk: np.ndarray | None = None        # (53,) SMIRK expression + jaw, when its weights are present
    deca_angles: np.ndarray | None = None  # (3,) yaw, pitch, roll (degrees) from DECA, likewise


@dataclass
class Estimators:
    weights_dir: Path
    device: str | None = None          # torch device for the networks; None: CUDA when there is one
    dlib: object | None = None
    mediapipe: object | None = None
    arcface: object | None = None
    lpips: object | None = None
    inception: object | None = None
    i3d: object | None = None
    encoders: object | None = None     # EncoderFaces, when SMIRK or DECA weights are present
    reasons: dict[str, str] = field(default_factory=dict)   # metric -> "not measured: …"
    _memo: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, weights_dir: Path, device: str | None = None, metrics: set[str] | None = None,
             encoder_paths: tuple[Path, Path] | None = None) -> "Estimators":
        """Everything usable for `metrics` (default: all). What is absent is recorded in `reasons`;
        a present but broken file raises AssetError (the user should replace it).
        encoder_paths: (deca_model.tar, SMIRK_em1.pt) where the user's encoder weights are or would
        be (reenact.tracking.encoders.assets.encoder_locations); None: not looked for."""
        from .dlib_faces import DlibFaces, dlib_missing_reason
        from .mediapipe_faces import MediaPipeFaces

        want = set(metrics) if metrics is not None else {"lpips", "fid", "fvd", "csim", "aed", "apd", "akd", "bg_rmse",
                                                          "aed_smirk", "apd_deca"}
        est = cls(Path(weights_dir), device)
        face_metrics = want & {"csim", "aed", "apd", "akd", "bg_rmse", "aed_smirk", "apd_deca"}
        if face_metrics:
            est.mediapipe = MediaPipeFaces()
            reason = dlib_missing_reason(est.weights_dir)
            if reason is None:
                est.dlib = DlibFaces(est.weights_dir)
            else:
                log.info("dlib estimators unavailable (%s); MediaPipe stands in where it can", reason)
        est._load_encoders(want, encoder_paths)
        if "csim" in want:
            path = find_weight("arcface", est.weights_dir)
            if path is not None:
                from .arcface import ArcFace

                est.arcface = ArcFace(path, est.torch_device)
            elif est.dlib is None or not est.dlib.can_recognise:
                est.reasons["csim"] = (dlib_missing_reason(est.weights_dir, need_recognition=True)
                                       or missing("arcface", est.weights_dir))
        if "lpips" in want:
            backbone, linear = find_weight("lpips_backbone", est.weights_dir), find_weight("lpips_linear", est.weights_dir)
            if backbone is None or linear is None:
                est.reasons["lpips"] = missing("lpips_backbone" if backbone is None else "lpips_linear", est.weights_dir)
            else:
                from .lpips import Lpips

                est.lpips = Lpips(backbone, linear, est.torch_device)
        for metric, key, attr in (("fid", "inception", "inception"), ("fvd", "i3d", "i3d")):
            if metric not in want:
                continue
            path = find_weight(key, est.weights_dir)
            if path is None:
                est.reasons[metric] = missing(key, est.weights_dir)
                continue
            from .torchscript import I3DFeatures, InceptionFeatures

            setattr(est, attr, (InceptionFeatures if key == "inception" else I3DFeatures)(path, est.torch_device))
        return est

    def _load_encoders(self, want: set[str], paths: tuple[Path, Path] | None) -> None:
        from .encoders import EncoderFaces

        found = {}
        for metric, key, path in (("apd_deca", "deca", paths[0] if paths else None),
                                  ("aed_smirk", "smirk", paths[1] if paths else None)):
            if metric not in want:
                continue
            if path is None:
                self.reasons[metric] = "not measured: no encoder weights were looked for"
            elif not Path(path).is_file():
                self.reasons[metric] = (f"not measured: {path} missing (the user's {key.upper()} weights; "
                                        "see `reenact doctor`, encoders)")
            else:
                found[key] = Path(path)
        if found:
            self.encoders = EncoderFaces(found.get("deca"), found.get("smirk"), self.torch_device)

    @property
    def torch_device(self) -> str:
        if self.device is None:
            import torch

            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    # -- per-metric estimator names -------------------------------------------------------------

    def estimator(self, metric: str) -> tuple[str, str] | None:
        """(estimator, version) that measures `metric` here, or None (see `reasons`)."""
        dl, mp, enc = self.dlib, self.mediapipe, self.encoders
        pixel = ("reenact.eval.pixel_metrics", "1")
        table = {
            "l1": pixel, "psnr": pixel, "ssim": pixel,
            "flicker": ("mean absolute frame-to-frame change, output / driving", "1"),
            "lpips": (self.lpips.name, self.lpips.version) if self.lpips else None,
            "fid": (self.inception.name, self.inception.version) if self.inception else None,
            "fvd": (self.i3d.name, self.i3d.version) if self.i3d else None,
            "csim": ((self.arcface.name, self.arcface.version) if self.arcface
                     else ("dlib ResNet face recognition (128-d)", dl.recognition_version)
                     if dl is not None and dl.can_recognise else None),
            "aed": ("MediaPipe blendshapes (51 scores; also the warp engine's tracker)", mp.version) if mp else None,
            "apd": (("dlib 68 landmarks + PnP on a generic head", dl.landmark_version) if dl
                    else ("MediaPipe facial transformation matrix (also the warp engine's tracker)", mp.version)
                    if mp else None),
            "akd": (("dlib 68 landmarks", dl.landmark_version) if dl
                    else ("MediaPipe 478 landmarks at the dlib-68 positions (also the warp engine's tracker)", mp.version)
                    if mp else None),
            "aed_smirk": (("SMIRK expression encoder: 50 expression + 3 jaw values, official crop", enc.smirk_version)
                          if enc is not None and enc.smirk is not None else None),
            "apd_deca": (("DECA coarse encoder: global head rotation as yaw/pitch/roll, official crop", enc.deca_version)
                         if enc is not None and enc.deca is not None else None),
            "bg_rmse": (("head region: ellipse around dlib 68 landmarks", dl.landmark_version) if dl
                        else ("head region: ellipse around MediaPipe landmarks", mp.version) if mp else None),
        }
        return table.get(metric)

    # -- one frame ------------------------------------------------------------------------------

    def reading(self, frame: np.ndarray, identity: bool = False, encoders: bool = True) -> FaceReading | None:
        """The largest face's measurements, or None when no estimator finds a face. `encoders=False`
        skips SMIRK / DECA (the source portrait needs neither)."""
        mp_read = self.mediapipe.read(frame) if self.mediapipe is not None else None
        keypoints = embedding = None
        if self.dlib is not None:
            found = self.dlib.read(frame, identity=identity and self.arcface is None and self.dlib.can_recognise)
            if found is not None:
                keypoints, embedding = found
        if keypoints is None and self.dlib is None and mp_read is not None:
            keypoints = mp_read.landmarks[DLIB68_FROM_MEDIAPIPE]
        if keypoints is None:
            return None
        if self.dlib is not None:
            angles = head_angles(keypoints, frame.shape[:2])
        else:
            angles = mp_read.angles if mp_read is not None else None
        if identity and self.arcface is not None:
            embedding = self.arcface.embed(frame, keypoints)
        # the encoders crop from MediaPipe's 478 points, as the official code and the tracker do
        coded = (self.encoders.read(frame, mp_read.landmarks)
                 if encoders and self.encoders is not None and mp_read is not None else None)
        return FaceReading(keypoints=keypoints, angles=angles, expression=mp_read.expression if mp_read is not None else None,
                           identity=embedding if identity else None,
                           smirk=coded.smirk if coded is not None else None,
                           deca_angles=coded.angles if coded is not None else None)

    def memo_reading(self, key, frame: np.ndarray) -> FaceReading | None:
        """`reading(frame)` remembered under `key`: the same driving frame is read once even when
        several sources are driven by it (cross-reenactment)."""
        if key not in self._memo:
            self._memo[key] = self.reading(frame)
        return self._memo[key]

    def close(self) -> None:
        if self.mediapipe is not None:
            self.mediapipe.close()

