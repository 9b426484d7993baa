"""Where an open-mouthed source's lips really end, for the warp engine's sampling mesh.

MediaPipe places the lower lip's outer contour inside the red of a lip stretched by a wide open
mouth, and the points below it on top of the contour: in a yawn ("O") the chin point under the
lip's middle (18) lay 0.8 px from the contour (17), with 7 px of lip below both. When the target
closes the mouth, that sliver is the band between the lip and the chin, 12 px tall: the lip's red
edge was stretched down the chin like a tongue. Here the lip's edge is found by its colour (red
against the skin's a* in Lab) and the contour is moved there; the chin points between it and the
jaw are spread back to where a closed mouth has them (MediaPipe's canonical face), as positions to
sample the source at (`lower_lip_shift`). The inner contours lie a little inside the opening, on
its dark or the teeth: each inner point is moved to where its lip's colour begins, the lip's rings
between its contours with it (`inner_lip_shift`). The engine draws those shifted points where the
target's mouth is as open as the source's, and back at the target's own points as the mouth closes,
so the lip carries its whole red, the chin its skin, and closed lips meet lip to lip, not the
cavity's dark and the teeth's white.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import map_coordinates, median_filter

from ..faces.topology import INNER_LIP_PAIRS, contour, curve_height, load_canonical_face
from .warp_mouth import CHIN, MOUTH_CORNERS, SKIN_POINTS

# The lower lip's outer contour from one corner to the other, corners left out (they stay).
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375)
LOWER_INNER = tuple(lower for _, lower in INNER_LIP_PAIRS[1:-1])   # the lower lip's inner contour, corners left out
EYE_CORNERS = (33, 263)
MAX_EDGE = 0.12       # x the outer eye corners' distance: no lip edge is looked for further below the contour
MIN_CONTRAST = 6.0    # Lab a* levels between the lip's body and the skin: less (greyscale, pale lips), nothing moves


def _lab_around(image: np.ndarray, around: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Lab (float32, OpenCV's 8-bit scale) of `image`, lightly blurred, in the box around the points
    `around` grown by `reach` px (not the whole picture: a 12-megapixel photo's mouth is a few hundred
    pixels); and the box's corner, to subtract from the points sampled in it. A box wholly outside
    the picture is one flat pixel: nothing there differs from anything."""
    margin = reach + 4.0             # the blur's kernel reaches 3 px: values inside are the whole picture's
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(around.min(0) - margin), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(around.max(0) + margin) + 1, (w, h)).astype(int)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((1, 1, 3), np.float32), np.array([x0, y0], np.float64)
    lab = cv2.cvtColor(cv2.GaussianBlur(image[y0:y1, x0:x1], (0, 0), 1.0), cv2.COLOR_RGB2LAB)
    return lab.astype(np.float32), np.array([x0, y0], np.float64)


def _sample(channel: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return map_coordinates(channel, [xy[..., 1], xy[..., 0]], order=1, mode="nearest")


def _mouth_frame(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mouth's middle, the unit vector from its left corner to its right, and the one at
    right angles to it pointing to the chin."""
    left, right = pts[list(MOUTH_CORNERS)]
    across = (right - left) / max(float(np.linalg.norm(right - left)), 1e-9)
    down = np.array([-across[1], across[0]])
    return 0.5 * (left + right), across, down if np.dot(pts[CHIN] - pts[17], down) > 0 else -down


def _below_lip(pts: np.ndarray, lip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each point's position across the mouth, its depth below the lower lip `lip` (the contour's
    points, corners included, positions in the same picture) and the jaw's depth there, all
    along the mouth's axes."""
    centre, across, down = _mouth_frame(pts)
    x, y = (pts - centre) @ across, (pts - centre) @ down
    lx, ly = (lip - centre) @ across, (lip - centre) @ down
    oval = np.array(contour("face_oval"))
    jaw = oval[y[oval] > 0]
    under = curve_height(np.stack([lx, ly], 1), x)
    return x, y - under, curve_height(np.stack([x[jaw], y[jaw]], 1), x) - under


def _chin_points(canonical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The landmarks between the lower lip and the jaw under the mouth, and the share of the way
    from lip to jaw each lies at, on MediaPipe's canonical (closed-mouth) face."""
    chain = canonical[[MOUTH_CORNERS[0], *LOWER_LIP, MOUTH_CORNERS[1]]]
    x, depth, reach = _below_lip(canonical, chain)
    half = 0.5 * float(np.linalg.norm(canonical[MOUTH_CORNERS[0]] - canonical[MOUTH_CORNERS[1]]))
    inside = (np.abs(x) < half) & (depth > 0) & (depth < reach)
    inside[list(contour("face_oval"))] = False
    inside[list(LOWER_LIP)] = False
    points = np.flatnonzero(inside)
    return points, depth[points] / reach[points]


def lower_lip_shift(source: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) source-pixel shifts of the landmarks `points` (N, 2+) of an open-mouthed source: the
    lower lip's outer contour onto its visible edge (where its colour tells), and the points
    between it and the jaw that lie nearer the lip than a closed mouth has them (MediaPipe bunches
    them under a stretched lip) spread to those shares of the span. Zero elsewhere."""
    pts = np.asarray(points, np.float64)[:, :2]
    _, _, down = _mouth_frame(pts)
    chain = pts[[MOUTH_CORNERS[0], *LOWER_LIP, MOUTH_CORNERS[1]]]
    # the edge is looked for along the contour's outward normal: straight down, at the lip's sides,
    # would run along the lip
    tangent = chain[2:] - chain[:-2]
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.maximum(np.linalg.norm(tangent, axis=1), 1e-9)[:, None]
    normal *= np.sign((normal * down).sum(1, keepdims=True) + 1e-12)
    shift = np.zeros_like(pts)
    shift[list(LOWER_LIP)] = _lip_edges(source, pts, normal)[:, None] * normal
    edge = chain + np.r_[np.zeros((1, 2)), shift[list(LOWER_LIP)], np.zeros((1, 2))]
    chin, share = _chin_points(load_canonical_face()["vertices"][:, :2] * (1.0, -1.0))   # y down
    known = chin < len(pts)
    chin, share = chin[known], share[known]
    _, depth, reach = _below_lip(pts, edge)
    # only ever further from the lip: a point already as far as a closed mouth has it stays
    shift[chin] = np.maximum(share * reach[chin] - depth[chin], 0.0)[:, None] * down
    return shift


def _lip_edges(source: np.ndarray, pts: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """How far (px) along `normal` beyond each LOWER_LIP point the lip's red ends: 0 where the
    contour is already off the lip, no end is found within reach, or the lip is not redder than
    the skin (a greyscale source)."""
    steps = np.arange(0.0, MAX_EDGE * float(np.linalg.norm(pts[EYE_CORNERS[0]] - pts[EYE_CORNERS[1]])), 0.5)
    lab, corner = _lab_around(source, pts[list(LOWER_LIP + LOWER_INNER + SKIN_POINTS)],
                              float(steps[-1]) if len(steps) else 0.0)
    red = lab[..., 1]
    lip = float(np.median(_sample(red, 0.5 * (pts[list(LOWER_LIP)] + pts[list(LOWER_INNER)]) - corner)))
    skin = float(np.median(_sample(red, pts[list(SKIN_POINTS)] - corner)))
    edges = np.zeros(len(LOWER_LIP))
    if lip - skin < MIN_CONTRAST:
        return edges
    threshold = 0.5 * (lip + skin)
    for k, i in enumerate(LOWER_LIP):
        profile = _sample(red, pts[i] - corner + steps[:, None] * normal[k])
        below = np.flatnonzero(profile < threshold)
        if profile[0] >= threshold and len(below):
            edges[k] = steps[below[0]]
    return median_filter(np.r_[0.0, edges, 0.0], size=3, mode="nearest")[1:-1]   # one odd reading is noise


# An open mouth's inner-lip contour lies a pixel or three inside the opening, on the cavity's dark or
# the upper teeth's white (d18's yawn: on the cavity at the sides and past the corners, the teeth in
# the middle). Closed by the target, those pixels met along the lips' line: a dark sliver with white
# flecks across closed lips (self-reenactment from the yawn, where the driver's lips are shut). Each
# inner point (the corners too) is sampled where its lip's own colour begins: half-way in Lab from the
# opening's colour INNER_LOOK px inside the contour to the lip's half-way to its outer contour, looked
# for straight out of the opening no further than INNER_REACH of that way, where the two colours
# differ by INNER_CONTRAST or more (a lit tongue against a pale lip does not).
INNER_REACH = 0.5
INNER_LOOK = 1.5
INNER_CONTRAST = 15.0


def inner_lip_shift(source: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) source-pixel shifts of the inner-lip landmarks of `points` (N, 2+) of an open-mouthed
    source, each along the contour's outward normal to where the lip's colour begins. Zero where the
    contour is on the lip's edge or further in already, lip and opening look alike, or no edge lies
    within reach."""
    pts = np.asarray(points, np.float64)[:, :2]
    shift = np.zeros_like(pts)
    inner, outer = np.array(contour("lips_inner")), np.array(contour("lips_outer"))   # point for point
    tangent = pts[np.roll(inner, -1)] - pts[np.roll(inner, 1)]
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], 1) / np.maximum(np.linalg.norm(tangent, axis=1), 1e-9)[:, None]
    towards = pts[outer] - pts[inner]
    normal *= np.sign((normal * towards).sum(1, keepdims=True) + 1e-12)
    reach = INNER_REACH * np.linalg.norm(towards, axis=1)
    lab, corner = _lab_around(source, pts[outer], float(reach.max()))

    def colour(xy: np.ndarray) -> np.ndarray:
        return np.stack([_sample(lab[..., c], xy - corner) for c in range(3)], axis=-1)

    lip, opening = colour(pts[inner] + 0.5 * towards), colour(pts[inner] - INNER_LOOK * normal)
    contrast = np.linalg.norm(lip - opening, axis=1)
    steps = np.arange(0.0, float(reach.max()) + 0.25, 0.25)
    along = colour(pts[inner][:, None] + steps[None, :, None] * normal[:, None])          # (P, S, 3)
    progress = (((along - opening[:, None]) * (lip - opening)[:, None]).sum(-1)
                / np.maximum(contrast, 1e-9)[:, None] ** 2)                           # 0 the opening, 1 the lip
    edges = np.zeros(len(inner))
    for k in range(len(inner)):
        on_lip = np.flatnonzero((progress[k] >= 0.5) & (steps <= reach[k]))
        if contrast[k] >= INNER_CONTRAST and len(on_lip):
            edges[k] = steps[on_lip[0]]
    # one odd reading along the loop is noise
    edges = median_filter(edges, size=3, mode="wrap")
    shift[inner] = edges[:, None] * normal
    return _with_lip_body(shift, pts, inner, outer)


def _with_lip_body(shift: np.ndarray, pts: np.ndarray, inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """`shift` with the landmarks inside each lip (MediaPipe has two rings of them between its inner
    and outer contours) moved as their lip's inner contour is at the same place across the mouth,
    less the nearer its outer contour they lie: the lip is sampled squeezed towards its outer edge,
    its rings in their order (an inner point moved past the ring beside it would fold the lip)."""
    centre, across, down = _mouth_frame(pts)
    u, v = (pts - centre) @ across, (pts - centre) @ down
    contours = set(inner.tolist()) | set(outer.tolist())
    others = np.array([i for i in range(len(pts)) if i not in contours])
    corner_u = u[list(MOUTH_CORNERS)]
    for members in ({upper for upper, _ in INNER_LIP_PAIRS}, {lower for _, lower in INNER_LIP_PAIRS}):
        lip = np.array([k for k, i in enumerate(inner.tolist()) if i in members])     # the corners in both
        ins, outs = inner[lip][np.argsort(u[inner[lip]])], outer[lip][np.argsort(u[outer[lip]])]
        inner_v = np.interp(u[others], u[ins], v[ins])
        outer_v = np.interp(u[others], u[outs], v[outs])
        depth = (v[others] - inner_v) / np.where(np.abs(outer_v - inner_v) > 1e-6, outer_v - inner_v, np.inf)
        inside = (depth > 0) & (depth < 1) & (u[others] > corner_u.min()) & (u[others] < corner_u.max())
        for axis in range(2):
            moved = np.interp(u[others[inside]], u[ins], shift[ins, axis])
            shift[others[inside], axis] = (1.0 - depth[inside]) * moved
    return shift

