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


# MagicPortrait's crop_process.py: a square of 1.5x the detector box width (height ignored), centred
# on the box, mapped onto (80..432) of a 512 canvas, so the canvas spans 512/352 * 1.5 = 2.18 box widths.
OFFICIAL_SQUARE = 1.5
OFFICIAL_TARGET = 352 / 512
# An image is taken as already cropped when the official rule would move it by less than this.
ALREADY_CROPPED_SCALE = 0.04
ALREADY_CROPPED_SHIFT = 0.02   # of the side


def official_boxes(detector_boxes: np.ndarray) -> np.ndarray:
    """(T, 3) centre/side canvas boxes by the official rule from (T, 4) x0, y0, x1, y1 detector boxes.

    The canvas side is 1.5 * width / (352 / 512) = 2.18 * width, centred on the box centre; like
    the official tool, the first box is used for every frame (a static crop for a video)."""
    b = np.asarray(detector_boxes, np.float64).reshape(-1, 4)
    width = b[0, 2] - b[0, 0]
    centre = (b[0, :2] + b[0, 2:]) / 2
    side = OFFICIAL_SQUARE * width / OFFICIAL_TARGET
    return np.tile(np.array([centre[0], centre[1], side]), (len(b), 1))


def detector_box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(T, 4) x0, y0, x1, y1: the extent of MediaPipe's 478 points, our stand-in for the official
    detector's (insightface antelopev2) face box, which reenact does not ship."""
    xy = np.asarray(landmarks, np.float64)[..., :2]
    return np.concatenate([xy.min(1), xy.max(1)], axis=1)


def is_already_cropped(box: np.ndarray, image_size: tuple[int, int]) -> bool:
    """True when a square image already is the official crop of its face (within a few percent)."""
    h, w = image_size
    if h != w:
        return False
    cx, cy, side = np.asarray(box, np.float64)[:3]
    return (abs(side / w - 1) < ALREADY_CROPPED_SCALE and abs(cx / w - 0.5) < ALREADY_CROPPED_SHIFT
            and abs(cy / h - 0.5) < ALREADY_CROPPED_SHIFT)


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
