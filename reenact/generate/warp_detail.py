"""The warp engine's "detail" resampling: a picture redrawn at a backward map in two bands.

The smooth band (below DETAIL_SIGMA) is interpolated bilinearly; the fine band (grain, halftone,
line art, pores) is taken from the nearest source pixel, so sub-pixel motion neither blurs nor
dims it (any interpolating filter zeroes the finest detail at half-pixel offsets); cheaper than
cubic. Used for the face (WarpEngine._resample) and for the eyes drawn in layers (warp_eyes).
"""

from __future__ import annotations

import cv2
import numpy as np

DETAIL_SIGMA = 1.5   # the source above this blur is carried by the nearest pixel
# The fine band fades out where the map scales the source by FINE_SCALE (stretched, squeezed) or
# beyond, and is whole within FINE_FULL (linear scale, source px per output px).
FINE_SCALE, FINE_FULL = (0.5, 2.0), (0.75, 1.4)


def detail_bands(source: np.ndarray) -> tuple[np.ndarray, ...]:
    """The bands of `source`: smooth (below DETAIL_SIGMA), fine (int16: smooth + fine == source),
    and the source's 3x3 minimum and maximum, which bound their sum."""
    smooth = cv2.GaussianBlur(source, (0, 0), DETAIL_SIGMA)
    cross = np.ones((3, 3), np.uint8)
    return smooth, source.astype(np.int16) - smooth, cv2.erode(source, cross), cv2.dilate(source, cross)


def detail_remap(bands: tuple[np.ndarray, ...], map_x: np.ndarray, map_y: np.ndarray,
                 fine_weight: np.ndarray | None = None) -> np.ndarray:
    """The picture of `bands` (`detail_bands`) at (map_x, map_y). `fine_weight` (per pixel) scales
    the fine band where the map squeezes or stretches the source too far for a nearest pixel to
    stand for it."""
    smooth, fine, low, high = bands
    # uint8 bilinear is OpenCV's fast path (int16 takes twice as long); the sum saturates
    smooth = cv2.remap(smooth, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    nearest = lambda band: cv2.remap(band, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)  # noqa: E731
    fine = nearest(fine)
    if fine_weight is not None:
        fine = np.rint(fine * fine_weight[..., None]).astype(np.int16)
    out = cv2.add(smooth.astype(np.int16), fine, dtype=cv2.CV_8U)
    # Beside a sharp edge the smooth band, read up to half a pixel away, plus the nearest pixel's
    # fine band over- or undershoots (a dark pupil went pure black, a catchlight white): keep every
    # value within the source's own 3x3 range around the nearest pixel, which the bilinear
    # footprint lies in.
    return cv2.min(cv2.max(out, nearest(low)), nearest(high))


def map_differences(map_x: np.ndarray, map_y: np.ndarray) -> tuple[np.ndarray, ...]:
    """A backward map's differences between neighbours: d/dx of x and y (h, w-1), d/dy of x and y (h-1, w)."""
    return np.diff(map_x, axis=1), np.diff(map_y, axis=1), np.diff(map_x, axis=0), np.diff(map_y, axis=0)


def map_scale(map_x: np.ndarray, map_y: np.ndarray, differences: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """Per pixel of a backward map, its linear scale: source px per output px, the square root of
    the map's Jacobian determinant (above 1 the source is squeezed, below 1 stretched).
    `differences`: the map's `map_differences`, when already taken."""
    xx, yx, xy, yy = differences if differences is not None else map_differences(map_x, map_y)
    scale = np.ones(map_x.shape, np.float32)
    scale[:-1, :-1] = np.sqrt(np.abs(xx[:-1] * yy[:, :-1] - yx[:-1] * xy[:, :-1]))
    return scale


def fine_weight(scale: np.ndarray) -> np.ndarray | None:
    """How much of the fine band (taken from the nearest source pixel) a pixel keeps at a map
    `scale`: all of it near 1; none where the source is squeezed FINE_SCALE[1] times or more (the
    nearest pixel skips source pixels: a hatched moire in hair pushed aside by a turning cheek) or
    stretched FINE_SCALE[0] times or less (each source pixel repeated: blocks). None: all kept."""
    low, high = FINE_SCALE
    weight = np.minimum(np.clip((scale - low) / (FINE_FULL[0] - low), 0, 1),
                        np.clip((high - scale) / (high - FINE_FULL[1]), 0, 1))
    return None if weight.min() >= 1.0 else weight


# `softness` measures an edge's blur by blurring it SOFTNESS_PROBE px more: a step blurred by s has
# its gradient lowered by s / hypot(s, probe). Gaussian blurs of 1.5 and 3 px added to a photo that
# reads 1.2 read 1.98 and 3.15 (hypot: 1.92, 3.23; a 1 px probe read the 3 px one 0.27 short).
SOFTNESS_PROBE = 2.0
SOFTNESS_MAX = 8.0      # px; a picture with no edge at all reads this soft
# Canny's thresholds for the edges measured, and the least of them to measure (a smooth painting
# with fewer reads as sharp: nothing to match)
_SOFTNESS_EDGES, _SOFTNESS_LEAST = (30, 80), 50


def _face_box(image: np.ndarray, points: np.ndarray, grow: float = 1.0) -> tuple[np.ndarray, np.ndarray] | None:
    """The grey picture (float32) over the bounding box of the landmarks `points`, grown `grow` times
    about its middle, and the box's corner (x, y); None if under 8 px."""
    pts = np.asarray(points, np.float64)[:, :2]
    middle, half = (pts.min(0) + pts.max(0)) / 2, grow * np.ptp(pts, 0) / 2
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(middle - half).astype(int), 0, (w, h))
    x1, y1 = np.clip(np.ceil(middle + half).astype(int) + 1, 0, (w, h))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    box = image[y0:y1, x0:x1]
    return (cv2.cvtColor(box, cv2.COLOR_RGB2GRAY) if box.ndim == 3 else box).astype(np.float32), np.array([x0, y0])


def _gradient(picture: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude (3x3) of a float32 grey picture."""
    return cv2.magnitude(cv2.Sobel(picture, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(picture, cv2.CV_32F, 0, 1, ksize=3))


def softness(image: np.ndarray, points: np.ndarray) -> float:
    """How soft the picture is over the face with landmarks `points`: the Gaussian blur (px) of its
    strongest edges (the median over the edge pixels whose gradient is in the face box's top
    tenth). Sharp photos read 1.1-1.3 (the lips' and lids' own soft edges), crisp paintings and
    cartoons 0.5-0.9, a photo enlarged 4x from a quarter of its size 2.1."""
    box = _face_box(image, points)
    if box is None:
        return 0.0
    grey = box[0]
    sharp, probed = _gradient(grey), _gradient(cv2.GaussianBlur(grey, (0, 0), SOFTNESS_PROBE))
    edges = cv2.Canny(np.clip(grey, 0, 255).astype(np.uint8), *_SOFTNESS_EDGES) > 0
    strong = edges & (sharp > np.percentile(sharp, 90))
    if strong.sum() < _SOFTNESS_LEAST:
        return 0.0
    ratio = sharp[strong] / np.maximum(probed[strong], 1e-6)
    blur = SOFTNESS_PROBE / np.sqrt(np.maximum(ratio ** 2 - 1.0, (SOFTNESS_PROBE / SOFTNESS_MAX) ** 2))
    return float(np.median(blur))


def grain(image: np.ndarray, points: np.ndarray) -> float:
    """How grainy the picture is over the face with landmarks `points`: the spread (grey levels, a
    robust standard deviation) of its fine band (above DETAIL_SIGMA) where the smooth band is flattest
    (its gradient in the face box's lowest 30 %). Clean photos read 0.4-1.9 (JPEG's and the skin's
    own fine texture), an old photo's film grain 2.9, the demo's scanned portrait 4.0, an old
    painting's craquelure 6.8."""
    box = _face_box(image, points)
    if box is None:
        return 0.0
    grey = box[0]
    smooth = cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMA)
    slope = _gradient(smooth)
    flat = slope <= np.percentile(slope, 30)
    return float(1.4826 * np.median(np.abs((grey - smooth)[flat])))


def grain_noise(shape: tuple[int, int], spread: float, seed: int, sigma: float) -> np.ndarray:
    """Grey noise (float64, `shape`, the same for a seed) whose detail finer than a blur of `sigma` px
    has the robust spread `spread` (grey levels), as `grain` measures a picture's."""
    noise = np.random.default_rng(seed).standard_normal(shape)
    return noise * spread / (1.4826 * float(np.median(np.abs(noise - cv2.GaussianBlur(noise, (0, 0), sigma)))))


# MediaPipe's iris centres and their rings (478-point mesh): a pupil is the darkest a photo shows
_IRISES = ((468, (469, 470, 471, 472)), (473, (474, 475, 476, 477)))


def black_level(image: np.ndarray, points: np.ndarray) -> float:
    """The darkest grey (levels) the picture shows around the face with landmarks `points`: the lower
    of the 0.5th percentile over the landmarks' box grown 1.5x about its middle (hair, collar and
    background beside the face; a padded canvas does not move it) and the 5th inside the darker pupil
    (half the iris's radius round its centre; a shut eye's lid reads light, a statue's blank eye
    mid-tone, so the first bounds it). 0 for a face under 8 px."""
    box = _face_box(image, points, 1.5)
    if box is None:
        return 0.0
    grey, corner = box
    darkest = float(np.percentile(grey, 0.5))
    pts = np.asarray(points, np.float64)
    for centre, ring in _IRISES if len(pts) >= 478 else ():
        radius = float(np.linalg.norm(pts[list(ring), :2] - pts[centre, :2], axis=1).mean())
        disc = np.zeros(grey.shape, np.uint8)
        cv2.circle(disc, tuple(int(v) for v in np.round(pts[centre, :2] - corner)), max(int(0.5 * radius), 1), 1, -1)
        if disc.any():
            darkest = min(darkest, float(np.percentile(grey[disc > 0], 5)))
    return darkest


# A picture drawn in flat colours (a 2D cartoon, cel shading, a poster) has FLAT_SHARE of its face's
# pixels or more within FLAT_TOLERANCE Lab units of its FLAT_PALETTE main colours (k-means). The
# shared portraits and the extra ones as toons (eight flat colours and ink, JPEG-saved) read
# 0.95-0.99; their photos, paintings, the 3D-rendered cartoon, greyscale and faded copies 0.20-0.81.
FLAT_PALETTE, FLAT_TOLERANCE, FLAT_SHARE = 8, 6.0, 0.9
_FLAT_SAMPLES = 20000    # face pixels the palette is fitted on at most (a fixed sample: the same every run)


def flat_colours(image: np.ndarray, points: np.ndarray) -> float:
    """The share of the face's pixels (inside the landmarks' hull; `image` RGB uint8) that lie within
    FLAT_TOLERANCE of its FLAT_PALETTE main colours: near 1 for a picture drawn in flat colours,
    0.2-0.8 for a photo or a painting; 0 for a face of under 64 px or a one-channel picture."""
    pts = np.asarray(points, np.float64)[:, :2]
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    if mask.sum() < 64 or image.ndim != 3:
        return 0.0
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)[mask > 0]
    if len(lab) > _FLAT_SAMPLES:
        lab = lab[np.random.default_rng(0).choice(len(lab), _FLAT_SAMPLES, replace=False)]
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
    _, labels, centres = cv2.kmeans(lab, FLAT_PALETTE, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return float((np.linalg.norm(lab - centres[labels.ravel()], axis=1) <= FLAT_TOLERANCE).mean())
