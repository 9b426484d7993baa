"""Creases that open: a fold's shadow in the source is not stretched over the skin it hid.

At rest a closed mouth's corners are folds: MediaPipe's points beside a corner (57 and 185, 287
and 409) lie on one line with it, so the triangle between them is a sliver a pixel or two tall,
and all of it is the commissure's shadow. When the mouth opens into an O the corner drops below
the upper lip and the sliver becomes a triangle 15-20 times its area (a yawn, d18 on its own first
frame): the warp drew the shadow, magnified, as a brown smudge beside each corner. Real skin there
is unfolded skin, as light as around it.

So where a face triangle stretches the source CREASE_STRETCH times or more along some direction,
it is drawn from a copy of the source without its thin lines (a median filter CREASE_KERNEL of the
mouth's width across), fully from twice that stretch. Only the mouth's folds
(the engine passes the face's triangles below the nose): a lid's crease stays a crease when the
eye opens.
"""

from __future__ import annotations

import cv2
import numpy as np

from .warp_affine import largest_stretch

# Stretch (the largest factor a triangle's affine lengthens any direction of the source) from
# which a triangle is drawn crease-free, and at which fully. Lips parting in speech stretch their
# inner bands 2-3 times; a yawn's corner slivers 8 and more.
CREASE_STRETCH = (4.0, 8.0)
# The median filter's width, as a share of the source mouth's width: the commissure's shadow of a
# closed mouth measured 6-8 px beside a 91 px mouth. A grey-level closing (tried first) left half of
# it at 0.06 and, at 0.14, took the lit skin around s1's corners into a pale streak beside them.
CREASE_KERNEL = 0.14
CREASE_BLUR = 1.5     # px: the crease-free drawing fades in over about this much at a triangle's edge


class OpenedCreases:
    """Draws strongly stretched face triangles from a crease-free copy of the source."""

    def __init__(self, source: np.ndarray, roi: tuple[int, int, int, int], mouth_width: float):
        self.roi = roi
        self.size = int(max(3, round(CREASE_KERNEL * mouth_width))) | 1
        self._smoothed: np.ndarray | None = None    # made on first need: most clips never open a crease
        self._source = source

    def smoothed(self) -> np.ndarray:
        """The source over the ROI without features thinner than the kernel (a crease's shadow)."""
        if self._smoothed is None:
            x0, y0, x1, y1 = self.roi
            self._smoothed = cv2.medianBlur(np.ascontiguousarray(self._source[y0:y1, x0:x1]), self.size)
        return self._smoothed

    def weight(self, affines: np.ndarray, dst: np.ndarray, tris: np.ndarray) -> np.ndarray | None:
        """(h, w) share of each ROI pixel drawn crease-free, from the triangles `tris` at their target
        positions `dst` and their backward `affines`; None where no triangle stretches that far."""
        low, high = CREASE_STRETCH
        share = np.clip((largest_stretch(affines) - low) / (high - low), 0.0, 1.0)
        picked = np.flatnonzero(share > 0)
        if not len(picked):
            return None
        x0, y0, x1, y1 = self.roi
        weight = np.zeros((y1 - y0, x1 - x0), np.float32)
        corners = np.round((dst[tris[picked]] - (x0, y0)) * 16).astype(np.int32)
        for k in np.argsort(share[picked]):                  # the most stretched wins where they touch
            cv2.fillConvexPoly(weight, corners[k], float(share[picked[k]]), lineType=cv2.LINE_8, shift=4)
        return cv2.GaussianBlur(weight, (0, 0), CREASE_BLUR)

    def draw(self, region: np.ndarray, weight: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> None:
        """Blend, in place, the crease-free source at the map's positions into `region` (the ROI's
        warped pixels) by `weight`."""
        ys, xs = np.nonzero(weight > 1.0 / 255)
        if not len(ys):
            return
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        box = (slice(y0, y1), slice(x0, x1))
        at_x = map_x[box] - np.float32(self.roi[0])
        at_y = map_y[box] - np.float32(self.roi[1])
        filled = cv2.remap(self.smoothed(), at_x, at_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        w = weight[box][..., None]
        part = region[box].astype(np.float32)
        region[box] = np.rint(part + (filled.astype(np.float32) - part) * w).astype(np.uint8)
