"""AED and APD the way the portrait-animation literature measures them: the official SMIRK
expression encoder (50 expression + 3 jaw values) and DECA's coarse encoder (head rotation), run
on the driving and the output frames with their official crops.

The weights are the user's own (the same files the FLAME tracker uses, `reenact doctor` lists
them under "encoders"); without them these two metrics are reported as not measured, and the
MediaPipe / dlib AED and APD stand alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...flame.landmarks import MEDIAPIPE_TO_IBUG68
from ...tracking.geometry import FLIP_YZ
from ..face_metrics import euler_angles
from ..weights import describe


@dataclass
class EncoderReading:
    smirk: np.ndarray | None   # (53,) SMIRK expression (50) and jaw (3, after SMIRK's clamps)
    angles: np.ndarray | None  # (3,) yaw, pitch, roll in degrees of DECA's global rotation


class EncoderFaces:
    """The encoders present (either may be None), each named with its weight file's digest."""

    def __init__(self, deca_path: Path | None, smirk_path: Path | None, device: str = "cpu") -> None:
        from ...tracking.encoders.checkpoint import load_deca_encoder, load_smirk_encoder

        self.device = device
        self.deca = load_deca_encoder(deca_path, device) if deca_path is not None else None
        self.smirk = load_smirk_encoder(smirk_path, device) if smirk_path is not None else None
        self.deca_version = describe(Path(deca_path)) if deca_path is not None else ""
        self.smirk_version = describe(Path(smirk_path)) if smirk_path is not None else ""

    @torch.no_grad()
    def read(self, frame: np.ndarray, landmarks478: np.ndarray) -> EncoderReading:
        """One RGB frame, cropped by each encoder's official rule from MediaPipe's 478 points (pixels)."""
        from ...tracking.encoders.preprocess import deca_input, smirk_input

        smirk = angles = None
        if self.smirk is not None:
            code = self.smirk.encode(smirk_input(frame, landmarks478)[0][None].to(self.device))
            smirk = np.concatenate([code.expression[0], code.jaw[0]]).astype(np.float64)
        if self.deca is not None:
            code = self.deca.encode(deca_input(frame, landmarks478[MEDIAPIPE_TO_IBUG68])[0][None].to(self.device))
            angles = deca_angles(code.pose[:, :3])[0]
        return EncoderReading(smirk, angles)


def deca_angles(rotvec: np.ndarray) -> np.ndarray:
    """(T, 3) DECA global rotations (axis-angle, FLAME axes) -> (T, 3) yaw, pitch, roll, degrees."""
    from scipy.spatial.transform import Rotation

    r = Rotation.from_rotvec(np.asarray(rotvec, np.float64)).as_matrix()
    # FLAME / DECA axes (y up, z toward the camera) -> the camera axes of euler_angles (y down, z forward)
    return euler_angles(FLIP_YZ @ r @ FLIP_YZ)
