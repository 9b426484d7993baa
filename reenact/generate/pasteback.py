"""Putting a generated face crop back into the full-resolution source picture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from ..faces.crop import invert_transform


def feathered_mask(size: int, feather: float = 0.08) -> np.ndarray:
    """(size, size) float mask, 1 in the middle, falling smoothly to 0 at the crop's border."""
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / max(feather * size, 1.0), 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible seam where the ramp starts
    return np.outer(ramp, ramp).astype(np.float32)


@dataclass(frozen=True)
class ColourTransform:
    """Per-channel shift and scale in Lab, taking generated crops to the source crop's colours.

    Fitted once per clip, never per frame: a per-frame fit sees a dark open mouth (4% of the crop)
    as a darker frame and brightens everything else by several grey levels, so brightness pumps
    with speech. One transform for the clip keeps every unchanged pixel unchanged."""

    mean_from: np.ndarray     # (3,) Lab means of the generated crops
    mean_to: np.ndarray       # (3,) Lab means of the reference
    gain: np.ndarray          # (3,) ratio of spreads

    @classmethod
    def fit(cls, crops: Sequence[np.ndarray], reference: np.ndarray, mask: np.ndarray) -> "ColourTransform":
        """Statistics pooled over all `crops` (e.g. the clip's first chunk) under `mask`."""
        weights = mask.astype(np.float64)
        if weights.sum() < 1 or not len(crops):
            return cls.identity()
        b = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float64)
        a = np.stack([cv2.cvtColor(c, cv2.COLOR_RGB2LAB) for c in crops]).astype(np.float64)
        wa = np.broadcast_to(weights, a.shape[:3])
        mu_a = np.array([np.average(a[..., c], weights=wa) for c in range(3)])
        mu_b = np.array([np.average(b[..., c], weights=weights) for c in range(3)])
        sd_a = np.array([np.sqrt(np.average((a[..., c] - mu_a[c]) ** 2, weights=wa)) for c in range(3)]) + 1e-6
        sd_b = np.array([np.sqrt(np.average((b[..., c] - mu_b[c]) ** 2, weights=weights)) for c in range(3)]) + 1e-6
        return cls(mu_a, mu_b, sd_b / sd_a)

    @classmethod
    def identity(cls) -> "ColourTransform":
        return cls(np.zeros(3), np.zeros(3), np.ones(3))

    def apply(self, crop: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float64)
        out = (lab - self.mean_from) * self.gain + self.mean_to
        return cv2.cvtColor(np.clip(out + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def match_colours(crop: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One crop matched on its own statistics (a still; for clips fit one `ColourTransform`)."""
    return ColourTransform.fit([crop], reference, mask).apply(crop)


def paste_back(frame: np.ndarray, crop: np.ndarray, transform: np.ndarray, feather: float = 0.08,
               colour: ColourTransform | None = None) -> np.ndarray:
    """`crop` (made through the frame→crop similarity `transform`) blended into a copy of `frame`,
    after the clip's colour transform when one is given."""
    size = crop.shape[0]
    mask = feathered_mask(size, feather)
    if colour is not None:
        crop = colour.apply(crop)
    h, w = frame.shape[:2]
    inverse = invert_transform(transform).astype(np.float64)
    warped = cv2.warpAffine(crop, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, inverse, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    return np.clip(frame * (1 - alpha) + warped * alpha + 0.5, 0, 255).astype(np.uint8)
