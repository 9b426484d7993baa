"""Points of a driving face that the picture does not show (a pan, a tilt, a head at the border).

MediaPipe guesses the face past the picture's edge, and its guesses follow the expression poorly
(d0-pan's grin 10 % narrower than d0's; d11-tilt's chin, below the frame, correlates 0.84 with
where it is on d11). The mesh tracker stands in for them, on its canonical faces (image axes, cm),
in two steps:

1. `complete_from_mirror`: a point whose partner across the face's middle is seen moves as that
   partner does (a side cut leaves one half in the picture);
2. `complete_from_blendshapes`: what is left of the lower face (a mouth and chin the bottom edge
   cuts, where no half stands in) takes its linear prediction from MediaPipe's mouth and jaw
   blendshapes, fitted over the frames of the clip that show the point. The blendshapes are read
   from the whole face MediaPipe sees, and hold up where its landmarks do not: jawOpen on d11-tilt
   correlates 0.90 with d11's.

Both trackers also hold the turn of a face the picture cuts (`pose_trust`, `held_where_cut`):
MediaPipe reads such a face as turned away from the edge.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..faces.landmarker import blendshape_names
from ..faces.shots import each_shot
from ..faces.topology import MESH_POINTS, load_canonical_face, mirror_partners
from ..io.memory import blocks
from .confidence import hold_through
from .geometry import FLIP_YZ

N_MESH = MESH_POINTS
FRAME_BLOCK = 256
POINT_BLOCK = 32


MIN_MIDLINE_SEEN = 3   # midline points in the picture that place a cut face's middle (else the canonical one)


def complete_from_mirror(canonical: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The canonical face (T, N, 3), in place, with each mesh point the picture does not show
    moved, by its unseen share, as its partner across the face's middle moves where that partner
    is seen: the partner, mirrored across the face's middle, plus the point's own offset from its
    mirrored partner. The half of a cut face that is in the picture stands in for the half that is
    not, and the shape stays the face's own: mirroring the points alone folded the mesh where a
    face is not quite symmetric. Irises (beyond the mesh) are left as they are. `seen`: (T, N)
    seen_share.

    - The offset is the median over the frames that show both points: over other frames it is
      another expression (a clip whose face is cut only while it grins had its cut lips at rest
      and their partners' rest half open, so the cut half stayed nearly shut). Where no frame
      shows both, the point is its partner mirrored.
    - The face's middle is where its midline points (their partner is themselves) are seen, moved
      sideways from their rest (their median where seen): a half face puts the pose a little
      off, and mirroring across the canonical middle turned that shift into a squeeze (d18-pan's
      chin folded onto its neighbour)."""
    partner = mirror_partners()
    weight = (1.0 - seen[:, :N_MESH]) * seen[:, partner]
    if not weight.any():
        return canonical
    flip = np.array([-1.0, 1.0, 1.0])
    offset = np.zeros((N_MESH, 3))
    for points in blocks(N_MESH, POINT_BLOCK):     # over all frames, a block of points at a time
        both = ((seen[:, points] >= 1.0) & (seen[:, partner[points]] >= 1.0))[..., None]
        own = np.where(both, canonical[:, points], np.nan)
        other = np.where(both, canonical[:, partner[points]], np.nan) * flip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)    # a pair no frame shows: below
            offset[points] = np.nanmedian(own, axis=0) - np.nanmedian(other, axis=0)
    offset = np.nan_to_num(offset, nan=0.0)
    middle = np.flatnonzero(partner == np.arange(N_MESH))
    shown = seen[:, middle] >= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)        # a midline point no frame shows
        rest_x = np.nanmedian(np.where(shown, canonical[:, middle, 0], np.nan), axis=0)
    for part in blocks(len(canonical), FRAME_BLOCK):
        mesh = np.asarray(canonical[part, :N_MESH], np.float64)
        count = shown[part].sum(1)      # a point shown in a frame has a rest (its median where shown)
        moved = np.where(shown[part], mesh[:, middle, 0] - np.nan_to_num(rest_x), 0.0)
        side = np.where(count >= MIN_MIDLINE_SEEN, moved.sum(1) / np.maximum(count, 1), 0.0)
        target = mesh[:, partner] * flip + offset
        target[..., 0] += 2.0 * side[:, None]
        canonical[part, :N_MESH] = mesh + weight[part, :, None] * (target - mesh)
    return canonical


# MediaPipe's blendshapes of the mouth and jaw: the lower face's motion is read from these
MOUTH_BLENDSHAPES = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthSmileRight",
                     "mouthStretchLeft", "mouthStretchRight", "mouthLowerDownLeft", "mouthLowerDownRight",
                     "mouthUpperUpLeft", "mouthUpperUpRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
                     "mouthPressLeft", "mouthPressRight")
# A point needs this many frames that show it for its prediction to be fitted (17 blendshapes and a
# constant); the fit is a ridge regression (RIDGE on blendshape values 0..1), as the frames that
# show a cut point are few and alike. On the pan and tilt variants of the shared clips (120
# frames), the error of the points the picture does not show, against their place on the uncut
# clip: 0.24-0.44 cm as MediaPipe guessed them, 0.21-0.33 cm predicted (d18-tilt 1.05 -> 0.76).
MIN_FIT_FRAMES = 20
RIDGE = 0.1
# The ridge pulls jawOpen's coefficient towards the jaw's own motion, not towards none: where the
# frames that show a point never open the mouth (d18 tilted: the chin is seen only before and
# after the yawn), a fit towards none left the chin where it was while the lips it does show
# parted (the chin's target stayed 16 px above the uncut clip's, and MediaPipe read the output's
# yawn at 0.0-0.1 against 0.5-0.6). The jaw turns about its hinge, JAW_HINGE (canonical y and z,
# cm: before the ear, level with the nostrils), by JAW_TURN radians per unit of jawOpen; the
# soft tissue over it follows by JAW_FOLLOW (down, back). On the tracked shared clips (d18, d11,
# d6) the lower lip's drop puts the turn at 19-27 degrees per unit; the chin drops 0.7-0.9 of what
# the bone would and moves back 0.4-0.75 of it, the jaw's outline less.
JAW_HINGE = (1.5, 3.5)
JAW_TURN = 0.4
JAW_FOLLOW = (0.7, 0.55)


def lower_face() -> np.ndarray:
    """(N_MESH,) bool: the canonical mesh points below the nose tip (the mouth, the jaw, the chin)."""
    vertices = load_canonical_face()["vertices"].astype(np.float64)
    return vertices[:N_MESH, 1] < vertices[4, 1]           # the canonical face's y points up


def jaw_motion() -> np.ndarray:
    """(N_MESH, 3) cm each canonical point moves (image axes: x right, y down, z away) per unit of
    jawOpen as the jaw turns about its hinge: the points below where the lips meet fully, the
    lower lip in part, nothing above (the canonical face: `JAW_HINGE`, `JAW_TURN`, `JAW_FOLLOW`)."""
    vertices = load_canonical_face()["vertices"][:N_MESH].astype(np.float64) @ FLIP_YZ
    lips_meet = (vertices[13, 1] + vertices[14, 1]) / 2
    on_jaw = np.clip((vertices[:, 1] - lips_meet) / (vertices[17, 1] - lips_meet), 0.0, 1.0)
    down, back = vertices[:, 1] - JAW_HINGE[0], vertices[:, 2] - JAW_HINGE[1]
    # opening turns the chin down and back: perpendicular to its arm from the hinge
    motion = np.stack([np.zeros(len(vertices)), -back * JAW_FOLLOW[0], down * JAW_FOLLOW[1]], axis=-1)
    return JAW_TURN * on_jaw[:, None] * motion


def complete_from_blendshapes(canonical: np.ndarray, seen: np.ndarray, blendshapes: np.ndarray | None) -> np.ndarray:
    """The canonical faces (T, N, 3), in place, with each lower-face point moved, by the share that
    neither the picture (`seen`, (T, N) seen_share) nor its mirror partner (`complete_from_mirror`)
    shows, to its prediction from the frame's mouth blendshapes (`blendshapes`, (T, 52)): a ridge
    fit over the frames that show the point, its jawOpen coefficient pulled towards the jaw's turn
    (`jaw_motion`), the others towards none. Points shown in every frame, or in fewer than
    MIN_FIT_FRAMES, are left as they are; so is a track without blendshapes."""
    if blendshapes is None or len(blendshapes) != len(canonical):
        return canonical
    names = blendshape_names()
    values = np.asarray(blendshapes, np.float64)[:, [names.index(k) for k in MOUTH_BLENDSHAPES]]
    finite = np.isfinite(values).all(1)
    design = np.c_[np.nan_to_num(values), np.ones(len(values))]
    mesh_seen = seen[:, :N_MESH]
    covered = mesh_seen + (1.0 - mesh_seen) * mesh_seen[:, mirror_partners()]
    ridge = RIDGE * np.eye(design.shape[1])
    prior = np.zeros((design.shape[1], 3))
    jaw = jaw_motion()
    for point in np.flatnonzero(lower_face()):
        fit = (mesh_seen[:, point] >= 1.0) & finite
        left = 1.0 - covered[:, point]
        if fit.sum() < MIN_FIT_FRAMES or not left.any():
            continue
        a = design[fit]
        prior[0] = jaw[point]                                   # jawOpen's column: the jaw's turn
        coef = np.linalg.solve(a.T @ a + ridge, a.T @ canonical[fit, point].astype(np.float64) + ridge @ prior)
        own = canonical[:, point].astype(np.float64)
        canonical[:, point] = own + left[:, None] * (design @ coef - own)
    return canonical


# A frame whose rigid points lie in the picture by less than CUT_COVER[1] (weighted share, seen_share)
# has its yaw and roll drawn towards those of the frames around it that show the whole face, all the
# way at CUT_COVER[0]. MediaPipe reads a face the frame's edge cuts as turned away from the edge:
# on d11 panned half a frame, yaw off by a median 5.3 and up to 11 degrees (pitch 1.3) where the
# picture showed under 0.8 of the face, even fitted on the seen points alone (they are placed as on
# a turned face too). Held, the output's yaw error on the pan variants (every portrait) fell from
# 2.79 to 1.72 degrees at worst.
CUT_COVER = (0.6, 0.95)
YAW_ROLL = [1, 2]      # rotation-vector axes: about y (down, or FLAME's up) is yaw, about z (depth) roll


def pose_trust(seen: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(T,) how far each frame's yaw and roll can be trusted: 1 where its rigid points (`weights`)
    lie in the picture (`seen`: (T, N) seen_share) by CUT_COVER[1] and more, 0 at CUT_COVER[0] and
    less, linear between."""
    lo, hi = CUT_COVER
    cover = (seen[:, :len(weights)] * weights).sum(1) / weights.sum()
    return np.clip((cover - lo) / (hi - lo), 0.0, 1.0)


def held_where_cut(rotvec: np.ndarray, trust: np.ndarray, shots: np.ndarray | None) -> np.ndarray:
    """(T, 3) rotation vectors with yaw and roll blended, by 1 - `trust`, towards their linear
    interpolation between the nearest fully trusted frames of the same shot (held at its ends); a
    shot with no such frame keeps its own."""
    def shot(part: np.ndarray) -> np.ndarray:
        values, weight = part[:, :3], part[:, 3:]
        held = hold_through(values, weight[:, 0] < 1.0)
        out = values.copy()
        out[:, YAW_ROLL] = weight * values[:, YAW_ROLL] + (1.0 - weight) * held[:, YAW_ROLL]
        return np.c_[out, weight]
    return each_shot(shot, np.c_[rotvec, trust], shots)[:, :3]
