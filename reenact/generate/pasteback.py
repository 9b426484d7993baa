"""Putting a generated face crop back into the full-resolution source picture."""

from __future__ import annotations

import cv2
import numpy as np

from ..faces.crop import invert_transform


def feathered_mask(size: int, feather: float = 0.08) -> np.ndarray:
    """(size, size) float mask, 1 in the middle, falling smoothly to 0 at the crop's border."""
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / max(feather * size, 1.0), 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible seam where the ramp starts
    return np.outer(ramp, ramp).astype(np.float32)


def match_colours(crop: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift and scale each channel of `crop` to the reference's mean and spread under `mask`.

    Generators drift in colour; matching in Lab against the source crop keeps the pasted face the
    same colour as its surroundings.
    """
    weights = mask.astype(np.float64)
    if weights.sum() < 1:
        return crop
    a = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float64)
    b = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float64)
    out = np.empty_like(a)
    for c in range(3):
        mu_a, mu_b = np.average(a[..., c], weights=weights), np.average(b[..., c], weights=weights)
        sd_a = np.sqrt(np.average((a[..., c] - mu_a) ** 2, weights=weights)) + 1e-6
        sd_b = np.sqrt(np.average((b[..., c] - mu_b) ** 2, weights=weights)) + 1e-6
        out[..., c] = (a[..., c] - mu_a) * (sd_b / sd_a) + mu_b
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def paste_back(frame: np.ndarray, crop: np.ndarray, transform: np.ndarray, feather: float = 0.08,
               colour_reference: np.ndarray | None = None) -> np.ndarray:
    """`crop` (made through the frame→crop similarity `transform`) blended into a copy of `frame`."""
    size = crop.shape[0]
    mask = feathered_mask(size, feather)
    if colour_reference is not None:
        crop = match_colours(crop, colour_reference, mask > 0.5)
    h, w = frame.shape[:2]
    inverse = invert_transform(transform).astype(np.float64)
    warped = cv2.warpAffine(crop, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, inverse, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    return np.clip(frame * (1 - alpha) + warped * alpha + 0.5, 0, 255).astype(np.uint8)
