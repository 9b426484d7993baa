"""Stage 1: face detection, 478 landmarks per frame, and smoothed aligned crops.

Names are imported on first use, so reading a small module of this package (the preset names,
the track types) does not load MediaPipe and OpenCV.
"""

_EXPORTS = {"FaceOptions": "..schema", "FaceTrack": ".types", "detect_faces": ".detect", "detect_in_file": ".detect"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(name)
