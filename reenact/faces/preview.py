"""Landmarks drawn over the input, to look at."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .types import FaceTrack


def draw_landmarks(frame: np.ndarray, landmarks: np.ndarray, box: np.ndarray | None = None,
                   detected: bool = True) -> np.ndarray:
    out = frame.copy()
    radius = max(1, round(max(frame.shape[:2]) / 400))
    colour = (0, 255, 0) if detected else (255, 160, 0)  # amber marks frames filled by interpolation
    for x, y in landmarks[:, :2]:
        cv2.circle(out, (int(round(x)), int(round(y))), radius, colour, -1, cv2.LINE_AA)
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), max(1, radius), cv2.LINE_AA)
    return out


def write_preview(source: Path, track: FaceTrack, out: Path, max_frames: int | None = None, progress=None) -> Path:
    from ..io.images import is_image_path, read_image, write_image
    from ..io.video import iter_frames
    from ..io.writer import write_video

    if is_image_path(source):
        return write_image(out, draw_landmarks(read_image(source), track.landmarks[0], track.boxes[0]))
    frames = iter_frames(source, max_frames=max_frames)
    if progress:
        frames = progress(frames, len(track), "preview")
    drawn = (draw_landmarks(f, track.landmarks[i], track.boxes[i], bool(track.detected[i]))
             for i, f in enumerate(frames))
    return write_video(out, drawn, track.fps or 25.0)
