"""The built-in warp engine: no learned weights, runs anywhere.

The source face is textured onto its own MediaPipe mesh and re-drawn at the driving-aligned
landmark positions (a piecewise-affine backward warp, nearest triangle wins). Around the face two
rings of control points carry the head's rigid motion out to hair and ears and fade it to zero at a
static frame, so the background far from the head is untouched, bit for bit. The mouth opening is
its own region: the opening is filled from the source's own mouth interior when the source's mouth is open (the
lip-bridging triangles carry it), or with a drawn interior (cavity, tongue, teeth) when it is
closed (then those triangles are slivers that would smear the lips, so they are dropped; the
drawn interior lives in warp_mouth.py).
"""

from __future__ import annotations

import logging
from itertools import islice
from typing import Iterator, NamedTuple

import cv2
import numpy as np
from scipy.spatial import Delaunay
from scipy.spatial.transform import Rotation

from ..faces.topology import contour, face_triangles, lip_gaps, load_canonical_face
from ..io.prefetch import prefetched
from ..schema import WarpOptions
from ..tracking.geometry import similarity_procrustes
from ..tracking.mesh_tracker import canonical_reference
from .base import DrivingView
from .warp_affine import signed_areas, triangle_affines
from .warp_creases import OpenedCreases
from .warp_detail import detail_bands, detail_remap, fine_weight, map_differences, map_scale
from .warp_edge import EdgeZone
from .warp_eyes import EYES, EyeLayers, eye_opening, eye_turn, iris_radius
from .warp_lids import ClosingLids
from .warp_lips import EYE_CORNERS, inner_lip_shift, lower_lip_shift
from .warp_mouth import MouthInterior, driving_mouth_seen, shows_teeth, teeth_shown
from .warp_reveal import RevealedSkin
from .warp_shades import glasses_points, lens_points
from .warp_turn import (PROBE_FACE_SHARE, PROBE_WITHIN_YAW, Reader, landmarker_angles, read_turn,
                        turn_gain_from_read)

RIGID_POINTS = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 263, 362, 234, 454, 127, 356, 93, 323)
IRIS_CORE = 0.3   # least share of the eye opening's width, around the iris, that moves rigidly with the gaze
IRIS_CORE_TALL = 0.7   # share of its height
# An eye not drawn in layers (its iris not a dark disc where MediaPipe puts it: a cartoon's large
# light iris, a statue's) moves its iris core only part of the gaze once it is large: MediaPipe's
# eye contour and iris there are smaller than the painted ones, so the part of the iris outside the
# core stays and a far look tore it (a white wedge through a cartoon's 100 px eye). An eye up to
# WARPED_GAZE_WIDTHS[0] px wide takes the whole gaze (too small to show a tear: a 512 px photo's
# 19 px eyes), one from WARPED_GAZE_WIDTHS[1] px WARPED_GAZE of it, linearly between.
WARPED_GAZE, WARPED_GAZE_WIDTHS = 0.5, (24.0, 48.0)
_SIN_15 = float(np.sin(np.radians(15.0)))
HAIRLINE_DEPTH = 0.8   # the head ring's top: this share of the way from the pivot's depth to the forehead's
_INTERPOLATION = {"cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4, "linear": cv2.INTER_LINEAR, "detail": None}
# Where the map jumps (a face triangle drawn over the ring it turned across: the far cheek over its
# hair), neighbouring pixels come from source points more than TEAR_GRADIENT px apart. Such an edge
# is softened over about TEAR_SOFTEN px, as the source's own outline is, not cut pixel-sharp.
TEAR_GRADIENT, TEAR_SOFTEN = 3.0, 1.0
# How far the fade ring may be pulled along with the head, in steps, to undo folds between the rings.
# A source turned less than REVEAL_FREE_YAW degrees shows both cheeks, so a turn back towards the
# camera is drawn from them. Turned REVEAL_NONE_YAW or more, its far cheek is the silhouette: a turn
# towards the camera would stretch that edge and the background behind it across the face (a
# painting at 36 degrees went streaky with dark notches at 13 degrees back), so it is not drawn.
REVEAL_FREE_YAW, REVEAL_NONE_YAW = 15.0, 30.0
# Turning further away is drawn by sliding the face over its far outline; past this much yaw in all
# (source and turn together) the far temple folds over the hair and is cut straight (a painting at
# 36 degrees turned 16 more), and MediaPipe's own mesh is unreliable there anyway.
MAX_YAW = 45.0
# An open source mouth's own interior is stretched up to this many times its opening, then the drawn
# interior fades in over the next OPEN_STRETCH_RAMP. Where the driving frame shows its mouth, the
# drawn interior takes its layout: stretched further, parted lips with a glimpse of teeth became a
# pale, blurred band where the driving showed a grin's teeth or a tongue (s42 driven by d0 and d6).
# Without that layout (a preset, a covered mouth) the drawn interior is a plain cavity under the upper
# teeth, and the source's own gap, stretched, reads better for longer (its own teeth are split by the
# jaw instead: SPLIT_FROM).
OPEN_STRETCH, OPEN_STRETCH_RAMP = 1.5, 0.5
OPEN_STRETCH_UNLAID, OPEN_STRETCH_UNLAID_RAMP = 2.5, 1.5
# An open source mouth that shows no teeth takes the driving's layout wholly where the target opens
# TOOTHLESS_SQUEEZE[0] of its opening or less, none from TOOTHLESS_SQUEEZE[1]; and only as far as
# the target's lips are apart, fully from twice CLOSED_GAP
TOOTHLESS_SQUEEZE = (0.5, 0.8)
# An open source mouth whose opening is less than MORE_TEETH[0] teeth (`teeth_shown`) takes the
# driving's layout wholly where the driving's opening is MORE_TEETH[1] teeth or more, none below
# MORE_TEETH[0]: real clips measure a grin's 0.5-0.75, a yawn's or a talking slot's 0-0.07
MORE_TEETH = (0.15, 0.35)
# An open source mouth showing teeth, opened past SPLIT_FROM of its own opening with no driving
# picture, is split by the jaw instead of stretched (`WarpEngine._splits_own_mouth`): the demo's
# smile, stretched 2x by the talk preset, had teeth twice as long. Not below: the turn calibration's
# probes (`calibrate_turn`) read s42's parted lips 1.10x as open, and its readings moved every frame.
SPLIT_FROM = 1.2
# A closed source's mouth gets the drawn interior once it opens this far (mean inner-lip opening /
# mouth width), or a third of it past the source's own gap, whichever is more.
CLOSED_GAP = 0.015
_FADE_STEPS = (0.35, 0.5, 0.7, 0.85, 1.0)
FADE_BISECTIONS = 6   # halvings between two steps: within 1/64 of the least share that unfolds the rings
# The rings lie at least this share of the face oval's median radius beyond its outline.
RING_MIN_REACH = 0.7
# px the mesh must reach past a face-oval point for the rings to start from it instead (`ring_inner`):
# Einstein's, turned 10 degrees, reaches 2.2 px past one point; the painted girl's 10-48, s8's 3.5-15
RIM_REACH = 3.0
# The face oval's edges keep at least this share of their source length along their source direction
# as the head's motion carries it: a half-seen driving chin (a pan) crossed two oval points, which
# folded the ring triangle between them and the neck.
MIN_OVAL_EDGE = 0.1
# The fade ring keeps this share of its source distance outside the head ring, which a dropping
# chin pushes out (`_vertices`): not kept outside, the head ring folded over it in a yawn; kept at
# the head ring's own half, the collar under the yawn moved with the chin (background RMSE 0.023
# -> 0.007 on s1_d18-pan, 0.055 -> 0.036 on s12_d18-pan at this share).
YIELD_SHARE = 0.15
# where under the face oval a closing jaw starts to lift the head ring (`_jaw_lift`): the unit
# direction from the oval's centre pointing this far down (0.5: 30 degrees below the horizontal)
JAW_LIFT_FROM = 0.5
RING_SMOOTH = 0.06   # the rings' motion is smoothed over this share of the face's width (`_smoothed_rings`)
BLUR_SIGMA_CELLS = 12.0   # a wider blur of the map is taken on a coarser grid (`_blurred`): 512 px portraits stay under it
# A ring pixel's motion reaches at most this share of its distance to the picture's edge in the
# direction it reads from (`_kept_in_picture`): a face that fills its picture, turned 35 degrees,
# read its hair from past the edge, and the edge's last column was drawn as streaks 20-40 px wide.
PICTURE_EDGE_REACH = 0.5
# An eye opens at most this many times as wide as the source shows it (area between the lids over
# the width squared): a closed eye has no eye behind its lids to draw, and opened it drew the lash
# line stretched into brown slits. Below CLOSED_EYE the source's eye counts as closed (a blink
# caught in the photo measures 0.004-0.014, open eyes 0.15-0.42 on ../shared's portraits and clips).
EYE_STRETCH, CLOSED_EYE = 2.0, 0.05
# The folds that open lie below this height of MediaPipe's canonical face (cm, y up: the nose's tip
# -1.1, its bridge between the eyes 3.3, the lower lids 1.5-2, the mouth's corners -4.3)
CREASE_BELOW = 0.0

log = logging.getLogger("reenact")


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 similarity taking src (N, 2) to dst (N, 2) (Umeyama, no reflection)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, d]) @ vt
    scale = (sig * [1.0, d]).sum() / max((a ** 2).sum() / len(src), 1e-12)
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = mu_d - scale * r @ mu_s
    return m


def _similarity_3d(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
                   ) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares scale, 3x3 rotation and shift taking src (N, 3) to dst (N, 3): the tracker's
    Umeyama fit for one frame."""
    rot, shift, scale = similarity_procrustes(src, np.asarray(dst, np.float64)[None], weights)
    return float(scale[0]), rot[0], shift[0]


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def ring_around(oval: np.ndarray, centre: np.ndarray, scale: float) -> np.ndarray:
    """A ring of len(oval) points around the face oval, `scale` times its size: point i out from
    `centre` in oval point i's direction, beyond the oval's convex hull.

    A frontal oval is convex and goes once around its centre, so this is `centre + scale * rel`.
    The far side of a face turned 35 degrees curls back behind the nose and temple: its points lie
    inside the silhouette, several in one direction. Scaled from the centre, their ring points fell
    on the neighbouring oval points, slivers that folded at the least motion (48 of 120 frames).
    Here directions that turn back are spread evenly between their neighbours', and the ring is
    measured from the hull, at least RING_MIN_REACH of the median radius beyond it."""
    from scipy.spatial import ConvexHull

    rel = oval - centre
    angle = np.unwrap(np.arctan2(rel[:, 1], rel[:, 0]))
    turn = 1.0 if angle[-1] >= angle[0] else -1.0    # the contour's sense of rotation
    ahead = turn * angle
    leads = np.flatnonzero(ahead >= np.maximum.accumulate(ahead))   # points not turned back
    around = np.r_[leads, leads[0] + len(oval)]
    spread = np.interp(np.arange(len(oval)), around, np.r_[ahead[leads], ahead[leads[0]] + 2 * np.pi])
    # and oval points in one line with the centre (the jaw of a face turned 44 degrees) get
    # directions a quarter of the mean step apart at least, or their ring points coincide
    steps = np.maximum(np.diff(np.r_[spread, spread[0] + 2 * np.pi]), 0.25 * 2 * np.pi / len(oval))
    steps *= 2 * np.pi / steps.sum()
    spread = turn * (spread[0] + np.r_[0.0, np.cumsum(steps[:-1])])
    direction = np.stack([np.cos(spread), np.sin(spread)], 1)
    hull = oval[ConvexHull(oval).vertices]
    edges = np.roll(hull, -1, 0) - hull
    # distance from the centre to the hull along each direction (the centre lies inside it)
    cross = lambda a, b: a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    denom = cross(direction[:, None], edges[None])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = cross((hull - centre)[None], edges[None]) / denom
        u = cross((hull - centre)[None], direction[:, None]) / denom
    hit = (denom != 0) & (t > 0) & (u >= -1e-9) & (u <= 1 + 1e-9)
    to_hull = np.where(hit, t, np.inf).min(1)
    radius = np.linalg.norm(rel, axis=1)
    to_hull = np.where(np.isfinite(to_hull), to_hull, radius)
    beyond = (scale - 1.0) * np.maximum(to_hull, RING_MIN_REACH * np.median(radius))
    return centre + direction * (to_hull + beyond)[:, None]


def ring_inner(points: np.ndarray, oval_idx: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The mesh points the rings start from, one for each face-oval point (in its order): the oval
    point itself, or, where the mesh reaches RIM_REACH px or more past it (a turned face's far
    cheek), the mesh point that reaches furthest in its direction (within half the angle to its
    neighbours).

    MediaPipe puts a turned face's far oval where the jaw would be, behind the cheek: the cheek's
    own points reach its outline 10-48 px further out (the painted girl, 35 degrees). Rings started
    at the oval held a copy of the cheek's rim; wherever the face's far edge drew in (a mouth opening
    narrows the cheek, 5 px), that copy showed beside it: the cheek's outline twice, a dark line on
    the skin in from a pale band. Started from the outline, the rim is the face's alone."""
    rel = points - centre
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    window = np.pi / len(oval_idx)
    inner = np.array(oval_idx, np.int64)
    used = set(inner.tolist())
    for k, i in enumerate(oval_idx):
        reach = float(np.linalg.norm(rel[i]))
        along = rel[i] / max(reach, 1e-9)
        near = np.abs((angle - angle[i] + np.pi) % (2 * np.pi) - np.pi) < window
        out = np.where(near, rel @ along, -np.inf)
        j = int(np.argmax(out))
        if out[j] - reach >= RIM_REACH and j not in used:
            inner[k] = j
            used.add(j)
    return inner


def _kept_outside(ring: np.ndarray, ring_source: np.ndarray, inner: np.ndarray, inner_source: np.ndarray,
                  share: float = 0.5) -> np.ndarray:
    """`ring` (N, 2) pushed outwards, along each point's source offset from its partner on the
    `inner` loop (the same N, in order), where it comes closer to that partner than `share` of the offset."""
    offset = ring_source - inner_source
    reach = np.linalg.norm(offset, axis=1)
    out_dir = offset / np.maximum(reach, 1e-9)[:, None]
    short = share * reach - ((ring - inner) * out_dir).sum(1)
    return ring + np.maximum(short, 0.0)[:, None] * out_dir


class BackwardMap(NamedTuple):
    """A warp's map over an ROI: the source position of each pixel, where it moves, and which
    triangle is drawn on top there (-1: none), so that per-triangle facts (a fold, a stretch) are
    looked up rather than each triangle rasterised again."""
    map_x: np.ndarray      # (h, w) float32
    map_y: np.ndarray      # (h, w) float32
    moved: np.ndarray      # (h, w) bool
    top: np.ndarray        # (h, w) int32, index into the triangles; at `stride` resolution, repeated


def _backward_map(dst: np.ndarray, src: np.ndarray, tris: np.ndarray, origin, shape: tuple[int, int],
                  stride: int = 2, droppable: np.ndarray | None = None, smooth_tris: int = 0,
                  smooth_sigma: float = 0.0, affines: np.ndarray | None = None, exact_tears: bool = True) -> BackwardMap:
    """Source coordinates for every pixel of an ROI at `origin` covered by `tris` at their dst
    positions; identity elsewhere. Later triangles overwrite earlier ones (painter's order).

    The map is piecewise affine and continuous, so it is evaluated on a grid `stride` times
    coarser (at the centres of stride x stride blocks) and resized: exact inside triangles,
    sub-pixel at their edges, and `stride`² times less work. Also returns where the map moves and
    the topmost triangle at each pixel (that of its block's centre).
    `droppable` (per triangle, default all) marks those left out when squeezed under one cell.
    The first `smooth_tris` triangles (the rings) have their motion smoothed by a Gaussian of
    `smooth_sigma` px, fully from a sigma inside them and not at all at their edges.
    `affines`: the triangles' own (`triangle_affines`), where the caller has them already.
    `exact_tears`: pixels beside a tear read their own triangle at full resolution (`_exact_where`);
    a map only smoothed after (`warp_reveal`'s detail band) can do without.
    """
    h, w = shape
    # one extra sample beyond each side, so the resize never clamps at the ROI's border
    pad = 1 if stride > 1 else 0
    gh, gw = -(-h // stride) + 2 * pad, -(-w // stride) + 2 * pad
    gx0 = origin[0] - pad * stride + (stride - 1) / 2
    gy0 = origin[1] - pad * stride + (stride - 1) / 2
    affines = triangle_affines(dst, src, tris) if affines is None else affines
    # an extra identity affine at index len(tris) for uncovered pixels
    affines = np.concatenate([affines, [[[1.0, 0, 0], [0, 1.0, 0]]]]).astype(np.float32)
    index = np.full((gh, gw), len(tris), np.int32)
    corners = np.round((dst[tris] - (gx0, gy0)) / stride * 16).astype(np.int32)
    # A triangle squeezed under a map cell and a quarter of its own size (a nostril's, a lip
    # corner's) is drawn as its outline, and its affine, nearly singular, sends those pixels far
    # away: a speck of skin 12 px off in a nostril's shadow. Such slivers are left out; the cracks
    # they leave between neighbours take the nearest-drawn neighbour's triangle (not the identity:
    # the unmoved source).
    area = np.abs(signed_areas(dst, tris))                                 # twice the area
    visible = (area >= 2.0 * stride * stride) | (area >= 0.25 * np.abs(signed_areas(src, tris)))
    if droppable is not None:
        visible |= ~droppable
    dropped = np.zeros((gh, gw), np.uint8)
    # only the triangles that reach the grid (a box around a cheek holds few of the face's 850)
    lo, hi = corners.min(1), corners.max(1)
    reach = (hi >= -16).all(1) & (lo[:, 0] <= gw * 16) & (lo[:, 1] <= gh * 16)
    for k in np.flatnonzero(reach):
        if visible[k]:
            cv2.fillConvexPoly(index, corners[k], int(k), lineType=cv2.LINE_8, shift=4)
        else:
            cv2.fillConvexPoly(dropped, corners[k], 1, lineType=cv2.LINE_8, shift=4)
    uncovered = index == len(tris)
    if dropped.any() and uncovered.any():
        # where a dropped sliver leaves a crack (drawn cells on both sides: 5+ of its 8 neighbours)
        neighbours = cv2.filter2D((~uncovered).astype(np.float32), -1, np.ones((3, 3), np.float32),
                                  borderType=cv2.BORDER_CONSTANT)
        cracks = uncovered & (neighbours >= 5) & (cv2.dilate(dropped, np.ones((3, 3), np.uint8)) > 0)
        drawn = np.where(uncovered, -1, index).astype(np.float32)     # exact: fewer than 2**24 triangles
        grown = cv2.dilate(drawn, np.ones((3, 3), np.uint8)).astype(np.int32)
        index = np.where(cracks & (grown >= 0), grown, index)
    ys, xs = np.mgrid[:gh, :gw].astype(np.float32)
    xs = xs * stride + np.float32(gx0)
    ys = ys * stride + np.float32(gy0)
    a = affines[index]
    map_x = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
    map_y = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
    if smooth_tris and smooth_sigma > 0:
        map_x, map_y = _smoothed_rings(map_x, map_y, xs, ys, index < smooth_tris, smooth_sigma / stride)
    moved = ((np.abs(map_x - xs) > 1e-3) | (np.abs(map_y - ys) > 1e-3)).astype(np.uint8)
    top = np.where(index == len(tris), -1, index)
    if stride > 1:
        size = (gw * stride, gh * stride)
        cut = (slice(pad * stride, pad * stride + h), slice(pad * stride, pad * stride + w))
        # Across a tear (neighbouring cells read source points far apart: a closed mouth drawn from
        # an open one, its lips' inner edges 30 px apart in the source) the resized map would read
        # the source half way between them, the dark mouth between the lips: a line. There each
        # pixel takes its own block's triangle, exactly.
        torn = _torn_cells(map_x, map_y, TEAR_GRADIENT * stride) if exact_tears else np.zeros((gh, gw), bool)
        if smooth_tris and smooth_sigma > 0:
            torn &= index >= smooth_tris          # the rings' map is smoothed, not their triangles' own
        map_x = cv2.resize(map_x, size, interpolation=cv2.INTER_LINEAR)[cut]
        map_y = cv2.resize(map_y, size, interpolation=cv2.INTER_LINEAR)[cut]
        if torn.any():
            _exact_where(map_x, map_y, torn.repeat(stride, 0).repeat(stride, 1)[cut], dst, tris, visible, affines,
                         origin)
        # a pixel may move when any coarse sample around it does
        moved = cv2.resize(cv2.dilate(moved, np.ones((3, 3), np.uint8)), size, interpolation=cv2.INTER_NEAREST)[cut]
        top = top.repeat(stride, 0).repeat(stride, 1)[cut]
    return BackwardMap(map_x.astype(np.float32, copy=False), map_y.astype(np.float32, copy=False),
                       moved.astype(bool), np.ascontiguousarray(top))


def _exact_where(map_x: np.ndarray, map_y: np.ndarray, where: np.ndarray, dst: np.ndarray, tris: np.ndarray,
                 visible: np.ndarray, affines: np.ndarray, origin) -> None:
    """The map (of an ROI at `origin`), in place, exact at the pixels `where`: each takes the
    topmost visible triangle drawn over it at full resolution (none: left as it is)."""
    rows, cols = np.nonzero(where)
    if not len(rows):              # a tear only in the coarse grid's margin beyond the ROI
        return
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    box_origin = np.array([origin[0] + c0, origin[1] + r0], np.float64)
    index = np.full((r1 - r0, c1 - c0), -1, np.int32)
    corners = np.round((dst[tris] - box_origin) * 16).astype(np.int32)
    lo, hi = dst[tris].min(1), dst[tris].max(1)
    inside = (hi[:, 0] >= box_origin[0] - 1) & (lo[:, 0] <= box_origin[0] + c1 - c0) & \
             (hi[:, 1] >= box_origin[1] - 1) & (lo[:, 1] <= box_origin[1] + r1 - r0) & visible
    for k in np.flatnonzero(inside):
        cv2.fillConvexPoly(index, corners[k], int(k), lineType=cv2.LINE_8, shift=4)
    k = index[rows - r0, cols - c0]
    drawn = k >= 0
    rows, cols, own = rows[drawn], cols[drawn], affines[k[drawn]]
    px = (cols + origin[0]).astype(np.float32)
    py = (rows + origin[1]).astype(np.float32)
    map_x[rows, cols] = own[:, 0, 0] * px + own[:, 0, 1] * py + own[:, 0, 2]
    map_y[rows, cols] = own[:, 1, 0] * px + own[:, 1, 1] * py + own[:, 1, 2]


def _torn_cells(map_x: np.ndarray, map_y: np.ndarray, gap: float) -> np.ndarray:
    """Cells (pixels) of a map next to a neighbour (4-connected) that reads a source point more
    than `gap` px away along either axis."""
    return _torn(*map_differences(map_x, map_y), gap)


def _torn(xx: np.ndarray, yx: np.ndarray, xy: np.ndarray, yy: np.ndarray, gap: float) -> np.ndarray:
    """`_torn_cells` from the map's differences across (xx, yx: (h, w-1)) and down (xy, yy: (h-1, w))."""
    torn = np.zeros((xx.shape[0], xy.shape[1]), bool)
    across = (np.abs(xx) > gap) | (np.abs(yx) > gap)
    down = (np.abs(xy) > gap) | (np.abs(yy) > gap)
    torn[:, 1:] |= across
    torn[:, :-1] |= across
    torn[1:] |= down
    torn[:-1] |= down
    return torn


def _folded_on_top(top: np.ndarray, folded: np.ndarray, origin, shape: tuple[int, int]) -> np.ndarray | None:
    """Over a box at `origin` (pixels of `top`, a map's topmost triangle per pixel): the share of
    each pixel where that triangle is `folded` (per triangle), softened over a pixel; None where no
    folded triangle is on top in the box."""
    x0, y0 = origin
    h, w = shape
    box = top[y0:y0 + h, x0:x0 + w]
    mask = np.where(box >= 0, folded[np.maximum(box, 0)], False)
    if not mask.any():
        return None
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)


def _kept_in_picture(map_x: np.ndarray, map_y: np.ndarray, where: np.ndarray, origin: tuple[int, int],
                     size: tuple[int, int], motion_bound: float, reach: float = PICTURE_EDGE_REACH) -> None:
    """The backward map (ROI at `origin`, source picture `size` (h, w)) changed in place where
    `where`: each pixel's motion shortened to stay under `reach` of its distance to the picture's
    edge along it, smoothly (unchanged up to half of that, then saturating), so pixels read from
    inside the picture, nearer the edge the less far, the edge itself from where it is.
    `motion_bound`: no pixel there moves further (px), so only those that near an edge are looked at."""
    h, w = size
    band = 2.0 / reach * motion_bound
    rows = origin[1] + np.arange(map_x.shape[0])
    cols = origin[0] + np.arange(map_x.shape[1])
    near_rows = (rows < band) | (rows > h - 1 - band)
    near_cols = (cols < band) | (cols > w - 1 - band)
    if not (near_rows.any() or near_cols.any()):
        return
    ys, xs = np.nonzero(where & (near_rows[:, None] | near_cols[None, :]))
    if not len(ys):
        return
    gx, gy = (xs + origin[0]).astype(np.float64), (ys + origin[1]).astype(np.float64)
    mx, my = map_x[ys, xs] - gx, map_y[ys, xs] - gy
    with np.errstate(divide="ignore", invalid="ignore"):   # the share of the motion that reaches the edge
        tx = np.where(mx < 0, gx / -mx, np.where(mx > 0, (w - 1 - gx) / mx, np.inf))
        ty = np.where(my < 0, gy / -my, np.where(my > 0, (h - 1 - gy) / my, np.inf))
    t = np.maximum(np.minimum(tx, ty), 0.0)
    half = 0.5 * reach * t                          # as shares of the motion: unchanged below
    over = half < 1.0
    if not over.any():
        return
    half = half[over]
    kept = np.where(half > 0, half + half * np.tanh((1.0 - half) / np.maximum(half, 1e-12)), 0.0)
    ys, xs = ys[over], xs[over]
    map_x[ys, xs] = (gx[over] + kept * mx[over]).astype(map_x.dtype)
    map_y[ys, xs] = (gy[over] + kept * my[over]).astype(map_y.dtype)


def _smoothed_rings(map_x: np.ndarray, map_y: np.ndarray, xs: np.ndarray, ys: np.ndarray, rings: np.ndarray,
                    sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The map with its motion over `rings` (cells) blurred by `sigma` cells, blended in over one
    sigma from their edges (where it meets the face's exact map and the still background). The
    piecewise-affine motion between the rings kinks at every ring point: in a turn past 30
    degrees a fringe between the forehead and the head ring was drawn as a zig-zag."""
    if not rings.any():
        return map_x, map_y
    # 0 on the rings' edge cells (1 from the nearest other cell), 1 from a sigma further in
    weight = np.clip((cv2.distanceTransform(rings.astype(np.uint8), cv2.DIST_L2, 3) - 1.0) / sigma, 0.0, 1.0)
    out = []
    for values, grid in ((map_x, xs), (map_y, ys)):
        motion = values - grid
        out.append(values + weight * (_blurred(motion, sigma) - motion))
    return out[0], out[1]


def _blurred(values: np.ndarray, sigma: float) -> np.ndarray:
    """`values` blurred by a Gaussian of `sigma` cells. Past BLUR_SIGMA_CELLS it is blurred on a grid
    as many times coarser as keeps the sigma under it, and resized back: the result is smooth at
    that scale anyway, and the kernel's cost grows with its sigma (a 4K portrait's rings: 42 cells,
    a quarter of the warp's time)."""
    factor = int(np.ceil(sigma / BLUR_SIGMA_CELLS))
    if factor <= 1:
        return cv2.GaussianBlur(values, (0, 0), sigma)
    # mirrored out by three sigmas first (and up to whole coarse cells), so the coarse blur meets
    # the edges as the fine one does and each coarse cell averages exactly factor x factor cells
    h, w = values.shape
    edge = int(3 * sigma)
    padded = cv2.copyMakeBorder(values, edge, edge + (-(h + 2 * edge)) % factor, edge, edge + (-(w + 2 * edge)) % factor,
                                cv2.BORDER_REFLECT_101)
    ph, pw = padded.shape
    small = cv2.resize(padded, (pw // factor, ph // factor), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / factor), (pw, ph), interpolation=cv2.INTER_LINEAR)
    return blurred[edge:edge + h, edge:edge + w]


def _warped_gaze(width: float) -> float:
    """The share of the gaze an eye `width` px wide takes when it is not drawn in layers
    (WARPED_GAZE_WIDTHS)."""
    small, large = WARPED_GAZE_WIDTHS
    return float(1.0 + (WARPED_GAZE - 1.0) * np.clip((width - small) / (large - small), 0.0, 1.0))


def _map_shape(map_x: np.ndarray, map_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of a backward map: where it jumps (neighbours read source points more than
    TEAR_GRADIENT px apart) and its linear scale (source px per output px, the square root of the
    map's Jacobian determinant: above 1 the source is squeezed, below 1 stretched)."""
    differences = map_differences(map_x, map_y)
    return _torn(*differences, TEAR_GRADIENT), map_scale(map_x, map_y, differences)


def _soften_tears(image: np.ndarray, jump: np.ndarray, moved: np.ndarray) -> None:
    """Soften, in place, where the map jumps (`_map_shape`): the one-pixel, stair-stepped cut where
    one part of the source is drawn over another (a turned face's far cheek over its hair) becomes
    an edge about TEAR_SOFTEN px wide, as the source's own outlines are. Unmoved pixels stay exact."""
    if not jump.any():
        return
    ys, xs = np.nonzero(jump)
    reach = int(np.ceil(3 * TEAR_SOFTEN)) + 1
    y0, y1 = max(ys.min() - reach, 0), min(ys.max() + reach + 1, image.shape[0])
    x0, x1 = max(xs.min() - reach, 0), min(xs.max() + reach + 1, image.shape[1])
    box = image[y0:y1, x0:x1]
    weight = cv2.GaussianBlur(jump[y0:y1, x0:x1].astype(np.float32), (0, 0), TEAR_SOFTEN)
    weight = np.minimum(weight * 2.0, 1.0) * moved[y0:y1, x0:x1]
    soft = cv2.GaussianBlur(box, (0, 0), TEAR_SOFTEN).astype(np.float32)
    box[:] = np.rint(box + (soft - box) * weight[..., None]).astype(np.uint8)


class WarpEngine:
    """Re-draws one source portrait at new landmark positions. Coordinates are source-image pixels."""

    def __init__(self, source: np.ndarray, source_points: np.ndarray, options: WarpOptions | None = None):
        self.opts = options or WarpOptions()
        self.source = np.ascontiguousarray(source)
        self.src_pts = np.asarray(source_points, np.float64)[:, :2]
        points = np.asarray(source_points, np.float64)
        self.src_z = points[:, 2] if points.shape[1] > 2 else np.zeros(len(points))
        # the depth the head turns about: that of the face oval's sides, in front of the ears
        self.pivot_z = float(self.src_z[[234, 454]].mean())
        self.source_yaw = self._source_yaw()
        self.turn_gain = 1.0      # the factor on every asked yaw (warp_turn: set by `calibrate_turn`)
        self.last_turn = 0.0      # the yaw (degrees, from the source's) the last `_limit_turn` drew
        self.reveal_gain = float(np.clip((REVEAL_NONE_YAW - abs(self.source_yaw)) / (REVEAL_NONE_YAW - REVEAL_FREE_YAW),
                                         0.0, 1.0))
        h, w = source.shape[:2]
        oval_idx = np.array(contour("face_oval"))
        oval = self.src_pts[oval_idx]
        self.centre = oval.mean(0)
        self.face_width = float(np.ptp(oval[:, 0]))
        rel = oval - self.centre
        # A face turned this far shows its far cheek as a silhouette (nothing of it is revealed,
        # `reveal_gain`): its rings start from the cheek's outline. Less turned, the outline cuts
        # through a soft cheek edge (s8, 22 degrees, on d11's turn): started there, the rings left a
        # hard line where the turning face slid over them (seam frames 10 -> 20); from the oval, a
        # copy of the rim beside it blends them.
        self.ring_inner = (ring_inner(self.src_pts[:468], oval_idx, self.centre)
                           if abs(self.source_yaw) >= REVEAL_NONE_YAW else oval_idx)
        inner = self.src_pts[self.ring_inner]
        self.head_ring = ring_around(inner, self.centre, self.opts.head_ring)
        self.fade_ring = ring_around(inner, self.centre, self.opts.fade_ring)
        # how much of the head's motion each ring point takes: all of it above the jaw (hair,
        # ears), none below the chin, where the rings lie on the neck and the body holds them
        down = rel[:, 1] / np.maximum(np.linalg.norm(rel, axis=1), 1e-9)
        self.ring_follow = np.clip((0.75 - down) / 0.6, 0.0, 1.0)
        # the ring points under the jaw (chin 1, past the jaw's angle 0): those a closing jaw lifts
        self.jaw_share = np.clip((down - JAW_LIFT_FROM) / (1.0 - JAW_LIFT_FROM) * 2.0, 0.0, 1.0)
        # The hair over the forehead sits on the front of the skull, nearer than the pivot: a turn
        # carries it with the hairline part of the way to the forehead's own depth (the forehead
        # slid over a still fringe at 35 degrees of yaw). At the sides (ears) it stays at the pivot.
        self.head_ring_depth = (np.clip((-down - 0.3) / 0.5, 0.0, 1.0) * HAIRLINE_DEPTH
                                * (self.src_z[oval_idx] - self.pivot_z))
        radius = np.abs(rel).max() * self.opts.frame_scale
        # The static frame may lie past the picture's edges (only the picture is redrawn, `roi`): a
        # face at the edge then moves over it (a chin dropping past the bottom) instead of folding
        # the triangles pinned to it.
        f0, f1 = np.floor(self.centre - radius), np.ceil(self.centre + radius)
        x0, y0 = np.maximum(f0, 0).astype(int)
        x1, y1 = np.minimum(f1, [w - 1, h - 1]).astype(int)
        self.roi = (x0, y0, x1 + 1, y1 + 1)
        frame = np.array([(x, y) for x in np.linspace(f0[0], f1[0], 6) for y in np.linspace(f0[1], f1[1], 6)
                          if x in (f0[0], f1[0]) or y in (f0[1], f1[1])], np.float64)
        self.frame = frame
        self.n_face = len(self.src_pts)  # 478: the mesh's 468 and the two irises
        # Ring triangles: a Delaunay mesh of the rings' inner loop (the oval, or a turned face's
        # outline) + rings + frame, minus what lies inside that loop.
        ring_src = np.concatenate([inner, self.head_ring, self.fade_ring, frame])
        tri = Delaunay(ring_src).simplices
        centroids = ring_src[tri].mean(1)
        inner_poly = inner.astype(np.float32).reshape(-1, 1, 2)
        keep = np.array([cv2.pointPolygonTest(inner_poly, (float(x), float(y)), False) < 0 for x, y in centroids])
        n_oval = len(oval_idx)
        # a notch of a turned face's outline, between three of its own points, is the face's to
        # draw: the face's motion folded such a ring triangle (the painted girl on d11, frame 43)
        pushed = np.flatnonzero(self.ring_inner != oval_idx)
        keep &= ~((tri < n_oval).all(1) & np.isin(tri, pushed).any(1))
        # vertex ids: 0..467 face, then head ring, fade ring, frame
        remap = np.concatenate([self.ring_inner, self.n_face + np.arange(len(ring_src) - n_oval)])
        self.ring_tris = remap[tri[keep]]
        self.ring_vertices = np.unique(self.ring_tris)
        self.oval_idx = oval_idx
        # Each eye's iris core: a copy of the eye opening shrunk around the iris centre, moving
        # rigidly with it (so the whole iris shifts with the gaze, not only its centre).
        self.eyes = [(c, np.array(contour(eye)), corners) for eye, c, corners in EYES if self.n_face > c]
        # the share of the gaze each eye takes when it is not drawn in layers (by its width)
        self.warped_gaze = {c: _warped_gaze(float(np.linalg.norm(self.src_pts[a, :2] - self.src_pts[b, :2])))
                            for c, _, (a, b) in self.eyes}
        self.eye_opening = {c: eye_opening(self.src_pts, ring, corners) for c, ring, corners in self.eyes}
        # eyes behind dark lenses (warp_shades): the lenses move only with the head, their eyes take
        # no blink and no gaze
        lenses = lens_points(self.source, self.src_pts, self.n_face) if self.eyes else {}
        self.lens_held = glasses_points(lenses, self.src_pts[:self.n_face])
        hidden = {centre for eye, centre, _ in EYES if eye in lenses}
        for centre in hidden:
            self.warped_gaze[centre] = 0.0
        if hidden:
            log.info("an eye of the source is hidden behind something dark (sunglasses, a dark fringe): "
                     "it moves with the head only")
        if min([v for c, v in self.eye_opening.items() if c not in hidden], default=1.0) < CLOSED_EYE:
            log.warning("the source's eyes look closed; a photo shows no eyes behind closed lids, so they "
                        "open at most %gx as far as they are in it", EYE_STRETCH)
        self.iris_src = self._iris_core(self.src_pts)
        self.eye_rims = np.concatenate([ring for _, ring, _ in self.eyes]) if self.eyes else np.zeros(0, int)
        self.last_folds = 0          # ring triangles still folded in the last render (0 unless impossible)
        self.lips_inner = np.array(contour("lips_inner"))
        if self.opts.interpolation not in _INTERPOLATION:
            raise ValueError(f"interpolation must be one of {', '.join(_INTERPOLATION)}, not {self.opts.interpolation!r}")
        if self.opts.mouth_interior not in ("auto", "source", "drawn"):
            raise ValueError(f"mouth_interior must be auto, source or drawn, not {self.opts.mouth_interior!r}")
        # the source mouth's width per span of the outer eye corners: a target's is carried as that
        # span scales (`_mouth_openness`)
        self.mouth_per_eye_span = (float(np.linalg.norm(self.src_pts[61, :2] - self.src_pts[291, :2]))
                                   / max(float(np.linalg.norm(self.src_pts[EYE_CORNERS[0], :2] - self.src_pts[EYE_CORNERS[1], :2])), 1e-6))
        self.source_openness = self._mouth_openness(self.src_pts)
        self.source_mouth_open = (self.opts.mouth_interior == "source" or (
            self.opts.mouth_interior == "auto" and self.source_openness > self.opts.open_mouth_ratio))
        # an open mouth without teeth in sight (a yawn's dark cavity) has none to give a smaller
        # opening, where the driving may show them (`_drawn_mouth_opacity`)
        self.source_teeth = self.source_mouth_open and shows_teeth(self.source, self.src_pts)
        # ... and one that shows next to none by a stricter count (a lit lip is no tooth) takes the
        # driving's where the driving shows a grin's (`_drawn_mouth_opacity`)
        self.source_toothless = self.source_mouth_open and teeth_shown(self.source, self.src_pts) < MORE_TEETH[0]
        # an open mouth's lower lip reaches past MediaPipe's contour: the source is sampled at the
        # lip's visible edge (warp_lips), drawn there while the target's mouth is as open as the source's
        self.lip_shift = (lower_lip_shift(self.source, self.src_pts[:self.n_face])
                          + inner_lip_shift(self.source, self.src_pts[:self.n_face]) if self.source_mouth_open
                          else np.zeros((self.n_face, 2)))
        self.ring_sign = np.sign(signed_areas(self._source_vertices(), self.ring_tris))
        # whether a driving frame can ever be drawn into the mouth: a drawn interior with teeth, laid
        # out as the driving shows it (a source's own interior stretched by `source` never is)
        self.takes_driving_layout = (self.opts.interior_layout == "driving" and self.opts.teeth
                                     and self.opts.mouth_interior != "source")
        # The triangles bridging the lips hold the source's mouth interior when it is open; when it
        # is closed they are slivers that would smear the lips across the opening, so they go.
        inner = set(self.lips_inner.tolist())
        face = face_triangles()
        bridge = np.array([all(int(v) in inner for v in t) for t in face])
        face = face if self.source_mouth_open else face[~bridge]
        # Each eye opening is re-triangulated around its iris: a fan from the iris centre to the
        # iris core ring (rigid), and a band from the core ring to the eye contour that takes up
        # the motion; they go under the lids, which close over them in a blink.
        bands, cores, base = [], [], self.n_face + len(self.head_ring) + len(self.fade_ring) + len(self.frame)
        for centre, ring, _ in self.eyes:
            inside = np.array([all(int(v) in set(ring.tolist()) for v in t) for t in face])
            face = face[~inside]
            m = len(ring)   # the core: its centre at base, its ring at base + 1 ...
            for i in range(m):
                a, b = base + 1 + i, base + 1 + (i + 1) % m
                cores.append((base, a, b))
                bands += [(a, ring[i], ring[(i + 1) % m]), (a, ring[(i + 1) % m], b)]
            base += m + 1
        self.face_tris = face
        # the edge of the face widens at most EDGE_STRETCH times in a turn (warp_edge: hair over a
        # temple was drawn as a streak across the cheek), measured where the source is sampled
        self.edge_zone = EdgeZone.of(self._source_vertices()[:self.n_face], oval_idx,
                                     np.setdiff1d(np.unique(face), self.eye_rims),
                                     load_canonical_face()["vertices"])
        # bands first, cores over them, lids (face triangles) over both: where the iris core
        # reaches past a narrowed eye opening, the lids hide it instead of squashing it
        self.eye_tris = np.array(bands + cores, np.int64) if cores else np.zeros((0, 3), np.int64)
        # folds that open (a closed mouth's corners in a yawn) are drawn without their shadow
        # (warp_creases): those of the face below the middle of the nose, not a lid's crease or the brows'
        self.lower_face = (load_canonical_face()["vertices"][face, 1] < CREASE_BELOW).all(1)
        self.revealed = RevealedSkin(self.source, self.src_pts, face)
        self.lids = ClosingLids(self.source, self.src_pts, face)
        self.creases = OpenedCreases(self.source, self.roi, float(np.linalg.norm(self.src_pts[61] - self.src_pts[291])))
        self._bands = detail_bands(self.source) if self.opts.interpolation == "detail" else None
        self.mouth = MouthInterior(self.source, self.src_pts, self.opts.teeth)
        if self.opts.eyes not in ("layers", "warp"):
            raise ValueError(f"eyes must be layers or warp, not {self.opts.eyes!r}")
        self.eye_layers = (EyeLayers(self.source, points, detail=self.opts.interpolation == "detail")
                           if self.opts.eyes == "layers" and not hidden else None)
        self.layered = set(self.eye_layers.centres()) if self.eye_layers is not None else set()

    def _source_yaw(self) -> float:
        """The source head's yaw in degrees (MediaPipe's canonical face fitted to its landmarks);
        0 without depth."""
        if not self.src_z.any() or len(self.src_pts) < 468:
            return 0.0
        canon, weights = canonical_reference()        # the mesh tracker's pose fit, on the source alone
        _, rot, _ = _similarity_3d(canon, np.c_[self.src_pts[:468], self.src_z[:468]], weights)
        return float(Rotation.from_matrix(rot).as_euler("yxz", degrees=True)[0])

    def calibrate_turn(self, read_angles: Reader | None = None) -> float:
        """Sets `turn_gain` from two probe turns of the source read back by the landmarker
        (warp_turn); returns it. A source turned past PROBE_WITHIN_YAW or a face small in its
        picture (PROBE_FACE_SHARE) keeps 1."""
        self.turn_gain = 1.0
        face_extent = float(np.ptp(self.src_pts[:self.n_face], axis=0).max())
        if abs(self.source_yaw) > PROBE_WITHIN_YAW or face_extent < PROBE_FACE_SHARE * min(self.source.shape[:2]):
            return self.turn_gain
        # the whole picture is read, as the output will be (a crop of the face read s3's probes
        # 9 % less turned, s1's 5 %: MediaPipe's pose depends on where the face lies in the frame)
        read = read_turn(self.render, np.c_[self.src_pts, self.src_z], np.array([*self.centre, self.pivot_z]),
                         read_angles or landmarker_angles)
        self.turn_gain = turn_gain_from_read(read)
        return self.turn_gain

    def _limit_turn(self, target: np.ndarray) -> np.ndarray:
        """`target` with its yaw scaled by `turn_gain`, then the part of its turn that would
        bring the far side of a turned source into view scaled by `reveal_gain`, and a turn further
        away held to MAX_YAW in all (about the pivot; pitch, roll and expression are kept).
        Continuous in the turn."""
        self.last_turn = 0.0
        if target.shape[1] < 3:
            return target
        rigid = list(RIGID_POINTS)
        scale, rot, shift = _similarity_3d(np.c_[self.src_pts[rigid], self.src_z[rigid]], target[rigid, :3])
        asked, pitch, roll = Rotation.from_matrix(rot).as_euler("yxz", degrees=True)
        yaw = asked * self.turn_gain
        if yaw * self.source_yaw < 0:                         # back towards the camera: reveals the far side
            limited = yaw * self.reveal_gain
        else:                                                 # further away: hides it, up to MAX_YAW in all
            limited = float(np.sign(yaw)) * min(abs(yaw), max(MAX_YAW - abs(self.source_yaw), 0.0))
        self.last_turn = float(limited)
        if limited == asked:
            return target
        kept = Rotation.from_euler("yxz", [limited, pitch, roll], degrees=True).as_matrix()
        pivot = np.array([*self.centre, self.pivot_z])
        local = (target[:, :3] - shift) @ rot / scale - pivot  # the target in the source's pose, about the pivot
        out = target.copy()
        out[:, :3] = scale * rot @ pivot + shift + scale * local @ kept.T
        return out

    def _held_eyes(self, target: np.ndarray) -> np.ndarray:
        """`target` with each eye opened at most EYE_STRETCH times as far as the source's: its lids
        brought towards the line between its corners, both alike."""
        out = target
        for centre, ring, corners in self.eyes:
            most = EYE_STRETCH * self.eye_opening[centre]
            opening = eye_opening(target, ring, corners)
            if opening <= most:
                continue
            if out is target:
                out = target.copy()
            a, b = out[list(corners), :2]
            across = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
            offset = out[ring, :2] - a
            along = (offset @ across)[:, None] * across
            out[ring, :2] = a + along + (offset - along) * (most / opening)
        return out

    def _held_lenses(self, target: np.ndarray) -> np.ndarray:
        """`target` with the landmarks on dark lenses (`lens_held`) where the head's rigid motion
        (a 3D similarity of RIGID_POINTS, with depth) takes their source positions."""
        if not len(self.lens_held):
            return target
        out = target.copy()
        rigid, held = list(RIGID_POINTS), self.lens_held
        if target.shape[1] < 3 or not self.src_z.any():
            out[held, :2] = _apply(similarity_fit(self.src_pts[rigid], target[rigid, :2]), self.src_pts[held])
            return out
        src = np.c_[self.src_pts, self.src_z]
        scale, rot, shift = _similarity_3d(src[rigid], target[rigid, :3])
        out[held, :3] = scale * src[held] @ rot.T + shift
        return out

    def _mouth_openness(self, pts: np.ndarray, carried: bool = False) -> float:
        """Mean signed inner-lip opening / mouth width: negative when the lips cross. `carried`:
        the width is the source mouth's, scaled as the span between the outer eye corners: a pout
        narrows the mouth, it does not open it (d14's pout narrowed her mouth a fifth with the lips
        shut, and its lip gap over the narrower width drew a grey slit between Diana's closed
        lips), while a turn foreshortens both spans alike (a 2D fit of the head's size shrinks
        less in a turn, and a mouth turned 35 degrees would read less open than it is)."""
        if carried:
            width = self.mouth_per_eye_span * np.linalg.norm(pts[EYE_CORNERS[0], :2] - pts[EYE_CORNERS[1], :2])
        else:
            width = np.linalg.norm(pts[61, :2] - pts[291, :2])
        return float(lip_gaps(pts).mean() / max(width, 1e-6))

    def _outline_motion(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """How the head's outline (hair, ears) moves with the head's rigid motion: a 2x3 affine,
        the shift of the point the head turns about (its move as a whole), and the image motion
        per unit of depth nearer than the pivot (a turn carries such points further).

        The head is a 3D body turning about a point deep behind the face, near the ears. A point
        of its outline lies at that depth, so a turn (yaw, pitch) only foreshortens it while the
        face slides across in front; a roll turns it, a change of size scales it. The face's own
        2D similarity would carry the hair sideways with the nose instead. Without depth (2D
        targets) this is that 2D similarity, and the shift is the oval centre's."""
        rigid = list(RIGID_POINTS)
        if target.shape[1] < 3 or not self.src_z.any():
            m = similarity_fit(self.src_pts[rigid], target[rigid, :2])
            return m, _apply(m, self.centre[None])[0] - self.centre, np.zeros(2)
        src = np.concatenate([self.src_pts[rigid], self.src_z[rigid, None]], axis=1)
        scale, rot, shift = _similarity_3d(src, target[rigid, :3])
        m = np.zeros((2, 3))
        m[:, :2] = scale * rot[:2, :2]
        m[:, 2] = scale * rot[:2, 2] * self.pivot_z + shift[:2]
        # the pivot: the point the motion moves least, near the oval centre at the pivot depth
        # (a pure turn leaves it still; a moving head, as with head_motion=follow, carries it)
        prior = np.array([*self.centre, self.pivot_z])
        a = scale * rot - np.eye(3)
        lam = 1e-3
        pivot = np.linalg.solve(a.T @ a + lam * np.eye(3), lam * prior - a.T @ shift)
        return m, (a @ pivot + shift)[:2], scale * rot[:2, 2]

    def _vertices(self, target: np.ndarray) -> np.ndarray:
        """All control points at their target positions (face, head ring, fade ring, frame), with
        no ring triangle folded where that can be helped (the count left is `last_folds`).

        The head ring moves with the head's outline (`_outline_motion`), so the hair and the ears
        move only as much as the rotation needs and the face slides across in front of them; it
        keeps at least half its offset outside the face (`ring_inner`), so a dropping jaw or a
        turning cheek pushes it out instead of crossing it. The fade ring follows part of that motion;
        where a triangle between the rings would fold it is pulled further along, up to all of
        it (the warped region grows with the motion). `target` is (N, 2) or (N, 3) with depth."""
        outline, shift, per_depth = self._outline_motion(target)
        face = self._untangled_oval(target[:self.n_face, :2], outline)
        jaw_lift = self._jaw_lift(face, outline, per_depth)
        folds = 0
        # Below the chin the rings take the head's move but not its turn. Where that folds (the
        # chin sliding over the neck in a turn past ~25 degrees), the head ring is dragged part of
        # the way with its own point of the rings' inner loop, then the hair over the forehead goes
        # further with the face (as if nearer the front), then the rings take all of the turn.
        inner_moved = face[self.ring_inner] - self.src_pts[self.ring_inner]
        # the fringe's share of a turn (yaw) ramps in from 15 to 30 degrees: below that the hair
        # is left as it was (MediaPipe's reading of a small mouth moved with the fringe's
        # position). A nod's it takes whole: 5-8 degrees slid the forehead 5-8 px over a still
        # fringe, which squeezed the hairline into a straight edge (a child on d11: 24 seam frames
        # of 120, a painting 5; s12_d14's jawOpen r unchanged, 0.95 -> 0.96)
        fringe = np.clip((np.hypot(*per_depth) - _SIN_15) / (0.5 - _SIN_15), 0.0, 1.0)
        every = np.ones_like(self.ring_follow)
        mild = None
        for follow, hairline, drag in ((self.ring_follow, 1.0, 0.0), (self.ring_follow, 1.0, 0.5),
                                       (self.ring_follow, 1.25, 0.75), (every, 1.25, 0.75), (every, 1.6, 1.0)):
            head_ring = self._ring_motion(outline, shift, follow, self.head_ring)
            head_ring = head_ring + (follow * hairline * self.head_ring_depth)[:, None] * per_depth * [fringe, 1.0]
            head_ring = (1 - drag) * head_ring + drag * (self.head_ring + inner_moved) + jaw_lift
            head_ring = self._outside_face(head_ring, face)
            moved_fade = self._ring_motion(outline, shift, follow, self.fade_ring)
            fade_ring, folds = self._least_fade(face, head_ring, moved_fade)
            dst = np.concatenate([face, head_ring, fade_ring, self.frame])
            if mild is None:
                mild = head_ring, fade_ring
            if folds == 0:
                break
        if folds:
            # the head moved past the static frame, or the chin past the rings (a yawn): give up
            # part of the first, mildest ring motion, each ring kept outside the one within (pushed
            # out of the way of a yawning chin, the head ring folded over a still fade ring on
            # d18-pan; taken from the last, widest motion, the collar jumped for two frames)
            for keep in (1.0, 0.75, 0.5, 0.25, 0.0):
                kept_head = self._outside_face(keep * mild[0] + (1 - keep) * self.head_ring, face, YIELD_SHARE)
                kept_fade = _kept_outside(keep * mild[1] + (1 - keep) * self.fade_ring, self.fade_ring,
                                          kept_head, self.head_ring, YIELD_SHARE)
                dst = np.concatenate([face, kept_head, kept_fade, self.frame])
                folds = self._ring_folds(dst)
                if folds == 0:
                    break
        self.last_folds = folds
        return dst

    def _ring_folds(self, dst: np.ndarray) -> int:
        """How many ring triangles the control points `dst` draw in the other turning order than the source's."""
        return int((np.sign(signed_areas(dst, self.ring_tris)) != self.ring_sign).sum())

    def _least_fade(self, face: np.ndarray, head_ring: np.ndarray, moved_fade: np.ndarray) -> tuple[np.ndarray, int]:
        """The fade ring moved the least share of `moved_fade` (its full motion) from `fade_motion`
        on that folds no ring triangle, and the folds left at the most (_FADE_STEPS). Between the
        first step that unfolds and the one before it the share is bisected: a step straight to
        the next moved the whole fade ring for one frame (0 -> 0.35 of a yawn's 33 px, where 0.01
        unfolded its one triangle) and everything between it and the picture was resampled, a
        flash in the background (a painting's on d6: RMSE 0.007 -> 0.027)."""
        def placed(k: float) -> tuple[np.ndarray, int]:
            fade_ring = _kept_outside((1 - k) * self.fade_ring + k * moved_fade, self.fade_ring, head_ring,
                                      self.head_ring, YIELD_SHARE)
            dst = np.concatenate([face, head_ring, fade_ring, self.frame])
            return fade_ring, self._ring_folds(dst)

        low = self.opts.fade_motion
        fade_ring, folds = placed(low)
        for high in (k for k in _FADE_STEPS if k > low):
            if folds == 0:
                break
            unfolded, left = placed(high)
            if left == 0:
                for _ in range(FADE_BISECTIONS):
                    middle = 0.5 * (low + high)
                    tried, left = placed(middle)
                    if left == 0:
                        high, unfolded = middle, tried
                    else:
                        low = middle
                return unfolded, 0
            low, fade_ring, folds = high, unfolded, left
        return fade_ring, folds

    def _jaw_lift(self, face: np.ndarray, outline: np.ndarray, per_depth: np.ndarray) -> np.ndarray:
        """(n_oval, 2): how far each head-ring point under the jaw follows the jaw as it closes.

        A source photographed with its mouth open has its jaw dropped; where the driving closes
        the mouth, the chin rises towards the nose. The shading under the jaw rises with it (it is
        the jaw's own underside), and the neck behind the open chin is revealed. With the head ring
        held on the neck, the band from the chin to the ring stretched instead, and the jaw's
        underside stayed where it was: a long chin with a second edge under it (selfopen on d18,
        16 px under the driving's). So the ring's points under the jaw take the part of the oval's
        motion that is the jaw's own (beyond the face's rigid motion) when it is upwards, into the
        face; a dropping jaw keeps the ring where it is (`_outside_face` pushes it when it must).
        Only a source whose mouth is open has its jaw dropped: a closed one's chin rises only as its
        lips press, and there the lift moved the collar under a turning chin (Einstein on d14).
        `outline`, `per_depth`: the head's rigid motion (`_outline_motion`), which carries a source
        point at depth z to `outline` applied to it plus (z - pivot depth) times `per_depth`."""
        if self.source_openness <= self.opts.open_mouth_ratio:
            return np.zeros((len(self.oval_idx), 2))
        oval_src = self.src_pts[self.oval_idx]
        carried = _apply(outline, oval_src) + (self.src_z[self.oval_idx] - self.pivot_z)[:, None] * per_depth
        own = face[self.oval_idx] - carried
        outward = self.head_ring - oval_src
        outward /= np.maximum(np.linalg.norm(outward, axis=1), 1e-9)[:, None]
        inward = np.maximum(-(own * outward).sum(1), 0.0)
        return -(self.jaw_share * inward)[:, None] * outward

    def _untangled_oval(self, face: np.ndarray, outline: np.ndarray, passes: int = 4) -> np.ndarray:
        """`face` (n_face, 2) with each face-oval edge at least MIN_OVAL_EDGE of its source length
        long along its source direction as `outline` (the head's 2x3 motion) carries it: where two
        neighbours crossed, both are moved apart along it, half the shortfall each."""
        loop = self.oval_idx
        edges = self.src_pts[np.roll(loop, -1), :2] - self.src_pts[loop, :2]
        expected = edges @ outline[:, :2].T
        length = np.linalg.norm(expected, axis=1)
        along = expected / np.maximum(length, 1e-9)[:, None]
        least = MIN_OVAL_EDGE * length
        out = face
        for _ in range(passes):
            oval = out[loop]
            short = np.maximum(least - ((np.roll(oval, -1, axis=0) - oval) * along).sum(1), 0.0)
            if not short.any():
                break
            out = out.copy() if out is face else out       # a target that crosses nothing stays as it is
            push = 0.5 * short[:, None] * along
            out[loop] = oval - push + np.roll(push, 1, axis=0)
        return out

    @staticmethod
    def _ring_motion(outline: np.ndarray, shift: np.ndarray, follow: np.ndarray, ring: np.ndarray) -> np.ndarray:
        """Ring points moved by the head's whole `shift` plus `follow` (per point) of the rest of
        the outline motion (the turn)."""
        return ring + shift + follow[:, None] * (_apply(outline, ring) - ring - shift)

    def _outside_face(self, head_ring: np.ndarray, face: np.ndarray, share: float = 0.5) -> np.ndarray:
        """The head ring pushed outwards where it comes closer than `share` of its source offset to
        the rings' inner loop (the face oval, or a turned face's outline: `ring_inner`) (a dropping
        jaw, a turning cheek), so that loop never crosses it."""
        return _kept_outside(head_ring, self.head_ring, face[self.ring_inner], self.src_pts[self.ring_inner], share)

    def _source_vertices(self) -> np.ndarray:
        return np.concatenate([self.src_pts[:self.n_face] + self.lip_shift, self.head_ring, self.fade_ring, self.frame,
                               self.iris_src])

    def _with_lip_shift(self, target: np.ndarray, openness: float, head: np.ndarray) -> np.ndarray:
        """`target` with the lower lip's sampling shift, turned with the head (`head`: the 2x3
        similarity from the source's rigid points to the target's), in the share the target's
        mouth is as open as the source's (all of it: the source's own picture)."""
        if not self.lip_shift.any():
            return target
        share = float(np.clip(openness / max(self.source_openness, 1e-6), 0.0, 1.0))
        out = target.copy()
        out[:self.n_face, :2] += share * self.lip_shift @ head[:, :2].T
        return out

    def _iris_core(self, pts: np.ndarray) -> np.ndarray:
        """(E*17, 2) iris cores, each its centre then a ring: the source's eye opening shrunk to
        the iris's width and IRIS_CORE_TALL of its height around the iris, turned and scaled with
        the eye corners (not squashed with the lids), centred on the iris centre of `pts`."""
        rings = []
        for centre, ring, corners in self.eyes:
            src = self.src_pts[ring, :2]
            z = eye_turn(pts, self.src_pts, corners)
            turn = np.array([[z.real, -z.imag], [z.imag, z.real]])
            core = pts[centre, :2]
            # the core spans the iris across (its ring points: centre + 1..4) and most of the opening
            # up and down, so the whole visible iris moves with the gaze instead of smearing into the band
            radius = iris_radius(self.src_pts, centre)
            across = np.clip(2.4 * radius / max(np.ptp(src[:, 0]), 1e-6), IRIS_CORE, 0.6)
            offsets = (src - src.mean(0)) * (across, IRIS_CORE_TALL)
            rings.append(np.concatenate([core[None], core + offsets @ turn.T]))
        return np.concatenate(rings) if rings else np.zeros((0, 2))

    def _gaze(self, target: np.ndarray) -> dict[int, np.ndarray]:
        """Each iris centre's position (by its landmark): the target's, held back towards the eye's
        middle where it would leave the eye opening (an iris drawn in layers may reach half its
        radius past the opening's edge, as a driver's does in a far sideways look: the lids
        cover that part)."""
        gaze = {}
        for centre, ring, corners in self.eyes:
            poly = target[ring, :2].astype(np.float32).reshape(-1, 1, 2)
            middle = target[ring, :2].mean(0)
            slack = 0.5 * iris_radius(target, centre) if centre in self.layered else 0.0
            aim = target[centre, :2]
            if centre not in self.layered:
                rest = self._carried_iris(target, centre, ring, corners)
                aim = rest + self.warped_gaze[centre] * (aim - rest)
            for pull in np.linspace(1.0, 0.0, 11):
                point = middle + pull * (aim - middle)
                if cv2.pointPolygonTest(poly, (float(point[0]), float(point[1])), True) >= -slack:
                    break
            gaze[centre] = point
        return gaze

    def _carried_iris(self, target: np.ndarray, centre: int, ring: np.ndarray, corners) -> np.ndarray:
        """Where the eye's own motion to `target` carries the source's iris centre (its gaze kept)."""
        offset = complex(*(self.src_pts[centre, :2] - self.src_pts[ring, :2].mean(0))) * eye_turn(target, self.src_pts, corners)
        return target[ring, :2].mean(0) + (offset.real, offset.imag)

    def _with_iris(self, dst: np.ndarray, target: np.ndarray, gaze: dict[int, np.ndarray]) -> np.ndarray:
        """dst with the iris cores appended: at the `gaze`, or, for an eye drawn in layers
        (warp_eyes.py: the layers draw the gaze), where the eye's own motion carries the source's
        iris, so the map under the layers is the eye's plain motion."""
        at = np.array(target[:, :2], np.float64)
        for centre, ring, corners in self.eyes:
            if centre in self.layered:
                at[centre] = self._carried_iris(at, centre, ring, corners)
            else:
                at[centre] = gaze[centre]
        return np.concatenate([dst, self._iris_core(at)])

    def _resample(self, map_x: np.ndarray, map_y: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """The source at (map_x, map_y), by the engine's interpolation ("detail": `detail_remap`).
        `weight` (per pixel, `fine_weight`) scales the fine band where the map squeezes or
        stretches the source too far for a nearest pixel to stand for it."""
        if self._bands is None:
            return cv2.remap(self.source, map_x, map_y, _INTERPOLATION[self.opts.interpolation],
                             borderMode=cv2.BORDER_REPLICATE)
        return detail_remap(self._bands, map_x, map_y, weight)

    def render(self, target_points: np.ndarray, driving: tuple[np.ndarray, np.ndarray] | None = None,
               arrival: float = 1.0) -> np.ndarray:
        """The source redrawn with its landmarks at `target_points` (478, 2+), source-image pixels.
        `driving`: (frame, landmarks) of the driving frame, when it shows its mouth: a drawn interior
        takes its layout from it (`interior_layout`). `arrival`: how far the target has come from the
        source towards the expression that frame shows (a still's ease-in); its teeth cover a
        toothless source opening only as far (`_drawn_mouth_opacity`'s driving_teeth)."""
        target = self._held_lenses(self._held_eyes(self._limit_turn(np.asarray(target_points, np.float64))))
        openness = self._mouth_openness(target, carried=True)
        head = similarity_fit(self.src_pts[list(RIGID_POINTS)], target[list(RIGID_POINTS), :2])
        gaze = self._gaze(target[:, :2])
        drawn = self.edge_zone.held(self._with_lip_shift(target, openness, head))
        dst = self._with_iris(self._vertices(drawn), target[:, :2], gaze)
        src = self._source_vertices()
        x0, y0, x1, y1 = self.roi
        depth = target[:self.n_face, 2] if target.shape[1] > 2 else np.zeros(self.n_face)
        # Face triangles far to near (MediaPipe z: smaller is nearer), so the near side wins folds.
        order = np.argsort(-depth[self.face_tris].mean(1), kind="stable")
        face = self.face_tris[order]
        shape = (y1 - y0, x1 - x0)
        # One map: ring triangles first, then the eye fans, then the face over them. The map is evaluated coarse and
        # resized, which also softens the edge where the face overlaps the ring (a chin over the neck).
        tris = np.concatenate([self.ring_tris, self.eye_tris, face])
        # only the face's own slivers go (a nostril's, a lip corner's); a lid squeezed by a blink and
        # an eye band squeezed by the gaze are the eye's edges, and the rings are never that thin
        droppable = np.r_[np.zeros(len(self.ring_tris) + len(self.eye_tris), bool),
                          ~np.isin(face, self.eye_rims).any(1)]
        affines = triangle_affines(dst, src, tris)
        map_x, map_y, moved, top = _backward_map(dst, src, tris, (x0, y0), shape, self.opts.map_stride, droppable,
                                                 len(self.ring_tris), RING_SMOOTH * self.face_width, affines)
        # the rings (hair, background) read from inside the picture, not past its edge
        ring_motion = float(np.linalg.norm(dst[self.ring_vertices] - src[self.ring_vertices], axis=1).max())
        _kept_in_picture(map_x, map_y, top < len(self.ring_tris), (x0, y0), self.source.shape[:2], ring_motion)
        # a closing lid carries its lash line and stretches its skin (warp_lids)
        face_at = len(self.ring_tris) + len(self.eye_tris) + np.argsort(order, kind="stable")
        self.lids.remap(map_x, map_y, top, face_at, dst[:self.n_face], src[:self.n_face], (x0, y0))
        jump, scale = _map_shape(map_x, map_y)
        region = self._resample(map_x, map_y, fine_weight(scale))
        # Every stretched fold's whole footprint, not only where it is on top: where the yawn's corner
        # folds the cheek over the opened sliver, the sliver's neighbour (5x) on top kept a third of
        # the shadow's line (measured on test_warp_creases' yawn: 10 levels darker than with the footprint).
        before_face = np.zeros(len(self.ring_tris) + len(self.eye_tris), bool)
        folds = np.r_[before_face, self.lower_face[order]]
        opened = self.creases.weight(affines[folds], dst, tris[folds])
        if opened is not None:
            self.creases.draw(region, opened * moved, map_x, map_y)
        revealed = self.revealed.weight(affines[len(tris) - len(face):], order, dst, self.roi, self.last_turn)
        if revealed is not None:
            def drawn(src_points, tris_, origin, box):     # the engine's own resampling, over a box
                mx, my = _backward_map(dst, src_points, tris_, origin, box, self.opts.map_stride, exact_tears=False)[:2]
                return self._resample(mx, my, fine_weight(_map_shape(mx, my)[1]))

            self.revealed.draw(region, revealed * moved, dst, order, self.roi, map_x, map_y, drawn)
        out = self.source.copy()
        # Pixels whose source position did not move keep their exact value.
        np.copyto(out[y0:y1, x0:x1], region, where=moved[..., None])
        _soften_tears(out[y0:y1, x0:x1], jump, moved)
        if self.eye_layers is not None:
            def eye_map(origin, box):   # the eye openings' own triangles (bands and iris cores) alone
                return _backward_map(dst, src, self.eye_tris, origin, box, self.opts.map_stride)[:2]

            # a face triangle drawn in the other turning order than in the source is folded
            flipped = np.r_[before_face, np.sign(signed_areas(dst, face)) != np.sign(signed_areas(src, face))]

            def folded(origin, box):
                return _folded_on_top(top, flipped, (origin[0] - x0, origin[1] - y0), box)

            def soften(origin, image):    # the map's tears under an eye, softened as around it
                bx, by = origin[0] - x0, origin[1] - y0
                h, w = image.shape[:2]
                _soften_tears(image, jump[by:by + h, bx:bx + w], moved[by:by + h, bx:bx + w])

            self.eye_layers.draw(out, target, gaze, map_x, map_y, self.roi, eye_map, folded, soften)
        layout = driving if self.takes_driving_layout else None
        if self._splits_own_mouth(openness, layout is not None):
            self.mouth.draw_split(out, target[:, :2], self.roi, head, self.source, self.src_pts)
            return out
        teeth = arrival * teeth_shown(*layout) if layout is not None and self.source_toothless else 0.0
        opacity = self._drawn_mouth_opacity(openness, laid_out=layout is not None, driving_teeth=teeth)
        if opacity > 0:
            self.mouth.draw(out, target[:, :2], self.roi, head, opacity, layout)
        return out

    def _splits_own_mouth(self, openness: float, laid_out: bool) -> bool:
        """Whether a source whose open mouth shows teeth, opened further with no driving picture to lay
        the interior out from (a preset, a covered mouth), is drawn as its own mouth split by the
        jaw: upper teeth with the upper lip, lower with the lower, a cavity between (`draw_split`)."""
        return (self.source_teeth and not laid_out and self.opts.mouth_interior == "auto"
                and openness > self.source_openness * SPLIT_FROM)

    def _drawn_mouth_opacity(self, openness: float, laid_out: bool = True, driving_teeth: float = 0.0) -> float:
        """How much of the drawn interior covers the target's mouth opening. A closed source mouth
        has no interior to stretch: all of it, wherever the target opens. A slightly open one is
        stretched while the target opens up to OPEN_STRETCH times as wide (OPEN_STRETCH_UNLAID
        when the drawn interior has no driving layout, `laid_out`), then the drawn interior fades
        in over it: a child's 2 px dark gap stretched into a grin was a brown hole, no teeth.
        A closed source's own gap (below `open_mouth_ratio`) stays its own picture until the
        target opens past it: drawn over at rest, a painting's parted lips (0.05 of its mouth's
        width) got teeth while the driver's mouth was shut. `driving_teeth`: the share of the
        driving's opening that is teeth (`teeth_shown`): where it shows MORE_TEETH of them and the
        source next to none, the laid-out interior covers whatever the stretch."""
        if not self.source_mouth_open:
            return 1.0 if openness > max(CLOSED_GAP, self.source_openness + CLOSED_GAP / 3) else 0.0
        if self.opts.mouth_interior != "auto":
            return 0.0
        start, ramp = (OPEN_STRETCH, OPEN_STRETCH_RAMP) if laid_out else (OPEN_STRETCH_UNLAID, OPEN_STRETCH_UNLAID_RAMP)
        stretch = openness / max(self.source_openness, 1e-6)
        wider = float(np.clip((stretch - start) / ramp, 0.0, 1.0))
        if not laid_out:
            return wider
        # Where the lips are apart (nearly shut, the squeezed cavity is their soft line, the drawn one
        # a dark slit), the driving's layout covers too:
        apart = float(np.clip(openness / CLOSED_GAP - 1.0, 0.0, 1.0))
        # - a grin's teeth over a source opening that shows none: a yawn's cavity or parted lips'
        #   glimpse, stretched into the grin, were a dark hole where the driving showed two rows of
        #   teeth (d18's most open and most closed-eyed frames on d18)
        more_teeth = apart * float(np.clip((driving_teeth - MORE_TEETH[0]) / (MORE_TEETH[1] - MORE_TEETH[0]), 0.0, 1.0))
        # - a toothless source squeezed below TOOTHLESS_SQUEEZE of its opening: a yawn's cavity
        #   squeezed into a grin stayed a dark slot where the driving showed its teeth
        narrower = 0.0 if self.source_teeth else apart * float(
            np.clip((TOOTHLESS_SQUEEZE[1] - stretch) / (TOOTHLESS_SQUEEZE[1] - TOOTHLESS_SQUEEZE[0]), 0.0, 1.0))
        return max(wider, narrower, more_teeth)


class WarpGenerator:
    """The warp engine behind the generator interface; it consumes mesh-backend alignments."""

    name = "warp"
    trackers = ("mesh",)          # it re-draws the source on its own MediaPipe mesh
    renders_guidance = False

    @classmethod
    def readiness(cls, cfg, inventory, device) -> str | None:
        return None               # no learned weights: runs anywhere

    def __init__(self, options: WarpOptions | None = None):
        self.options = options or WarpOptions()

    @classmethod
    def from_cfg(cls, cfg) -> "WarpGenerator":
        return cls(WarpOptions.from_config(cfg.warp))

    def frames(self, source, aligned, pasteback: bool, progress=None):
        from ..faces.crop import invert_transform, warp_to_crop

        crop_tf = aligned.crop_transform[0]
        to_frame = invert_transform(crop_tf)
        scale = float(np.sqrt(abs(np.linalg.det(crop_tf[:, :2]))))
        engine = WarpEngine(source.image, source.faces.landmarks[0], self.options)
        if self.options.turn_calibration:
            engine.calibrate_turn()
        points = aligned.points
        items = progress(range(len(points)), len(points), "warp") if progress else range(len(points))
        layouts = _driving_mouths(source.driving if engine.takes_driving_layout else None, len(points))
        arrival = source.driving.arrival if source.driving is not None else None
        for t in items:
            p = points[t].astype(np.float64)
            in_frame = np.concatenate([p[:, :2] @ to_frame[:, :2].T + to_frame[:, 2], p[:, 2:] / scale], axis=1)
            out = engine.render(in_frame, next(layouts), 1.0 if arrival is None else float(arrival[t]))
            yield out if pasteback else warp_to_crop(out, crop_tf, aligned.crop_size)


def _driving_mouths(driving: DrivingView | None, n: int) -> Iterator[tuple[np.ndarray, np.ndarray] | None]:
    """Per output frame, (driving frame, its landmarks) where that frame shows its mouth, else None.
    The frames are read only when the view matches the motion frame for frame (a video driving)."""
    if driving is None or len(driving.landmarks) != n:
        yield from (None for _ in range(n))
        return
    # decoded a few frames ahead in a thread of its own (read in the generating thread, the decoding
    # was a seventh of its time); no further than the motion's frames, so a reader whose clip ends
    # there does not reach its end and report it a second time
    frames = prefetched(islice(driving.frames(), n), name="driving frames")
    try:
        for t in range(n):
            frame = next(frames, None)
            seen = frame is not None and bool(driving.mouth_seen[t]) and driving_mouth_seen(frame.shape[:2],
                                                                                              driving.landmarks[t])
            yield (frame, driving.landmarks[t]) if seen else None
    finally:
        close = getattr(frames, "close", None)
        if close is not None:   # the video reader's file
            close()
