"""Per-frame confidence of a tracked clip, and holding the expression through frames that fail it.

A hand over the mouth or a half-hidden face still gives MediaPipe landmarks it is confident
about: it invents a closed, neutral mouth, and a landmark fit follows it without a word
(expression off by 35-80 %, issue 12). Signals, each cheap:

* the face stage filled the frame in (no detection);
* the landmark residual is an outlier for the clip (robust z-score);
* MediaPipe's blendshapes are not finite;
* the mouth has lost its detail: lips, teeth and the lip line always carry strong edges, so the
  mean gradient magnitude in the landmark mouth box, relative to the whole face box, drops when
  something covers the mouth (on the shared clips with a skin-coloured patch over the mouth:
  0.32-0.45 against 1.0-1.8 for the same frames uncovered). A frame is flagged below
  `mouth_detail_ratio` times the clip's median.

Flagged frames keep the expression and jaw interpolated from the nearest good frames, with a
warning that names them.
"""

from __future__ import annotations

import logging
from typing import Iterable

import cv2
import numpy as np

from ..faces.types import FaceTrack
from .types import HeadTrack

log = logging.getLogger("reenact")

MOUTH_POINTS = (61, 291, 0, 17, 13, 14)   # MediaPipe: mouth corners, upper and lower lip (outer, inner)


def mouth_detail(frames: Iterable[np.ndarray], face_track: FaceTrack) -> np.ndarray:
    """(T,) mean gradient magnitude in the mouth box / in the face box, per RGB frame."""
    out = []
    for t, frame in enumerate(frames):
        if t >= len(face_track):
            break
        points = face_track.landmarks[t, :, :2]
        if not np.isfinite(points).all():
            out.append(np.nan)
            continue
        grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float32)
        magnitude = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        mouth = points[list(MOUTH_POINTS)]
        (x0, y0), (x1, y1) = mouth.min(0), mouth.max(0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half_w, half_h = (x1 - x0) * 0.65, max(y1 - y0, (x1 - x0) * 0.4) * 0.65
        out.append(_box_mean(magnitude, cx - half_w, cy - half_h, cx + half_w, cy + half_h)
                   / max(_box_mean(magnitude, *points.min(0), *points.max(0)), 1e-6))
    return np.asarray(out, np.float64)


def _box_mean(image: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> float:
    h, w = image.shape
    xa, xb = int(np.clip(x0, 0, w - 1)), int(np.clip(np.ceil(x1), 1, w))
    ya, yb = int(np.clip(y0, 0, h - 1)), int(np.clip(np.ceil(y1), 1, h))
    part = image[ya:max(yb, ya + 1), xa:max(xb, xa + 1)]
    return float(part.mean()) if part.size else 0.0


def unreliable_frames(residuals: np.ndarray, detected: np.ndarray, blendshapes: np.ndarray | None,
                      threshold: float, mouth: np.ndarray | None = None, mouth_ratio: float = 0.6) -> np.ndarray:
    """(T,) bool: frames whose fitted expression should not be trusted.

    A frame is flagged when the face stage filled it in (no detection), when its landmark
    residual is an outlier (more than `threshold` robust deviations, 1.4826 MAD, above the
    clip's median, and at least 1 px above it), when MediaPipe's blendshapes are not finite, or
    when its mouth detail (`mouth_detail`, if given) is below `mouth_ratio` x the clip's median."""
    residuals = np.asarray(residuals, np.float64)
    flagged = ~np.asarray(detected, bool)
    if len(residuals) >= 5:
        median = np.median(residuals[~flagged]) if (~flagged).any() else np.median(residuals)
        mad = 1.4826 * np.median(np.abs(residuals - median))
        flagged |= residuals > median + max(threshold * mad, 1.0)
    if blendshapes is not None and len(blendshapes) == len(residuals):
        b = np.asarray(blendshapes, np.float64)
        flagged |= ~np.isfinite(b).all(axis=1)
    if mouth is not None and len(mouth) == len(residuals) and np.isfinite(mouth).any():
        flagged |= np.nan_to_num(mouth, nan=np.inf) < mouth_ratio * np.nanmedian(mouth)
    return flagged


def hold_through(values: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Values of flagged frames replaced by linear interpolation between the nearest good frames
    (held at the ends); unchanged when no frame is good."""
    good = np.flatnonzero(~flagged)
    if len(good) == 0 or not flagged.any():
        return values
    out = np.array(values, copy=True)
    t = np.arange(len(values))
    flat = out.reshape(len(values), -1)
    for j in range(flat.shape[1]):
        flat[:, j] = np.interp(t, good, flat[good, j])
    return flat.reshape(out.shape).astype(values.dtype)


def hold_unreliable_frames(track: HeadTrack, face_track: FaceTrack, residual_threshold: float,
                           mouth: np.ndarray | None = None, mouth_ratio: float = 0.6) -> HeadTrack:
    """Expression and jaw held (interpolated) through unreliable frames, with a warning naming them;
    the per-frame confidence (1 good, 0 flagged) goes into the track."""
    flagged = unreliable_frames(track.residuals, face_track.detected, face_track.blendshapes,
                                residual_threshold, mouth, mouth_ratio)
    params = dict(track.params)
    params["confidence"] = (~flagged).astype(np.float32)
    if flagged.any() and not flagged.all():
        for key in ("expression", "jaw"):
            params[key] = hold_through(params[key], flagged)
        frames = np.flatnonzero(flagged)
        shown = ", ".join(str(int(f)) for f in frames[:20]) + (" …" if len(frames) > 20 else "")
        log.warning("tracking: %d frame(s) look occluded or unreliable; expression held through them: %s",
                    len(frames), shown)
    meta = dict(track.meta, unreliable_frames=" ".join(str(int(f)) for f in np.flatnonzero(flagged)))
    return HeadTrack(**{**track.__dict__, "params": params, "meta": meta})
