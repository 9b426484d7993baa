"""Stage 1: face detection, 478 landmarks per frame, and smoothed aligned crops."""

from .detect import FaceOptions, detect_faces, detect_in_file
from .types import FaceTrack

__all__ = ["FaceOptions", "FaceTrack", "detect_faces", "detect_in_file"]
