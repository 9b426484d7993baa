"""Revealed skin for the warp engine: the detail of a cheek a turn brings into view.

A portrait turned a little shows one cheek at a grazing angle: the skin from the eye's outer corner
to the face's outline is squeezed into a few pixels. Turned the other way (a driving head turning
30 degrees across the camera from a source at 10), that cheek faces the camera and its triangles
lengthen the source two to three times across: every pore and fold became a streak, the cheek
a brushed band (Einstein on d18-turn). The other cheek, its mirror image, faces the camera in the
source and shows the same skin at nearly its size.

So where a face triangle lengthens the source REVEAL_STRETCH times or more along some direction
while the head is drawn turned (REVEAL_TURN), and its mirror triangle (MediaPipe's mesh is
symmetric: `mirror_partners`) would draw it at least MIRROR_GAIN times less stretched that way,
its detail (the drawing above a Gaussian of DETAIL_SHARE of the face's width) comes from the
mirror triangle, where that shows skin (SKIN_DETAIL) and no stronger than this side's own source
(OWN_DETAIL); its own smooth band (colour, shading, the light's side) stays. Lips, eyes and brows
are not mirrored: faces are least alike there, and they have their own drawing.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ..faces.topology import contour, mirror_partners
from .warp_affine import largest_stretch, signed_areas, triangle_affines

# Stretch (the largest factor a triangle lengthens the source, `largest_stretch`) from which a face
# triangle takes its mirror's detail, and at which wholly; over at least 1.5 times the detail band's
# sigma that way (fully), no less than one sigma (at all).
REVEAL_STRETCH = (1.6, 2.4)
# Only while the head is drawn turned this far from the source's pose (degrees of yaw), wholly from
# the second: talking stretches slivers beside the nose and the mouth's corners as much, in every frame.
REVEAL_TURN = (8.0, 16.0)
# The mirror must draw the skin MIRROR_GAIN[0] times less stretched to be used, wholly from the
# second (Einstein's cheek under the eye, stretched 3.6x at 30 degrees back, is 1.5-1.6x less in its mirror).
MIRROR_GAIN = (1.1, 1.4)
# The detail band: the drawing above a Gaussian of this share of the face's width (Einstein's 130 px
# face: 6 px; at 2.5 px the streaks were left, each as wide as the fold or shadow it was)
DETAIL_SHARE = 0.045
# The mirror's detail is taken where it is as strong as the face's skin shows at most SKIN_DETAIL[0]
# times over, and not from SKIN_DETAIL[1] times (hair over the other cheek, its outline, a mole). Its
# smooth band is no guide: the light falls on the two cheeks unequally (60-100 levels on Einstein's).
SKIN_DETAIL = (1.5, 2.5)
# Nor is it drawn stronger than OWN_DETAIL times what the source shows where this side is read from
# (at least OWN_FLOOR of the skin's): a statue's dark patches on one cheek are not the other's.
OWN_DETAIL, OWN_FLOOR = 1.5, 0.3
# Gaussians wider than this many px are taken on a picture scaled down to it (the same band, cheaper)
SMOOTH_DIRECT = 4.0
REVEAL_BLUR = 2.0     # px: the mirrored detail fades in over about this much at a triangle's edge
# features that are not mirrored: a face is least symmetric there
_KEPT = ("lips_outer", "lips_inner", "left_eye", "right_eye")
BROWS = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336)


class RevealedSkin:
    """Draws the fine detail of strongly stretched face triangles from their mirror triangles."""

    def __init__(self, source: np.ndarray, source_points: np.ndarray, tris: np.ndarray):
        """`source_points`: (N >= 468, 2) source landmarks; `tris`: the face triangles the engine
        draws (ids < 468)."""
        self.src = np.asarray(source_points, np.float64)[:, :2]
        self.sigma = max(DETAIL_SHARE * float(np.ptp(self.src[list(contour("face_oval")), 0])), 1.0)
        partner = mirror_partners()
        kept = np.zeros(len(self.src), bool)
        for name in _KEPT:
            kept[list(contour(name))] = True
        kept[list(BROWS)] = True
        self.tris = tris
        # every mesh point at its partner's source position: a triangle read there is its mirror
        self.mirrored_src = self.src.copy()
        self.mirrored_src[:len(partner)] = self.src[partner]
        # a triangle and its mirror turn opposite ways in a picture of a face; the same way, the
        # mirror is folded over in the source (hidden behind the nose) and has nothing to give
        own = signed_areas(self.src, tris)
        other = signed_areas(self.mirrored_src, tris)
        self.usable = ~kept[tris].any(1) & (own * other < 0)
        # the source's detail strength around the face (`_strength`), and the skin's: its median
        # over the drawable triangles' middles
        h, w = source.shape[:2]
        pad = 3 * self.sigma
        lo = np.maximum(np.floor(self.src[:len(partner)].min(0) - pad), 0).astype(int)
        hi = np.minimum(np.ceil(self.src[:len(partner)].max(0) + pad), [w, h]).astype(int)
        self.strength_origin = lo
        self.source_strength = self._strength(source[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32))
        middles = np.round(self.src[tris[self.usable]].mean(1) - lo).astype(int)
        sh, sw = self.source_strength.shape
        inside = (middles >= 0).all(1) & (middles[:, 0] < sw) & (middles[:, 1] < sh)
        self.skin_detail = max(float(np.median(self.source_strength[middles[inside, 1], middles[inside, 0]]))
                               if inside.any() else 0.0, 1.0)

    def weight(self, own_affines: np.ndarray, order: np.ndarray, dst: np.ndarray, roi: tuple[int, int, int, int],
               turn: float) -> np.ndarray | None:
        """(h, w) share of each ROI pixel drawn with mirrored detail, from the face triangles'
        backward affines (`own_affines`, in the drawing `order` of `tris`), their target corners
        `dst` and the yaw the head is drawn turned from the source's (`turn`, degrees); None where
        no triangle qualifies."""
        turning = float(np.clip((abs(turn) - REVEAL_TURN[0]) / (REVEAL_TURN[1] - REVEAL_TURN[0]), 0.0, 1.0))
        if turning == 0:                                     # most frames of a talking clip
            return None
        stretch = largest_stretch(own_affines)
        candidate = self.usable[order] & (stretch > REVEAL_STRETCH[0])
        if not candidate.any():
            return None
        picked, stretch, own = order[candidate], stretch[candidate], own_affines[candidate, :, :2]
        # the output direction each triangle lengthens the source most, and how far it spans that
        # way: a sliver at the face's side widened from 2 px to 4 is no streak
        along = np.linalg.svd(own)[2][:, 1, :]               # the right singular vector of the least gain
        span = np.ptp(np.einsum("kvj,kj->kv", dst[self.tris[picked]], along), axis=1)
        # how much less the mirror lengthens the source that way (a dropping jaw stretches both
        # sides of the chin alike, up and down)
        other = triangle_affines(dst, self.mirrored_src, self.tris[picked])[:, :, :2]
        gain = np.linalg.norm(np.einsum("kij,kj->ki", other, along), axis=1) * stretch
        low, high = REVEAL_STRETCH
        share = (turning * np.clip((stretch - low) / (high - low), 0.0, 1.0)
                 * np.clip((gain - MIRROR_GAIN[0]) / (MIRROR_GAIN[1] - MIRROR_GAIN[0]), 0.0, 1.0)
                 * np.clip(2.0 * (span / self.sigma - 1.0), 0.0, 1.0))
        keep = share > 0
        if not keep.any():
            return None
        picked, share = picked[keep], share[keep]
        x0, y0, x1, y1 = roi
        weight = np.zeros((y1 - y0, x1 - x0), np.float32)
        corners = np.round((dst[self.tris[picked]] - (x0, y0)) * 16).astype(np.int32)
        for k in np.argsort(share):
            cv2.fillConvexPoly(weight, corners[k], float(share[k]), lineType=cv2.LINE_8, shift=4)
        return cv2.GaussianBlur(weight, (0, 0), REVEAL_BLUR)

    def draw(self, region: np.ndarray, weight: np.ndarray, dst: np.ndarray, order: np.ndarray,
             roi: tuple[int, int, int, int], map_x: np.ndarray, map_y: np.ndarray,
             drawn: Callable[[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]], np.ndarray]) -> None:
        """Replace, in place, the detail of `region` (the ROI's warped pixels, read from the source
        at `map_x`, `map_y`) by the mirror triangles' where `weight` says. `dst`: the target
        vertices; `order`: the face triangles' drawing order (far to near); `drawn(src_points,
        tris, origin, shape)`: the source drawn by the engine's warp with the triangles `tris`
        read at `src_points`, over a box at `origin`."""
        ys, xs = np.nonzero(weight > 1.0 / 255)
        if not len(ys):
            return
        pad = int(np.ceil(3 * self.sigma))
        h, w = weight.shape
        by0, by1 = max(ys.min() - pad, 0), min(ys.max() + 1 + pad, h)
        bx0, bx1 = max(xs.min() - pad, 0), min(xs.max() + 1 + pad, w)
        box = (slice(by0, by1), slice(bx0, bx1))
        # the mirror is drawn for the triangles within `pad` of where it is taken (its smoothing
        # reads that far), not for the whole face in the box: a third of the cost
        origin = np.array([roi[0] + bx0, roi[1] + by0])
        near = cv2.dilate((weight[box] > 1.0 / 255).astype(np.uint8),
                          cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1)))
        tris = self.tris[order]
        corners = np.round(np.concatenate([dst[tris], dst[tris].mean(1, keepdims=True)], 1) - origin).astype(int)
        inside = (corners >= 0).all(-1) & (corners[..., 0] < bx1 - bx0) & (corners[..., 1] < by1 - by0)
        at = np.clip(corners, 0, [bx1 - bx0 - 1, by1 - by0 - 1])
        taken = (inside & (near[at[..., 1], at[..., 0]] > 0)).any(1)
        other = drawn(self.mirrored_src, tris[taken], tuple(origin), (by1 - by0, bx1 - bx0)).astype(np.float32)
        part = region[box].astype(np.float32)
        other_detail = other - self._smooth(other)
        strength = self._strength(other, other_detail)
        # skin, not hair: no stronger than the face's skin shows, several times over
        skin = np.clip((SKIN_DETAIL[1] - strength / self.skin_detail) / (SKIN_DETAIL[1] - SKIN_DETAIL[0]), 0.0, 1.0)
        # and no stronger than this side's own source shows
        ox, oy = self.strength_origin
        own = cv2.remap(self.source_strength, map_x[box] - np.float32(ox), map_y[box] - np.float32(oy),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        most = OWN_DETAIL * np.maximum(own, OWN_FLOOR * self.skin_detail)
        other_detail *= np.minimum(most / np.maximum(strength, 1e-6), 1.0)[..., None]
        detail = other_detail - (part - self._smooth(part))
        share = (weight[box] * skin)[..., None]
        region[box] = np.clip(np.rint(part + detail * share), 0, 255).astype(np.uint8)

    def _smooth(self, image: np.ndarray) -> np.ndarray:
        """`image` (float32) under a Gaussian of `sigma` px; past SMOOTH_DIRECT px, on a copy scaled
        down to it and back (a 2000 px face's 90 px Gaussian cost seconds a frame)."""
        if self.sigma <= SMOOTH_DIRECT:
            return cv2.GaussianBlur(image, (0, 0), self.sigma)
        h, w = image.shape[:2]
        scale = SMOOTH_DIRECT / self.sigma
        small = cv2.resize(image, (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)),
                           interpolation=cv2.INTER_AREA)
        return cv2.resize(cv2.GaussianBlur(small, (0, 0), SMOOTH_DIRECT), (w, h), interpolation=cv2.INTER_LINEAR)

    def _strength(self, image: np.ndarray, detail: np.ndarray | None = None) -> np.ndarray:
        """(h, w) the local strength of `image`'s detail band (its RMS over about a sigma, mean
        over the channels)."""
        if detail is None:
            detail = image - self._smooth(image)
        return np.sqrt(np.maximum(self._smooth(detail * detail), 0.0)).mean(-1)
