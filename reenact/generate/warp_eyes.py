"""The warp engine's eyes in two layers, so that a gaze moves the whole iris.

Moving the iris inside the piecewise warp of the eye opening stretched it: when the driving looked
far to one side the iris smeared into a dark band across the opening, with pale rims along the
lids, and MediaPipe read 0.61 of the driving's gaze back from a self-reenactment of d0. Each eye
is drawn from two layers instead:

* the eye without its iris: the source with its iris disc filled in from the white of the eye
  around it, carried by the same map as the rest of the face;
* the source's own iris, a disc (the parts its lids hid completed from the opposite side of the
  disc, else from the rest of its ring), moved to the gaze's position and turned and scaled
  with the eye's corners.

Both are clipped by the target's eye opening, so the lids cover the iris wherever they close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ..faces.topology import contour, face_triangles, polygon_area
from .warp_detail import detail_bands, detail_remap, fine_weight, grain_noise, map_scale

# (contour name, iris centre landmark, eye corners) of MediaPipe's two eyes
EYES = (("right_eye", 468, (33, 133)), ("left_eye", 473, (263, 362)))
IRIS_MARGIN = 1.1    # the disc moved: MediaPipe's iris radius this many times (its dark outer ring)
FILL_REACH = 1.25    # the white filled in where the iris was: the disc this many times its radius
MIN_VISIBLE = 0.3    # an eye that shows less of its iris disc than this keeps the plain warp (a squint, a blink)
IRIS_LID_CLEAR = 0.2  # the iris layer's own pixels end this share of its radius inside the lids
LID_SHADE = 0.85     # the fill's tone under the lids: the white of the eye is shaded there
# The white fitted where the iris was (`_white_fill`): from the white between WHITE_BAND radii of
# the iris centre (the disc's radius holds IRIS_MARGIN already), at least MIN_WHITE_PIXELS
# of it, its WHITE_EXPECTILE expectile fitted in WHITE_ROUNDS rounds, pixels lighter than the tone by
# WHITE_OUTLIER robust deviations left out (highlights), the tone's slopes held back by WHITE_RIDGE
# (per pixel) where the white shows on one side only.
WHITE_BAND, MIN_WHITE_PIXELS, WHITE_OUTLIER, WHITE_EXPECTILE, WHITE_RIDGE = (1.1, 3.0), 12, 3.0, 0.95, 0.05
WHITE_ROUNDS = 8
GRAIN_SIGMA = 1.0    # px: the grain given to the fitted white is the picture's detail finer than this blur
GRAIN_CLEAR = 3      # px (x `pixel_scale`): measured on the skin this far beyond the eye's opening
# The lengths in pixels below (the lids' margins, the fill's feather, the disc's edge) were set on
# eyes of 4-15 px iris radii. A larger iris (a 2000 px portrait's: 20-40 px) has its lids' shadow
# and its own edge as many pixels wider, and at those lengths the white filled where the iris was
# took in the lids' shadow (a flat grey patch, its edge hard), and the moved iris kept a band of the
# upper lid's shadow: they grow by `pixel_scale` past SCALE_FROM_RADIUS.
SCALE_FROM_RADIUS = 15.0
# A large eye's layers are clipped inside MediaPipe's contour and softly (`_large_opening`), by
# these px per unit of `pixel_scale` past 1: s42 enlarged 4x (scale 2.7) driven by d19, looked at
# with 0, 3 and 5 px in and 0, 0.8 and 1.2 px soft: the iris's bottom tucked under the lid without
# a dark rim only at 5 and 1.2.
LARGE_OPENING_IN, LARGE_OPENING_SOFT = 3.0, 0.7
# What makes MediaPipe's iris disc a usable layer, measured on the opening's lightness between its
# darkest and lightest tenth (the contrast, at least MIN_CONTRAST levels): the dark pixels (under
# DARK of the way up) lie in the disc (IN_DISC of them, within 1.15 radii) and fill it (FILLED of
# it), and a ring just outside it (1.1-1.4 radii, RING_PIXELS at least) is light (RING_LIGHT of the
# way up: the white of the eye). On ../shared's portraits and clip frames every photo passed; the
# statue s6 (filled 0.24), the cartoon s7 (its light blue iris is not dark against its white, and
# MediaPipe's disc sits 3-8 px to one side of it: filled 0.46) and the small astronaut (no white
# beside the iris) did not, and keep the plain warp.
MIN_CONTRAST, DARK, IN_DISC, FILLED, RING_LIGHT, RING_PIXELS = 40.0, 0.35, 0.85, 0.5, 0.5, 5
# An eye whose other eye passed needs only PARTNER_EASED of MIN_CONTRAST and RING_LIGHT: a face with
# one iris found has two, and both eyes are layered or neither. The painting s3's far eye, in shadow
# (its white 0.37 of the way up), failed beside an eye that passed. FILLED stays: the cartoon's light
# iris fills 0.46 of MediaPipe's disc, which is smaller than the iris drawn (1.3 of its radius), and
# moved as a layer it left a crescent of itself behind.
PARTNER_EASED = 0.7
# A layer is not drawn where the warp's map shows a part of the source face nearer the camera than
# the eye's inner corner by this share of the eye's width: the nose (its bridge 0.4-0.7 nearer on
# ../shared's photos), turned in front of the far eye. The lids (0.1) and the temple, which a turn
# also draws over a narrowed far eye, leave the iris drawn.
FRONT_DEPTH = 0.3
# An eye whose corners come closer than SQUEEZE[0] of their distance in the source (a turn: about
# 0.75 at 35 degrees for the far eye) is drawn, fully from SQUEEZE[1], through its opening's own
# triangles instead of the warp's map, where the lids fold over it (`EyeLayers.draw`).
SQUEEZE = (0.9, 0.75)
# A drawn eye (a cartoon's) whose iris MediaPipe's disc does not fit (`iris_found`) is found in the
# picture itself (`drawn_iris`): the disc, within DRAWN_SHIFT iris radii of MediaPipe's centre and
# DRAWN_RADII times its radius, that best covers what in the opening is not the white (farther from
# its colour than NOT_WHITE of the way to the opening's farthest tenth); taken when their overlap
# (intersection over union) is DRAWN_OVERLAP at least, and the disc is DRAWN_LARGER times MediaPipe's
# radius at least: its iris model, made on photos, reads a drawn iris small. The cartoon s7's two
# irises: 0.74 and 0.81 (1.3-1.4 MediaPipe radii, 3-9 px above its centre); the statue s6, whose
# eyes show no iris, 0.41 and 0.49. A photo's disc is MediaPipe's (its opening's shadows and lashes
# are not white either), also where MediaPipe put it beside the iris: the search for the lash line
# is made for drawn eyes, and on a photo's lids it would find skin.
DRAWN_SHIFT, DRAWN_RADII, NOT_WHITE, DRAWN_OVERLAP, DRAWN_LARGER = 1.0, (0.8, 1.8), 0.35, 0.65, 1.15
# Such an eye is drawn larger than MediaPipe's contour, which runs inside its lash line, across the
# top and bottom of its iris: the opening the layers clip to reaches out to the lash line
# (`drawn_lids`), along each contour point's outward normal, over pixels of the eye's own colours
# (LID_PALETTE clusters of the opening's, each within LID_TOLERANCE of its spread, LID_MIN_TOLERANCE
# Lab units at least), at most LID_REACH drawn iris radii. Clipped to MediaPipe's contour, the iris's
# top and bottom stayed where the lids' triangles carried them and the moved iris showed a notch.
LID_PALETTE, LID_TOLERANCE, LID_MIN_TOLERANCE, LID_REACH = 6, 2.5, 12.0, 0.5


@dataclass
class IrisLayer:
    """One eye's iris as a layer: colours and a disc alpha on a square patch of the source."""
    centre: int                  # landmark index of the iris centre
    ring: np.ndarray             # landmark indices of the eye opening's contour
    corners: tuple[int, int]     # landmark indices of the eye's corners
    origin: np.ndarray           # (2,) source pixel of patch[0, 0]
    rgba: np.ndarray             # (S, S, C + 1) float32: the completed iris colours times the disc alpha, then it
    front_origin: np.ndarray | None = None   # (2,) source pixel of front[0, 0]
    front: np.ndarray | None = None          # (H, W) float32: around the eye, the source face in front of it (FRONT_DEPTH)
    reach: np.ndarray | None = None          # (2M, 2): a drawn eye's `halved` contour to its lash line (`drawn_lids`)
    scale: float = 1.0                       # its `pixel_scale`

    def opening(self, points: np.ndarray, source_points: np.ndarray) -> np.ndarray:
        """(M, 2) the eye's opening at landmarks `points`: its contour; a drawn eye's (2M, 2), `halved`
        and reached out to its lash line, turned and scaled with the eye's corners, and closed as the
        contour closes (a blink)."""
        ring = np.asarray(points, np.float64)[self.ring, :2]
        if self.reach is None:
            return ring
        ring = halved(ring)
        z = eye_turn(points, source_points, self.corners)
        closing = np.clip(eye_opening(points, self.ring, self.corners) / max(eye_opening(source_points, self.ring,
                                                                                     self.corners), 1e-9), 0.0, 1.0)
        reach = self.reach[:, 0] + 1j * self.reach[:, 1]
        return ring + closing * np.c_[(reach * z).real, (reach * z).imag]


def iris_radius(points: np.ndarray, centre: int) -> float:
    """MediaPipe's iris radius (px): the mean distance of the iris centre `centre`'s 4 ring points."""
    pts = np.asarray(points, np.float64)
    return float(np.linalg.norm(pts[centre + 1:centre + 5, :2] - pts[centre, :2], axis=1).mean())


def eye_turn(points: np.ndarray, source_points: np.ndarray, corners: tuple[int, int]) -> complex:
    """How an eye turned and scaled from `source_points` to `points`, from its `corners`: a complex
    factor (multiply a source offset, x + iy, by it)."""
    c0, c1 = corners
    return (complex(*(np.asarray(points)[c1, :2] - np.asarray(points)[c0, :2]))
            / complex(*(np.asarray(source_points)[c1, :2] - np.asarray(source_points)[c0, :2])))


def eye_opening(points: np.ndarray, ring: np.ndarray, corners: tuple[int, int]) -> float:
    """An eye's opening: the area inside its contour `ring` over its corners' distance squared."""
    pts = np.asarray(points, np.float64)
    width = float(np.linalg.norm(pts[corners[0], :2] - pts[corners[1], :2]))
    return float(polygon_area(pts[ring, :2])) / max(width * width, 1e-9)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)


def drawn_iris(source: np.ndarray, pts: np.ndarray, centre: int, ring: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(centre (2,), radius) in source pixels of the iris the picture draws in the eye opening
    `ring`, near MediaPipe's iris `centre`, or None where no disc covers what is not the white or
    the disc is no larger than MediaPipe's (the constants above)."""
    h, w = source.shape[:2]
    radius = iris_radius(pts, centre)
    half = int(np.ceil(radius * (DRAWN_SHIFT + DRAWN_RADII[1]))) + 3
    x0, y0 = int(np.floor(pts[centre, 0])) - half, int(np.floor(pts[centre, 1])) - half
    size = 2 * half + 1
    if radius < 1.0 or x0 < 0 or y0 < 0 or x0 + size > w or y0 + size > h:
        return None
    lab = _lab(source[y0:y0 + size, x0:x0 + size].astype(np.float32))
    inside = cv2.erode((polygon_mask((size, size), pts[ring, :2], (x0, y0)) > 0.99).astype(np.uint8),
                       np.ones((3, 3), np.uint8)) > 0
    if inside.sum() < 10:
        return None
    lightness = lab[..., 0]
    white = np.median(lab[inside & (lightness >= np.percentile(lightness[inside], 90))], 0)
    away = np.linalg.norm(lab - white, axis=-1)
    iris = inside & (away > NOT_WHITE * np.percentile(away[inside], 90))
    ys, xs = np.mgrid[:size, :size].astype(np.float32)
    local = pts[centre, :2] - (x0, y0)

    def overlap(dx: float, dy: float, r: float) -> float:
        disc = (np.hypot(xs - local[0] - dx, ys - local[1] - dy) <= r) & inside
        return float((disc & iris).sum() / max((disc | iris).sum(), 1))

    # a coarse grid of positions and sizes, then finer steps about the best
    reach = DRAWN_SHIFT * radius
    best = max((overlap(dx, dy, k * radius), dx, dy, k * radius) for k in np.linspace(*DRAWN_RADII, 6)
               for dy in np.linspace(-reach, reach, 9) for dx in np.linspace(-reach, reach, 9))
    for step in (0.2, 0.1, 0.05):
        _, bx, by, br = best
        best = max((overlap(bx + i * step * radius, by + j * step * radius, br * (1 + k * step)),
                    bx + i * step * radius, by + j * step * radius, br * (1 + k * step))
                   for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1))
    score, dx, dy, r = best
    return (pts[centre, :2] + (dx, dy), float(r)) if score >= DRAWN_OVERLAP and r >= DRAWN_LARGER * radius else None


def halved(polygon: np.ndarray) -> np.ndarray:
    """(2M, 2) the closed `polygon` (M, 2) with the middle of each edge put in after its first point:
    a drawn lash line curves between MediaPipe's contour points, and a straight edge cut off the
    dark top of the cartoon's iris, left behind on the white when the iris moved."""
    return np.stack([polygon, (polygon + np.roll(polygon, -1, axis=0)) / 2], axis=1).reshape(-1, 2)


def drawn_lids(source: np.ndarray, pts: np.ndarray, ring: np.ndarray, radius: float) -> np.ndarray:
    """(2M, 2) how far each point of the eye's `halved` contour `ring` lies inside the lash line the
    picture draws: along its outward normal, over the pixels of the eye's own colours (the constants above)."""
    poly = halved(np.asarray(pts, np.float64)[ring, :2])
    h, w = source.shape[:2]
    far = LID_REACH * radius + 2
    x0, y0 = np.maximum(np.floor(poly.min(0) - far), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(poly.max(0) + far) + 1, (w, h)).astype(int)
    lab = _lab(source[y0:y1, x0:x1].astype(np.float32))
    inside = cv2.erode((polygon_mask(lab.shape[:2], poly, (x0, y0)) > 0.99).astype(np.uint8),
                       np.ones((5, 5), np.uint8)) > 0
    samples = lab[inside]
    reach = np.zeros_like(poly)
    if len(samples) < 4 * LID_PALETTE:
        return reach
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, label, palette = cv2.kmeans(samples, LID_PALETTE, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    label = label.ravel()
    spread = np.array([np.sqrt(((samples[label == k] - palette[k]) ** 2).sum(-1).mean()) if (label == k).any() else 0.0
                       for k in range(LID_PALETTE)])
    tolerance = np.maximum(LID_TOLERANCE * spread, LID_MIN_TOLERANCE)
    eye = (np.linalg.norm(lab[..., None, :] - palette, axis=-1) < tolerance).any(-1)
    middle = poly.mean(0)
    steps = np.arange(0.5, LID_REACH * radius, 0.5)
    for i in range(len(poly)):
        along = poly[(i + 1) % len(poly)] - poly[i - 1]
        normal = np.array([along[1], -along[0]]) / max(float(np.linalg.norm(along)), 1e-9)
        if normal @ (poly[i] - middle) < 0:
            normal = -normal
        at = np.round(poly[i] + steps[:, None] * normal - (x0, y0)).astype(int)
        ok = (at[:, 0] >= 0) & (at[:, 0] < x1 - x0) & (at[:, 1] >= 0) & (at[:, 1] < y1 - y0)
        ok[ok] = eye[at[ok, 1], at[ok, 0]]
        run = int(np.argmin(ok)) if not ok.all() else len(ok)      # steps before the first that is no eye
        reach[i] = (steps[run - 1] if run else 0.0) * normal
    return reach


def pixel_scale(radius: float) -> float:
    """How many times a length in pixels tuned on small eyes an iris of `radius` px needs (1 up to
    SCALE_FROM_RADIUS)."""
    return max(1.0, radius / SCALE_FROM_RADIUS)


def _square(half: float) -> np.ndarray:
    """A square structuring element reaching `half` px (rounded, at least 1) each way."""
    reach = max(1, int(round(half)))
    return np.ones((2 * reach + 1,) * 2, np.uint8)


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray, origin) -> np.ndarray:
    """(H, W) float32 coverage (0..1, anti-aliased) of `polygon` (N, 2) in a box at `origin`."""
    mask = np.zeros(shape, np.uint8)
    corners = np.round((np.asarray(polygon, np.float64) - origin) * 16).astype(np.int32)
    cv2.fillPoly(mask, [corners], 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _complete_disc(patch: np.ndarray, visible: np.ndarray, disc: np.ndarray, distance: np.ndarray,
                   centre: np.ndarray, mirror_from: np.ndarray, iris_edge: float) -> np.ndarray:
    """`patch` with the disc's hidden pixels filled: from the point opposite through the centre
    when that one lies in `mirror_from` (an iris is nearly symmetric about its pupil), else with
    the colour of the visible pixels at the same distance from the centre (the iris's rings).

    `mirror_from` keeps well clear of the lids: a pixel the lower lid hides mirrors to one just
    under the upper lid, in its shadow, and mirrored from there the shadow came out as a dark dash
    along the iris's bottom wherever a gaze raised it off the lid (s42, from d11's first frame on).
    `iris_edge`: MediaPipe's iris radius (px), inside the disc's."""
    out = patch.copy()
    hidden = disc & ~visible
    if not hidden.any() or not visible.any():
        return out
    bins = np.floor(distance).astype(int)
    overall = np.median(patch[visible], 0)
    ys, xs = np.nonzero(hidden)
    h, w = visible.shape
    oy = np.clip(np.round(2 * centre[1] - ys).astype(int), 0, h - 1)
    ox = np.clip(np.round(2 * centre[0] - xs).astype(int), 0, w - 1)
    lightness = patch.mean(-1)
    for b in np.unique(bins[ys, xs]):
        ring = visible & (bins == b)
        at = bins[ys, xs] == b
        if ring.any():
            # beyond the iris's own radius the disc's rings cross the white beside it (the disc has
            # IRIS_MARGIN): their darker half, the iris's dark outer ring (their median drew a pale
            # halo round the hidden parts); within it their median (the darker half was a black slab)
            pixels = patch[ring]
            if b + 1 > iris_edge:
                pixels = pixels[lightness[ring] <= np.median(lightness[ring])]
            out[ys[at], xs[at]] = np.median(pixels, 0)
        else:
            out[ys[at], xs[at]] = overall
    mirrored = mirror_from[oy, ox] & visible[oy, ox]
    out[ys[mirrored], xs[mirrored]] = patch[oy[mirrored], ox[mirrored]]
    return out


def _large_opening(opening: np.ndarray, scale: float) -> np.ndarray:
    """A large eye's opening `opening` (coverage) as its layers are clipped to: LARGE_OPENING_IN px
    in from MediaPipe's contour, softened over LARGE_OPENING_SOFT px, each per unit of `scale`
    past 1. The contour lies out on the lids, and at a 2000 px portrait's size a moved iris was
    drawn over the lower lid's rim with a hard dark edge."""
    inward = int(round((scale - 1.0) * LARGE_OPENING_IN))
    if inward > 0:
        opening = cv2.erode(opening, _square(inward))
    return cv2.GaussianBlur(opening, (0, 0), (scale - 1.0) * LARGE_OPENING_SOFT)


def _faded_in(completed: np.ndarray, patch: np.ndarray, visible: np.ndarray, disc: np.ndarray,
              reach: int) -> np.ndarray:
    """`completed` with its filled pixels (`disc` less `visible`) faded in over `reach` px from the
    visible iris: spread from the visible pixels at their edge, the completed colour beyond. The
    completed band along a lid (IRIS_LID_CLEAR of the radius) is a flat colour, and at a large
    iris's size its edge with the visible iris was a hard line across it whenever the gaze moved."""
    hidden = (disc & ~visible).astype(np.uint8)
    if not hidden.any() or not visible.any():
        return completed
    known = np.clip(np.where(visible[..., None], patch, completed) + 0.5, 0, 255).astype(np.uint8)
    spread = cv2.inpaint(known, hidden, float(reach), cv2.INPAINT_TELEA).astype(np.float32)
    away = cv2.distanceTransform((~visible).astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.clip(away / max(reach, 1), 0.0, 1.0)[..., None]
    return np.where(hidden[..., None] > 0, weight * completed + (1.0 - weight) * spread, completed)


def _in_front(pts: np.ndarray, depth: np.ndarray, ring: np.ndarray, corners: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray]:
    """(origin, mask): over the eye's box grown by its width, the source's face triangles lying
    nearer than the eye's inner corner by FRONT_DEPTH of its width (MediaPipe z: smaller nearer),
    less the eye's own opening."""
    width = float(np.linalg.norm(pts[corners[0]] - pts[corners[1]]))
    inner = corners[1]                    # 133 and 362: the corners beside the nose
    origin = np.floor(pts[ring].min(0) - width).astype(int)
    size = np.ceil(np.ptp(pts[ring], 0) + 2 * width).astype(int) + 1
    mask = np.zeros((size[1], size[0]), np.uint8)
    tris = face_triangles()
    near = tris[depth[tris].mean(1) < depth[inner] - FRONT_DEPTH * width]
    for tri in near:
        cv2.fillConvexPoly(mask, np.round((pts[tri] - origin) * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
    # what the source shows inside the eye's own opening is the eye: in a three-quarter view the nose's
    # triangles overlap the far eye's opening, and the iris moved off it was drawn again by the warp
    # there, beside the layer (two irises in the Vermeer's far eye as it looked away)
    opening = polygon_mask(mask.shape, pts[ring], origin)
    return origin.astype(np.float64), mask.astype(np.float32) / 255.0 * (1.0 - opening)


def iris_found(patch: np.ndarray, inside: np.ndarray, distance: np.ndarray, radius: float,
               partner: bool = False) -> bool:
    """Whether the disc of `radius` at `distance`'s centre is the iris the opening (`inside`) shows:
    a dark disc on the white of the eye (the thresholds above; `partner`: those of an eye whose
    other eye passed, two of them eased by PARTNER_EASED)."""
    if inside.sum() < 10:
        return False
    ease = PARTNER_EASED if partner else 1.0
    lightness = patch.mean(-1)
    light, dark = np.percentile(lightness[inside], [90, 10])
    if light - dark < ease * MIN_CONTRAST:
        return False
    darker = inside & (lightness < dark + DARK * (light - dark))
    disc = inside & (distance <= radius)
    ring = inside & (distance > 1.1 * radius) & (distance <= 1.4 * radius)
    if not darker.any() or not disc.any() or ring.sum() < RING_PIXELS:
        return False
    in_disc = (darker & (distance <= 1.15 * radius)).sum() / darker.sum()
    filled = (darker & disc).sum() / disc.sum()
    ring_light = (np.median(lightness[ring]) - dark) / (light - dark)
    return bool(in_disc >= IN_DISC and filled >= FILLED and ring_light >= ease * RING_LIGHT)


def _white_of_eye(patch: np.ndarray, inside: np.ndarray, distance: np.ndarray, radius: float) -> np.ndarray:
    """The colour of the eye's white: the lightest tenth of the opening's pixels beside the iris
    (the rest is the lids' shadow, eyeliner, lashes and the pink inner corner: on a made-up eye
    three quarters of the opening outside the iris)."""
    clear = inside & (distance > radius)
    pixels = patch[clear] if clear.any() else patch[inside]
    lightness = pixels.mean(-1)
    return np.median(pixels[lightness >= np.percentile(lightness, 90)], 0)


def _white_fill(source: np.ndarray, ring: np.ndarray, iris: np.ndarray, radius: float,
                origin: tuple[int, int], size: int, seed: int) -> np.ndarray | None:
    """(size, size, C) float32 over the source's square at `origin`: the eye's white as it would
    show where the iris is, or None when too little of it shows. The white beside the iris (the
    opening (`ring`, source pixels) less a pixel along the lids, between WHITE_BAND radii of
    the `iris` centre) is fitted by a smooth tone (across the eye linear, up and down quadratic: the
    upper lid shades it), towards its lighter side, so lashes, the lids' shadow and the pink inner
    corner do not pull it down, nor highlights up; the tone is kept within the white's own range
    and carries the picture's grain. The inpainting this replaces spread the lashes above and below the
    iris over the hole: a flat grey disc, darker than the white beside it, that showed whenever the
    gaze moved (every portrait of ../shared; on paintings the only patch without their grain)."""
    h, w = source.shape[:2]
    reach = int(np.ceil(WHITE_BAND[1] * radius)) + 2
    bx0, by0 = max(int(iris[0]) - reach, 0), max(int(iris[1]) - reach, 0)
    bx1, by1 = min(int(iris[0]) + reach + 1, w), min(int(iris[1]) + reach + 1, h)
    box = source[by0:by1, bx0:bx1].astype(np.float64)
    opening = polygon_mask(box.shape[:2], ring, (bx0, by0)) > 0.99
    # a pixel off the lids only, the fit leaves out the rest of their lash line: a small eye's white
    # is a few pixels wide (s42's, at 11 px radii, the lighter side gone in the lids' margin)
    scale = pixel_scale(radius)
    core = cv2.erode(opening.astype(np.uint8), _square(scale)) > 0
    ys, xs = np.nonzero(core)
    far = np.hypot(xs + bx0 - iris[0], ys + by0 - iris[1]) / radius
    white = (far > WHITE_BAND[0]) & (far <= WHITE_BAND[1])
    ys, xs = ys[white], xs[white]
    if len(ys) < MIN_WHITE_PIXELS:
        return None
    pixels = box[ys, xs]
    basis = lambda x, y: np.stack([np.ones_like(x), (x - iris[0]) / radius, (y - iris[1]) / radius,   # noqa: E731
                                   ((y - iris[1]) / radius) ** 2], -1)
    design = basis(xs + bx0, ys + by0)
    ridge = np.diag([0.0, 1.0, 1.0, 1.0]) * WHITE_RIDGE * len(ys)
    # An upper expectile of the white, not its mean: across a small eye's opening most of what
    # lies beside the iris is the lash line, eyeliner and the lids' shadow (fitted by least squares,
    # s1's fill came out at 0.55 of the light white beside her iris, 63 levels against its 90th
    # percentile's 116, and MediaPipe read her gaze at 0.65 of d11's, 0.73 before; this: 101);
    # pixels lighter than the tone weigh WHITE_EXPECTILE, darker ones the rest, highlights far
    # above it none.
    weight = np.ones(len(ys))
    for _ in range(WHITE_ROUNDS):
        a = design * weight[:, None]
        coef = np.linalg.solve(a.T @ design + ridge, a.T @ pixels)
        tone = (pixels - design @ coef).mean(-1)
        spread = 1.4826 * np.median(np.abs(tone - np.median(tone))) + 1.0
        keep = tone <= WHITE_OUTLIER * spread
        weight = np.where(tone >= 0, WHITE_EXPECTILE, 1.0 - WHITE_EXPECTILE) * keep
    gy, gx = np.mgrid[:size, :size].astype(np.float64)
    model = basis(gx + origin[0], gy + origin[1]) @ coef
    low, high = np.percentile(pixels[keep], [5, 95], axis=0)
    # the white's grain: a grey noise as strong as the picture's finest detail (what a blur of
    # GRAIN_SIGMA takes off it: film grain, a painting's craquelure, a JPEG's noise), measured on
    # the skin around the eye (the white is a few pixels wide, all near the lash line or the iris's
    # edge, which the blur spreads over them: a clean painted eye read 30 levels there), not the
    # spread about the tone (lid shadows too: the fill was sandpaper), not residuals copied pixel
    # by pixel (their lashes were dark specks)
    fine = np.abs(box.mean(-1) - cv2.GaussianBlur(box.mean(-1), (0, 0), GRAIN_SIGMA))
    grown = cv2.dilate(opening.astype(np.uint8), _square(GRAIN_CLEAR * scale)) > 0
    level = 1.4826 * float(np.median(fine[~grown])) if (~grown).any() else 0.0
    grain = grain_noise((size, size), level, seed, GRAIN_SIGMA)
    return np.clip(np.clip(model, low, high) + grain[..., None], 0.0, 255.0).astype(np.float32)


class EyeLayers:
    """The source's irises as layers (`layers`) and the source with them taken out (`empty`)."""

    def __init__(self, source: np.ndarray, points: np.ndarray, detail: bool = False):
        """`detail`: the eye without its iris is redrawn by the engine's "detail" resampling
        (warp_detail), as the face around it, not bilinearly (on the cartoon, whose drawn openings
        reach its lash lines, the face kept 0.89-0.91 of its detail bilinearly against 1.10)."""
        self.empty = source.copy()
        self.layers: list[IrisLayer] = []
        self._bands: tuple[np.ndarray, ...] | None = None
        self.src = pts = np.asarray(points, np.float64)[:, :2]
        if len(pts) < 478:        # a mesh without irises: nothing to move
            return
        eyes = [self._eye(source, pts, *eye) for eye in EYES]
        if sum(eye is None for eye in eyes) == 1:
            eyes = [self._eye(source, pts, *eye, partner=True) if found is None else found
                    for eye, found in zip(EYES, eyes)]
        if any(eye is None for eye in eyes):       # a drawn eye: both irises as the picture draws them
            eyes = [self._eye(source, pts, *eye, drawn=True) for eye in EYES]
        if any(eye is None for eye in eyes):
            return                # both eyes or neither: one in layers and one warped would not match
        depth = np.asarray(points, np.float64)[:, 2] if np.shape(points)[1] > 2 else None
        for layer, (box, filled) in eyes:
            if depth is not None:
                layer.front_origin, layer.front = _in_front(pts, depth, layer.ring, layer.corners)
            self.layers.append(layer)
            self.empty[box] = filled
        if detail and self.layers:
            self._bands = detail_bands(self.empty)

    @staticmethod
    def _eye(source: np.ndarray, pts: np.ndarray, name: str, centre: int, corners: tuple[int, int],
             partner: bool = False, drawn: bool = False) -> tuple[IrisLayer, tuple[tuple[slice, slice], np.ndarray]] | None:
        """One eye's iris layer and its box of the source with the iris taken out, or None when
        the eye is no usable layer (at the picture's edge, hidden, no iris found; `partner`: the
        other eye's iris was found; `drawn`: the iris and the opening as the picture draws them,
        `drawn_iris` and `drawn_lids`, instead of MediaPipe's)."""
        h, w = source.shape[:2]
        ring = np.array(contour(name))
        iris, radius, lids = pts[centre], iris_radius(pts, centre) * IRIS_MARGIN, None
        if drawn:
            found = drawn_iris(source, pts, centre, ring)
            if found is None:
                return None
            iris, radius = found
            lids = drawn_lids(source, pts, ring, radius)
        outline = pts[ring] if lids is None else halved(pts[ring]) + lids
        half = int(np.ceil(radius * FILL_REACH)) + 3
        x0, y0 = int(np.floor(iris[0])) - half, int(np.floor(iris[1])) - half
        size = 2 * half + 1
        if radius < 1.0 or x0 < 0 or y0 < 0 or x0 + size > w or y0 + size > h:
            return None
        patch = source[y0:y0 + size, x0:x0 + size].astype(np.float32)
        opening = polygon_mask((size, size), outline, (x0, y0))
        # clear of the lids' edge: the lash line is not iris
        scale = pixel_scale(radius)
        inside = cv2.erode((opening > 0.99).astype(np.uint8), _square(scale)) > 0
        ys, xs = np.mgrid[:size, :size].astype(np.float32)
        local = iris - (x0, y0)
        distance = np.hypot(xs - local[0], ys - local[1])
        alpha = np.clip((radius - distance) / scale + 0.5, 0.0, 1.0)
        disc = alpha > 0.5
        if (inside & disc).sum() < MIN_VISIBLE * disc.sum() or not (
                drawn or iris_found(patch, inside, distance, radius, partner)):
            return None
        # the disc's pixels along the lids are their shadow and the lower lid's wet rim, not iris: a
        # straight dark dash carried with a moved iris (s42's lower lid); completed from the iris instead,
        # mirrored only from three times as far inside (`_complete_disc`). A drawn eye's opening ends at
        # its lash line, and the shading under the lid is drawn on its iris: kept (completed 6 px in from
        # the cartoon's lids, the bottom's lighter blue mirrored over the top was a cap with an edge).
        clear = 1 if drawn else max(1, int(round(IRIS_LID_CLEAR * radius)))
        shown = (opening > 0.99).astype(np.uint8)
        visible = disc & (cv2.erode(shown, np.ones((2 * clear + 1,) * 2, np.uint8)) > 0)
        if drawn:
            # its hidden top spread from the visible top, in the lid's drawn shadow: mirrored from the
            # bottom, a light blue cap showed under the lash line whenever the iris moved aside or up
            known = np.clip(patch + 0.5, 0, 255).astype(np.uint8)
            colour = cv2.inpaint(known, (~visible).astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32)
        else:
            deep = cv2.erode(shown, np.ones((6 * clear + 1,) * 2, np.uint8)) > 0
            colour = _complete_disc(patch, visible, disc, distance, local, deep, radius / IRIS_MARGIN)
            if scale > 1.0:
                colour = _faded_in(colour, patch, visible, disc, clear)
        # premultiplied, so resampling never blends the lid beyond the disc into its edge
        layer = IrisLayer(centre, ring, corners, np.array([x0, y0], np.float64),
                          np.dstack([colour * alpha[..., None], alpha]).astype(np.float32), reach=lids,
                          scale=scale)
        # The eye without its iris: the disc (and a margin) filled from the white around it,
        # the lids beyond the opening standing in as shaded white so no lash or skin colour
        # bleeds into the middle; then the lids' margin (MediaPipe's contour lies a pixel or two
        # out on the lid) from both sides, the lash line carried along it where the iris met it.
        white = _white_of_eye(patch, inside, distance, radius)
        margin = 1 if drawn else max(1, int(round(0.12 * radius)))   # a drawn opening ends at the lash line
        core = cv2.erode(inside.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
        reach = distance <= radius * FILL_REACH
        middle = (reach & core).astype(np.uint8)
        work = np.where(core[..., None], patch, LID_SHADE * white)
        fitted = _white_fill(source, outline, iris, radius, (x0, y0), size, seed=centre)
        if fitted is None:    # too little white to fit: spread what borders the hole into it
            work = cv2.inpaint(np.clip(work + 0.5, 0, 255).astype(np.uint8), middle, 3, cv2.INPAINT_TELEA)
        else:
            work = np.where(middle[..., None] > 0, fitted, work)
        rim = (reach & (opening > 0) & ~core).astype(np.uint8)
        work = np.where(middle[..., None] > 0, work, np.clip(patch + 0.5, 0, 255)).astype(np.uint8)
        work = cv2.inpaint(work, rim, 2 * scale, cv2.INPAINT_TELEA)
        # feathered, so the fill's edge does not show against the white it was taken from
        fill = cv2.GaussianBlur((middle | rim).astype(np.float32), (0, 0), 0.8 * scale)
        work = np.clip(fill[..., None] * work + (1.0 - fill[..., None]) * patch + 0.5, 0, 255).astype(np.uint8)
        return layer, ((slice(y0, y0 + size), slice(x0, x0 + size)), work)

    def _remap(self, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
        """The eye without its iris at (map_x, map_y)."""
        if self._bands is not None:
            return detail_remap(self._bands, map_x, map_y, fine_weight(map_scale(map_x, map_y)))
        return cv2.remap(self.empty, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def centres(self) -> list[int]:
        """Iris-centre landmarks of the eyes drawn in layers."""
        return [layer.centre for layer in self.layers]

    def draw(self, out: np.ndarray, target: np.ndarray, gaze: dict[int, np.ndarray],
             map_x: np.ndarray, map_y: np.ndarray, roi: tuple[int, int, int, int],
             eye_map: Callable[[tuple[int, int], tuple[int, int]], tuple[np.ndarray, np.ndarray]] | None = None,
             folded: Callable[[tuple[int, int], tuple[int, int]], np.ndarray | None] | None = None,
             soften: Callable[[tuple[int, int], np.ndarray], None] | None = None) -> None:
        """Redraw each layered eye's opening in `out` (in place): the iris-less source through the
        warp's map (`map_x`, `map_y` over `roi`), the iris over it at `gaze[centre]` (target pixels),
        both clipped by the target opening (`target` (478, 2+) landmarks). `eye_map(origin, shape)`,
        when given, is the map of the eye openings' own triangles over a box: an eye narrowed by a
        turn (SQUEEZE) is drawn through it, not through the lids the turn folds over it (at 35
        degrees their lashes filled the far eye, a dark patch with a jagged edge). `folded(origin,
        shape)`, when given, is the share of each pixel of a box where the warp's map draws a folded
        face triangle (None: none there); the eye's own triangles are drawn there too. `soften(origin,
        image)`, when given, softens in place where the map tears over a box (as the warp does the face
        around it): redrawn unsoftened, a tear at a far eye's outer corner was a lash fragment boxed in
        the white (s42 on d11-turn, frame 12)."""
        src = self.src
        target = np.asarray(target, np.float64)[:, :2]
        rx0, ry0, rx1, ry1 = roi
        for layer in self.layers:
            eye = np.r_[layer.ring, layer.centre]
            if np.abs(target[eye] - src[eye]).max() < 1e-3 and np.allclose(gaze[layer.centre], src[layer.centre]):
                continue          # an unmoved eye stays bit-exact
            ring = layer.opening(target, src)
            bx0, by0 = np.maximum(np.floor(ring.min(0)).astype(int) - 2, (rx0, ry0))
            bx1, by1 = np.minimum(np.ceil(ring.max(0)).astype(int) + 3, (rx1, ry1))
            if bx1 <= bx0 or by1 <= by0:
                continue
            shape = (by1 - by0, bx1 - bx0)
            box_x = map_x[by0 - ry0:by1 - ry0, bx0 - rx0:bx1 - rx0]
            box_y = map_y[by0 - ry0:by1 - ry0, bx0 - rx0:bx1 - rx0]
            opening = polygon_mask(shape, ring, (bx0, by0))
            if layer.scale > 1.0 and layer.reach is None:    # a drawn opening ends at its lash line
                opening = _large_opening(opening, layer.scale)
            if layer.front is not None:
                # not where the map shows the nose: at a large turn its bridge is drawn over the
                # far eye, and an iris drawn over the bridge was a dark blot on it
                ahead = cv2.remap(layer.front, box_x - np.float32(layer.front_origin[0]),
                                  box_y - np.float32(layer.front_origin[1]), cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                opening = opening * (1.0 - ahead)
            if not opening.any():
                continue
            base = self._remap(box_x, box_y)
            if soften is not None:
                soften((bx0, by0), base)
            base = base.astype(np.float32)
            z = eye_turn(target, src, layer.corners)
            # an eye narrowed by a turn is drawn through its own triangles; a blink (its corners
            # stay apart) keeps the lids' lashes between them, which MediaPipe reads as closing
            squeezed = float(np.clip((SQUEEZE[0] - abs(z)) / (SQUEEZE[0] - SQUEEZE[1]), 0.0, 1.0))
            # and wherever the map draws a face triangle folded over the opening: the temple, turned
            # away, came over the far eye's outer corner before the eye narrowed by SQUEEZE[0] (its
            # lash line a dark bracket across the white, s42 on d11-turn)
            behind = None if folded is None else folded((bx0, by0), shape)
            weight = squeezed if behind is None else np.maximum(squeezed, behind)[..., None]
            if layer.reach is not None and np.any(weight > 0):
                # the eye's own triangles end at MediaPipe's contour: a drawn opening beyond it keeps the map
                weight = weight * polygon_mask(shape, target[layer.ring], (bx0, by0))[..., None]
            if eye_map is not None and np.any(weight > 0):
                own_x, own_y = eye_map((bx0, by0), shape)
                own = self._remap(own_x, own_y)
                base += weight * (own.astype(np.float32) - base)
            turn = np.array([[z.real, -z.imag], [z.imag, z.real]])
            # patch pixel p (source: origin + p) -> box pixel: gaze + turn (origin + p - iris) - box origin
            shift = gaze[layer.centre] + turn @ (layer.origin - src[layer.centre]) - (bx0, by0)
            iris = cv2.warpAffine(layer.rgba, np.c_[turn, shift], (shape[1], shape[0]), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            alpha = iris[..., -1:]
            drawn = iris[..., :-1] + (1.0 - alpha) * base
            cover = opening[..., None]
            box = out[by0:by1, bx0:bx1]
            box[...] = np.clip(cover * drawn + (1.0 - cover) * box + 0.5, 0, 255).astype(np.uint8)
