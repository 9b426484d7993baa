"""Square face crops: boxes from landmarks, temporal smoothing, and the similarity transforms."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d


def landmark_boxes(landmarks: np.ndarray, scale: float) -> np.ndarray:
    """(T, 3) square boxes as centre x, centre y, side from (T, N, 2+) landmarks.

    The side is `scale` times the larger extent of the landmarks, so the crop does not
    breathe when the mouth opens (height grows) or the head turns (width shrinks) by
    much less than the larger side changes.
    """
    xy = landmarks[..., :2]
    lo, hi = xy.min(1), xy.max(1)
    centre = (lo + hi) / 2
    side = (hi - lo).max(1) * scale
    return np.concatenate([centre, side[:, None]], axis=1).astype(np.float64)


def smooth_boxes(boxes: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing over time (offline, so no lag); the side twice as stiff."""
    if sigma <= 0 or len(boxes) < 2:
        return boxes.copy()
    out = boxes.copy()
    out[:, :2] = gaussian_filter1d(boxes[:, :2], sigma, axis=0, mode="nearest")
    out[:, 2] = gaussian_filter1d(boxes[:, 2], 2 * sigma, axis=0, mode="nearest")
    return out


def crop_transforms(boxes: np.ndarray, crop_size: int) -> np.ndarray:
    """(T, 2, 3) similarity frame→crop: the box's top-left corner maps to crop (0, 0), its side to crop_size."""
    k = crop_size / boxes[:, 2]
    x0 = boxes[:, 0] - boxes[:, 2] / 2
    y0 = boxes[:, 1] - boxes[:, 2] / 2
    m = np.zeros((len(boxes), 2, 3), np.float64)
    m[:, 0, 0] = k
    m[:, 1, 1] = k
    m[:, 0, 2] = -k * x0
    m[:, 1, 2] = -k * y0
    return m.astype(np.float32)


def corner_boxes(boxes: np.ndarray) -> np.ndarray:
    """Centre/side boxes as x0, y0, x1, y1."""
    half = boxes[:, 2:3] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1).astype(np.float32)


def warp_to_crop(frame: np.ndarray, transform: np.ndarray, crop_size: int) -> np.ndarray:
    return cv2.warpAffine(frame, transform.astype(np.float64), (crop_size, crop_size),
                          flags=cv2.INTER_AREA if transform[0, 0] < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def invert_transform(transform: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(transform.astype(np.float64)).astype(np.float32)


def paste_from_crop(frame_shape: tuple[int, int], crop: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Warp a crop back into frame coordinates (the inverse of `warp_to_crop`)."""
    h, w = frame_shape
    return cv2.warpAffine(crop, invert_transform(transform).astype(np.float64), (w, h),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
