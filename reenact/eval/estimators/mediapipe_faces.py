"""MediaPipe Face Landmarker readings of single frames: blendshapes (expression), head pose, landmarks.

MediaPipe also drives reenact's engines, so its expression reading of an output is not an
independent judge of the warp engine; the report says so next to every number it produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...faces.landmarker import MODEL_PATH, Landmarker, verified_model
from .head_pose import mediapipe_angles


@dataclass
class MediaPipeReading:
    landmarks: np.ndarray    # (478, 2) pixels
    expression: np.ndarray   # (51,) blendshape scores, the "_neutral" score dropped
    angles: np.ndarray       # (3,) yaw, pitch, roll in degrees


class MediaPipeFaces:
    name = "mediapipe"

    def __init__(self):
        import mediapipe

        verified_model()
        self._landmarker = Landmarker(max_faces=4, video=False)
        self.version = f"mediapipe {mediapipe.__version__}, {MODEL_PATH.name} (sha256 pinned)"

    def read(self, frame: np.ndarray) -> MediaPipeReading | None:
        faces = self._landmarker.detect(np.ascontiguousarray(frame, dtype=np.uint8))
        if not faces:
            return None
        face = max(faces, key=lambda f: f.area)
        return MediaPipeReading(face.landmarks[:, :2].astype(np.float64), face.blendshapes[1:].astype(np.float64),
                                mediapipe_angles(face.transform))

    def close(self) -> None:
        self._landmarker.close()
