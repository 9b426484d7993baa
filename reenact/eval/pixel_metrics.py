"""Pixel metrics between two frames: pure functions of arrays, values in grey levels of 0..255.

Frames are (H, W, 3) or (H, W) arrays, uint8 or float, on the 0..255 scale. Frame sequences are
reduced to one number per clip by the caller (the mean over frames), so every function here
looks at one pair of frames at a time.
"""

from __future__ import annotations

import cv2
import numpy as np

PEAK = 255.0
PSNR_CAP_DB = 100.0          # identical frames have an infinite PSNR; report this instead
SSIM_SIGMA = 1.5             # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")
    return np.asarray(a, np.float64), np.asarray(b, np.float64)


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference, grey levels."""
    a, b = _pair(a, b)
    return float(np.abs(a - b).mean())


def mse(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _pair(a, b)
    return float(((a - b) ** 2).mean())


def psnr(a: np.ndarray, b: np.ndarray, cap: float = PSNR_CAP_DB) -> float:
    """10·log10(255² / MSE) in dB, at most `cap` (so identical frames give the cap, not infinity)."""
    err = mse(a, b)
    if err <= PEAK ** 2 * 10.0 ** (-cap / 10.0):
        return float(cap)
    return float(10.0 * np.log10(PEAK ** 2 / err))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004), Gaussian window sigma 1.5 truncated at 3.5 sigma,
    population statistics, averaged over the channels and over the frame minus a 5-pixel border
    (where the window would reach outside). Matches skimage's `structural_similarity(...,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)`."""
    a, b = _pair(a, b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    radius = int(3.5 * SSIM_SIGMA + 0.5)
    if min(a.shape[:2]) <= 2 * radius:
        raise ValueError(f"frames of {a.shape[1]}x{a.shape[0]} are too small for SSIM (need > {2 * radius} px)")
    size = 2 * radius + 1

    def blur(x: np.ndarray) -> np.ndarray:
        out = cv2.GaussianBlur(x, (size, size), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)
        return out.reshape(x.shape)

    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    smap = num / den
    return float(smap[radius:-radius, radius:-radius].mean())


def bg_rmse(a: np.ndarray, b: np.ndarray, face_mask: np.ndarray) -> float | None:
    """Root-mean-square difference over the pixels outside `face_mask` (True = face region,
    excluded). None when the mask covers the whole frame."""
    a, b = _pair(a, b)
    keep = ~np.asarray(face_mask, bool)
    if keep.shape != a.shape[:2]:
        raise ValueError(f"mask {keep.shape} does not match frames {a.shape[:2]}")
    if not keep.any():
        return None
    diff = (a - b)[keep]
    return float(np.sqrt((diff ** 2).mean()))


def head_mask(shape: tuple[int, int], landmarks: np.ndarray, scale: float = 1.8, forehead: float = 0.5) -> np.ndarray:
    """(H, W) bool: the head region of a face whose landmarks (68-point style: brows to chin) are
    given. Their bounding box is extended upwards by `forehead` times its height (forehead and
    hair carry no landmarks), and the ellipse inscribed in that box, scaled `scale` times about its
    centre, is the region: hair, ears and the top of the neck included."""
    h, w = shape
    pts = np.asarray(landmarks, np.float64)[:, :2]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    y0 -= forehead * (y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ax, ay = max((x1 - x0) / 2 * scale, 1.0), max((y1 - y0) / 2 * scale, 1.0)
    ys, xs = np.ogrid[:h, :w]
    return ((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2 <= 1.0


def mean_abs_change(previous: np.ndarray, current: np.ndarray, region: np.ndarray | None = None) -> float:
    """Frame-to-frame change: mean absolute difference of consecutive frames, grey levels, over
    the pixels of `region` ((H, W) bool) or the whole frame."""
    if region is None:
        return l1(previous, current)
    a, b = _pair(previous, current)
    return float(np.abs(a - b)[np.asarray(region, bool)].mean())


def flicker_ratio(output_changes: np.ndarray, driving_changes: np.ndarray, floor: float = 0.05) -> float:
    """Temporal instability of an output relative to its driving video: the output's mean
    frame-to-frame change (over its head region) divided by the driving's (1 = it changes as much as the driving does,
    above 1 = it shimmers more than the motion explains). `floor` (grey levels) keeps a frozen
    driving clip from dividing by almost zero."""
    out = float(np.mean(output_changes)) if len(output_changes) else 0.0
    drv = float(np.mean(driving_changes)) if len(driving_changes) else 0.0
    return out / max(drv, floor)
