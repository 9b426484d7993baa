"""Head motion versus camera motion, and the neutral reference frame, for motion transfer.

A driving head's position and size in its frame mix what the head did with what the camera did
(zoom, pan, cuts). By default none of it is transferred: the source's head stays anchored to its
body and only rotation, expression, jaw, eyes and gaze move it. `follow` transfers a bounded,
smoothed part of it, measured in head sizes, with camera jumps (a frame where the whole face
jumps together) taken out first.

The reference frame that relative motion is measured from is by default the driving frame whose
expression is closest to the source's, so a clip that starts mid-sentence does not drive a
closed mouth through itself; for a closed source mouth, one whose jaw is not dropped either. A
source whose lips part further than its reference's has them closed where the driver's are as
shut as the reference's, and parted again as the driver's part (`parted_lips_closing`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..faces.shots import shot_slices
from ..faces.topology import INNER_LIP_PAIRS, contour, curve_height, lip_gaps, load_canonical_face
from ..io.memory import blocks
from ..schema import HEAD_MOTIONS, REFERENCES, FollowOptions

__all__ = ["HEAD_MOTIONS", "REFERENCES", "FollowOptions", "camera_jumps", "close_parted_lips", "closest_frame",
           "expression_reach", "followed_motion", "gaze_at_rest", "jaw_drop", "lids_by_eye_opening", "lip_floor",
           "mesh_expression_features", "parted_lips_closing", "shot_references", "steady_canonical", "uncross_lips"]


# Eyelid pairs (upper, lower) of both eyes, and the eye corners that normalise them.
_LID_PAIRS = ((159, 145), (158, 153), (160, 144), (386, 374), (385, 380), (387, 373))
_EYE_CORNERS = ((33, 133), (263, 362))
# The lids' gain (`lids_by_eye_opening`) is kept under this: a reference caught mid-blink would
# otherwise multiply the lids' motion many times.
LID_GAIN = 2.5


def camera_jumps(shift: np.ndarray, log_scale: np.ndarray, limits: FollowOptions) -> np.ndarray:
    """(T,) bool: frames where the whole head jumps from the previous frame (a cut or camera jerk).

    shift (T, 2) is the head position in head sizes, log_scale (T,) its log size.
    """
    jump = np.zeros(len(shift), bool)
    if len(shift) > 1:
        step = np.linalg.norm(np.diff(shift, axis=0), axis=1)
        zoom = np.abs(np.diff(log_scale))
        jump[1:] = (step > limits.jump_shift) | (zoom > limits.jump_scale)
    return jump


def _without_jumps(values: np.ndarray, jump: np.ndarray) -> np.ndarray:
    """The series with every jump's step removed (later frames shifted to continue smoothly)."""
    steps = np.diff(values, axis=0, prepend=values[:1])
    steps[jump] = 0
    return values[0] + np.cumsum(steps, axis=0)


def _soft_limit(values: np.ndarray, limit: float) -> np.ndarray:
    """Identity for small values, saturating smoothly at ±limit (per component)."""
    if limit <= 0:
        return np.zeros_like(values)
    return limit * np.tanh(values / limit)


def followed_motion(shift: np.ndarray, log_scale: np.ndarray, ref: int, limits: FollowOptions,
                    cuts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) shift in head sizes and (T,) scale factor to transfer, relative to frame `ref`:
    jumps (and the `cuts` (T,) bool the picture shows, faces/shots.py) removed, smoothed, bounded."""
    jump = camera_jumps(shift, log_scale, limits)
    if cuts is not None:
        jump |= np.asarray(cuts, bool)
    shift = _without_jumps(np.asarray(shift, np.float64), jump)
    log_scale = _without_jumps(np.asarray(log_scale, np.float64), jump)
    if limits.smoothing > 0 and len(shift) > 1:
        shift = gaussian_filter1d(shift, limits.smoothing, axis=0, mode="nearest")
        log_scale = gaussian_filter1d(log_scale, limits.smoothing, mode="nearest")
    shift = shift - shift[ref]
    log_scale = log_scale - log_scale[ref]
    shift = _soft_limit(shift, limits.max_shift)
    scale = np.exp(_soft_limit(log_scale, np.log1p(limits.max_scale)))
    return shift, scale


def steady_canonical(canonical: np.ndarray, weights: np.ndarray, block: int = 256,
                     shots: np.ndarray | None = None) -> np.ndarray:
    """Pose-free mesh points (T, N, 3) with every frame's rigid part (the points `weights` (M <= N,)
    picks, those expressions hardly move) at the clip's median position and size (each shot's,
    given `shots`: after a cut to another face, its own).

    The tracker undoes a time-smoothed pose, so around a cut or a camera jump the pose it
    undoes lags the face for a few frames, and the head's jump in position and size leaks into
    the "expression" (up to 8% of the face's size in one frame). Expressions do not move or
    resize the rigid points, so that leak is taken out here."""
    pts = np.asarray(canonical)
    w = np.zeros(pts.shape[1])
    w[:len(weights)] = weights
    w = w[:, None] / max(float(np.sum(weights)), 1e-12)
    # `block` frames at a time: no float64 copy of a long clip (issue 15)
    centre, size = np.empty((len(pts), 1, 3)), np.empty(len(pts))
    for part in blocks(len(pts), block):
        frames = np.asarray(pts[part], np.float64)
        centre[part] = (w * frames).sum(1, keepdims=True)
        size[part] = np.sqrt((w * (frames - centre[part]) ** 2).sum((1, 2)))
    ref_centre, ref_size = np.empty_like(centre), np.empty_like(size)
    for shot in shot_slices(shots, len(pts)):
        ref_centre[shot], ref_size[shot] = np.median(centre[shot], 0), np.median(size[shot])
    out = np.empty(pts.shape, np.result_type(pts.dtype, np.float32))
    for part in blocks(len(pts), block):
        stretch = (ref_size[part] / np.maximum(size[part], 1e-12))[:, None, None]
        out[part] = (np.asarray(pts[part], np.float64) - centre[part]) * stretch + ref_centre[part]
    return out


# Above the brows the skin is held ever more firmly by the skull towards the hairline: a brow raise
# moves the forehead's middle a little and the scalp not at all. What the tracker reads at the top
# of the face oval is mostly its own pose error instead: on d11 0.33 of the 0.43 cm (2 sd) its top
# points moved is explained by the head's pitch alone. Transferred as expression, it pushed the
# source's hairline up into a straight edge wherever the oval's top lies near the hair (a painting
# on d11 in 11 of 120 frames, a child's fringe in 29). Heights in MediaPipe's canonical face (cm, y
# up): its brows reach 5.1, its oval's top 8.3.
BROW_TOP_HEIGHT = 5.1      # at and below it a point takes the whole of the driving's expression
SCALP_HEIGHT = 7.5         # at and above it none: the oval's top and the temples' upper corners


def expression_reach(n_points: int) -> np.ndarray:
    """(n_points,) the share of the driving's expression each mesh point takes: 1 up to the brows'
    height, falling linearly to 0 at SCALP_HEIGHT (points past the 468 of the mesh, the irises: 1)."""
    height = load_canonical_face()["vertices"][:, 1].astype(np.float64)
    reach = np.ones(n_points)
    mesh = min(n_points, len(height))
    reach[:mesh] = np.clip((SCALP_HEIGHT - height[:mesh]) / (SCALP_HEIGHT - BROW_TOP_HEIGHT), 0.0, 1.0)
    return reach


def eye_width(points: np.ndarray) -> np.ndarray:
    """(...) the mean distance between each eye's corners in mesh points (..., 468+, 3)."""
    p = np.asarray(points, np.float64)
    return np.mean([np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1) for a, b in _EYE_CORNERS], axis=0)


def eye_openings(points: np.ndarray) -> np.ndarray:
    """(..., 2) each eye's lid gap (its three lid pairs' mean, lower below upper), right eye first,
    in mesh points (..., 468+, 3)."""
    p = np.asarray(points, np.float64)
    gaps = [p[..., lo, 1] - p[..., up, 1] for up, lo in _LID_PAIRS]
    return np.stack([np.mean(gaps[:3], axis=0), np.mean(gaps[3:], axis=0)], axis=-1)


def mesh_expression_features(points: np.ndarray) -> np.ndarray:
    """(..., 3) identity-light expression features of pose-free mesh points (..., 468+, 3):
    inner-lip opening / mouth width, mouth width / eye distance, eye opening / eye width."""
    p = np.asarray(points, np.float64)
    eye_dist = np.linalg.norm(p[..., 33, :] - p[..., 263, :], axis=-1)
    width = np.linalg.norm(p[..., 61, :] - p[..., 291, :], axis=-1)
    gap = lip_gaps(p).mean(-1)
    return np.stack([gap / width, width / eye_dist, eye_openings(p).mean(-1) / eye_width(p)], axis=-1)


# How much each feature counts: the mouth opening most (a wrong one crosses or gapes the lips).
_FEATURE_WEIGHTS = np.array([4.0, 1.0, 1.0])
# A source whose lips part less than this (x its mouth's width) has its jaw at rest, and so should
# its reference: each unit of the driving's jaw drop (below) past JAW_SLACK costs JAW_WEIGHT. The
# slack keeps a clip's own first frame, a few per cent from its least drop (0.02-0.03 on ../shared),
# the reference of its self-reenactment (its mouth error rose 4.9 -> 6.9 and 7.7 -> 10 without it).
CLOSED_MOUTH, JAW_WEIGHT, JAW_SLACK = 0.05, 3.0, 0.05
# The head's rotation is also measured from the reference: a frame turned further than TURN_SLACK
# degrees from the shot's mean pose costs TURN_WEIGHT per degree past it. Chosen by expression
# alone, a clip that turns 35 degrees each way gave a reference at 31 degrees of yaw, and every
# frame of the output turned 28 degrees more than the driving (issue 11's +-35-degree clips).
TURN_WEIGHT, TURN_SLACK = 0.01, 8.0
# MediaPipe's jawOpen of the driving (the face stage reads it in every frame), for a source whose
# lips are closed (as `jaw`): each unit past the frames' least (their 5th percentile) and
# JAW_OPEN_SLACK costs JAW_OPEN_WEIGHT. `jaw_drop` misses a jaw a little open behind lips parted
# as the source's: s1's slightly parted lips took d10's frame 57 (jawOpen 0.10, drop 0.04 within
# the slack) over its shut first frames, and every frame after closed her jaw past its rest
# (jawOpen r 0.70, 0.33 at most against the driving's 0.87; a transfer from frame 0 reads 0.93).
JAW_OPEN_WEIGHT, JAW_OPEN_SLACK = 3.0, 0.03
# A reference is taken only from the frames that show within this share of the most of the face
# any frame of the shot shows (`closest_frame`'s in_picture).
IN_PICTURE_SLACK = 0.02


def jaw_drop(points: np.ndarray) -> np.ndarray:
    """(...,) how far the chin hangs below the nose tip, in eye distances, of pose-free mesh
    points (..., 468+, 3): larger as the jaw drops, with the lips parted or not."""
    p = np.asarray(points, np.float64)
    return np.linalg.norm(p[..., 152, :] - p[..., 1, :], axis=-1) / np.linalg.norm(p[..., 33, :] - p[..., 263, :], axis=-1)


def closest_frame(source_features: np.ndarray, driving_features: np.ndarray, weights=_FEATURE_WEIGHTS,
                  speed: np.ndarray | None = None, jaw: np.ndarray | None = None,
                  turn: np.ndarray | None = None, in_picture: np.ndarray | None = None,
                  jaw_open: np.ndarray | None = None) -> int:
    """Index of the driving frame whose features are closest to the source's.

    `speed` (T,) (how fast the face changes at each frame) breaks near ties towards still
    frames, so a passing blink or half-spoken syllable is not taken as neutral. `jaw` (T,), the
    driving's `jaw_drop`, given for a source whose lips are closed (CLOSED_MOUTH), counts against
    each frame by how far it hangs below the clip's least (its 5th percentile, as a share of it;
    past JAW_SLACK). The features see the lips, not the jaw: a driver who holds his lips together
    with the jaw dropped (d18, in a yawn with a pursed mouth) was taken as the rest of a cartoon's
    small closed mouth; its jaw barely opened after, and rose above its rest when the driver's
    closed (jawOpen r 0.72 on a recut of the clip). `jaw_open` (T,), MediaPipe's jawOpen of the
    driving, given with `jaw`, counts past the frames' least by JAW_OPEN_SLACK (NaN: a frame it did
    not read, never taken). `turn` (T,), degrees from the shot's mean
    pose (`rotations.turn_from_rest`), counts past TURN_SLACK: the head's motion is measured from there too.
    `in_picture` (T,), the share of the face in the picture (faces.visibility.in_picture): only the
    frames within IN_PICTURE_SLACK of the most it shows are candidates. A face the picture's edge
    cuts is partly guessed, and a guess taken as the rest moves every frame (on d11 panned half a
    frame, a cartoon's rest was frame 34, 0.8 in the picture: its target was 8 px off d11's in
    frames the pan had not reached)."""
    d = np.asarray(driving_features, np.float64) - np.asarray(source_features, np.float64)
    cost = np.sqrt(((d * weights) ** 2).sum(-1))
    if speed is not None and len(speed) > 1:
        speed = np.asarray(speed, np.float64)
        cost = cost + 0.02 * speed / max(float(np.median(speed)), 1e-9)
    if jaw is not None and len(jaw) > 1:
        jaw = np.asarray(jaw, np.float64)
        drop = jaw / max(float(np.percentile(jaw, 5)), 1e-9) - 1.0
        cost = cost + JAW_WEIGHT * np.maximum(drop - JAW_SLACK, 0.0)
    if jaw_open is not None and np.isfinite(jaw_open).any():
        read = np.asarray(jaw_open, np.float64)
        past = read - float(np.nanpercentile(read, 5)) - JAW_OPEN_SLACK
        cost = cost + np.where(np.isfinite(read), JAW_OPEN_WEIGHT * np.maximum(past, 0.0), np.inf)
    if turn is not None:
        cost = cost + TURN_WEIGHT * np.maximum(np.asarray(turn, np.float64) - TURN_SLACK, 0.0)
    if in_picture is not None:
        shown = np.asarray(in_picture, np.float64)
        cost = np.where(shown >= shown.max() - IN_PICTURE_SLACK, cost, np.inf)
    return int(np.argmin(cost))


def shot_references(pick: Callable[[slice], int], shots: np.ndarray | None, n: int) -> np.ndarray:
    """(n,) int: the reference frame of every frame, one per shot (faces/shots.py): `pick(frames)`
    chooses it among a shot's frames (an index into that slice). After a cut to another face the
    reference is that face's own, so the two faces' difference never passes for expression."""
    ref_of = np.empty(n, np.int64)
    for shot in shot_slices(shots, n):
        ref_of[shot] = shot.start + pick(shot)
    return ref_of


# Each iris (centre then its 4 ring points, MediaPipe 468-477) with its eye's contour.
IRISES = ((np.arange(468, 473), "right_eye"), (np.arange(473, 478), "left_eye"))
# A shot shorter than this (a still driving's pair, a flash of a cut) shows no habit of gaze or pose
# to measure from: it keeps its reference frame's own
REST_FRAMES = 25


def gaze_by_eye_width(canonical: np.ndarray, source: np.ndarray, driving: np.ndarray, reference: np.ndarray,
                      gain: np.ndarray) -> np.ndarray:
    """`canonical` (T, 478, 3), in place, with each iris at its eye's middle there plus the source's
    own offset from it plus the driving's change of offset since `reference` (T, 478, 3) times
    `gain` (T,): the expression scale times the source's eye width over the reference's. A gaze
    is seen as how far the iris moves across the eye: carried in head sizes like the rest of the
    face, a cartoon's big eyes took 0.74 of d0's gaze in eye widths and a photo's 0.84."""
    for iris, eye in IRISES:
        ring = list(contour(eye))
        change = _iris_offset(driving, iris, ring) - _iris_offset(reference, iris, ring)
        canonical[:, iris] = (canonical[:, ring].mean(1, keepdims=True) + _iris_offset(source, iris, ring)
                              + gain[:, None, None] * change)
    return canonical


def lids_by_eye_opening(canonical: np.ndarray, source: np.ndarray, driving: np.ndarray, reference: np.ndarray,
                        scale: float, head_gain: np.ndarray) -> np.ndarray:
    """`canonical` (T, 478, 3), in place, with each eye's contour moved up and down by the driving's
    change since `reference` (T, 478, 3) times `scale` (the expression scale) times the source's lid
    gap over the reference's (that eye's, at most LID_GAIN), where that is more than `head_gain`
    (T,), the head sizes' ratio the rest of the face moves by. Carried in head sizes, the lids of a
    source with larger eyes than the driver's stopped short in a blink (s42 and the cartoon showed
    half their iris under the lashes while d0's driver had his eyes shut); as a share of their own
    opening they shut. Eyes smaller than the driver's keep the head sizes' gain: a portrait with its
    eyes shut (d0's own blink) then still moves its lids with the driver's (blink r 0.71, 0.20
    by its own opening)."""
    ratio = eye_openings(source)[None] / np.maximum(eye_openings(reference), 1e-9)
    gain = np.minimum(np.maximum(ratio, np.asarray(head_gain, np.float64)[:, None]), LID_GAIN) * scale
    for k, eye in enumerate(("right_eye", "left_eye")):
        ring = list(contour(eye))
        canonical[:, ring, 1] = source[ring, 1] + gain[:, k, None] * (driving[:, ring, 1] - reference[:, ring, 1])
    return canonical


def _iris_offset(points: np.ndarray, iris: np.ndarray, ring: list[int]) -> np.ndarray:
    """The iris points' offsets from their eye's middle (the mean of its contour `ring`), in mesh
    points (..., 478, 3)."""
    return points[..., iris, :] - points[..., ring, :].mean(-2, keepdims=True)


def gaze_at_rest(canonical: np.ndarray, ref_of: np.ndarray, shots: np.ndarray | None = None,
                 block: int = 256) -> np.ndarray | None:
    """(T, 10, 3) the iris points (468-477) of each frame's reference (`ref_of` (T,)) moved to the
    shot's median gaze: its eye's middle plus the shot's median offset of the iris from it, in
    pose-free mesh points `canonical` (T, 478, 3); None for a mesh without irises.

    Gaze measured from the reference frame's own took whatever glance that frame caught (the
    frame closest to the source's expression in d0 looked to one side, so the source looked the
    other way whenever the driver looked ahead); the median over the shot is where the driver
    mostly looks, the camera in a talking clip. A shot under REST_FRAMES has no such habit
    to measure (a still driving is the source's own face, then the still): its reference's own."""
    if canonical.shape[1] < 478:
        return None
    n = len(canonical)
    middles = np.empty((n, 2, 3))
    offsets = np.empty((n, 10, 3))
    for part in blocks(n, block):
        frames = np.asarray(canonical[part], np.float64)
        for k, (iris, eye) in enumerate(IRISES):
            middles[part, k] = frames[:, list(contour(eye))].mean(1)
            offsets[part, 5 * k:5 * k + 5] = frames[:, iris] - middles[part, k, None]
    rest = np.empty((n, 10, 3))
    for shot in shot_slices(shots, n):
        if shot.stop - shot.start >= REST_FRAMES:
            habit = np.median(offsets[shot], 0)          # (10, 3): the shot's
        else:
            habit = offsets[ref_of[shot]]                # (frames, 10, 3): each reference's own
        rest[shot] = np.repeat(middles[ref_of[shot]], 5, axis=1) + habit
    return rest


def uncross_lips(points: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Pose-free mesh points (T, N, 3) (y down) with each inner-lip pair's opening at least
    `floor` (P,) (the source's own opening when closed, else 0): lips that would pass through
    each other meet instead, each moved half-way."""
    out = np.array(points, np.float64)
    for k, (up, lo) in enumerate(INNER_LIP_PAIRS):
        gap = out[:, lo, 1] - out[:, up, 1]
        short = np.maximum(floor[k] - gap, 0.0)
        out[:, up, 1] -= short / 2
        out[:, lo, 1] += short / 2
    return out


# A source whose lips part further than its reference's, by more than this (x its mouth's width), has
# them closed as the driver's close: measured from a shut reference, its parted lips never closed
# (s42's teeth showed through every shut frame of d0, and MediaPipe read her jaw half open there,
# more or less with the head's turn: jawOpen r 0.67 on d0's turning variant, 0.88 closed).
# LivePortrait closes such lips before it animates them; here they part again with the driver's.
PARTED_LIPS = 0.02


def parted_lips_closing(own: np.ndarray, reference: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """(T,) the share of the source's lip parting past its reference's to close in each frame, from
    mesh_expression_features: the source's `own` (3,), each frame's `reference`'s and its own
    (`driving`) (T, 3). All of it where the driver's lips are as shut as the reference's (or more),
    none once they part further than it by as much as the source's do (so her opening grows twice
    as fast as the driver's there, from shut to her own plus his); linear between. None for a
    source whose lips part no further than PARTED_LIPS past the reference's."""
    excess = own[0] - reference[:, 0]
    share = np.clip(1.0 - (driving[:, 0] - reference[:, 0]) / np.maximum(excess, 1e-9), 0.0, 1.0)
    return np.where(excess > PARTED_LIPS, share, 0.0)


# A shot whose every frame's lips part further than the source's (a song, a shout, a clip cut from
# the middle of a yawn) has no reference that matches her: measured from its least open frame, a
# driver's mouth held 0.33-0.51 eye distances open moved hers 0-0.18 from shut. Past OPEN_REFERENCE
# (x the mouth's width, the first value: none of it; the second: all) her lips part by the
# reference's excess too, so they open as far as the driver's.
OPEN_REFERENCE = (0.03, 0.08)
# Of a lip pair's opening, the share the chin's middle takes (of the lower lip's move): the shared
# and extra clips' chins drop 0.31-0.48 eye distances per eye distance of the lips' gap, the lower lip
# 0.55-0.92. Without it the skin between lower lip and chin is squeezed by the whole opening.
CHIN_SHARE = 0.5


def open_reference_share(own: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(T,) the share of each frame's reference's lip parting past the source's (mesh_expression_features:
    `own` (3,), `reference` (T, 3)) to open the source's lips by: 0 up to OPEN_REFERENCE[0] past
    hers, 1 from OPEN_REFERENCE[1], linear between."""
    low, high = OPEN_REFERENCE
    return np.clip((reference[:, 0] - own[0] - low) / (high - low), 0.0, 1.0)


# The same for FLAME's jaw (axis-angle; x, its opening, in radians): a reference whose jaw is open past
# the source's by the first value moves none of the excess over to her, from the second all of it.
# FLAME's talking jaws open 0.05-0.2, a yawn's 0.3-0.4.
OPEN_REFERENCE_JAW = (0.05, 0.12)


def shut_reference_jaw(reference: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(T, 3) each frame's reference jaw rotation (T, 3) with its opening past the source's `own`
    (3,) taken off in the share OPEN_REFERENCE_JAW gives: measured from it, her jaw opens by that
    excess too (`open_reference_share` for the mesh)."""
    low, high = OPEN_REFERENCE_JAW
    out = np.array(reference, np.float64)
    excess = out[:, 0] - float(own[0])
    out[:, 0] -= np.clip((excess - low) / (high - low), 0.0, 1.0) * np.maximum(excess, 0.0)
    return out


# The lips' outer contours from corner to corner, left to right, and the points the skin beside
# them is held by: the nose's base above, the chin below.
_UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
_LOWER_OUTER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
_NOSE_BASE, _CHIN, _LIPS_MIDDLE = 2, 152, 5
# Of a parted pair's closing, the upper lip's share; the lower lip (and the jaw) moves the rest.
UPPER_LIP_SHARE = 0.3


def close_parted_lips(points: np.ndarray, source_points: np.ndarray, closing: np.ndarray,
                      chin_share: float = 0.0) -> np.ndarray:
    """Pose-free mesh points (T, N, 3) (y down) with each inner-lip pair's opening narrowed by
    `closing` (T, P) (INNER_LIP_PAIRS, in the points' units; negative: widened): the lower lip
    rises by 1 - UPPER_LIP_SHARE of it, the upper lip drops by the rest, each lip whole (its red
    keeps its height), and the skin between a lip and the chin (below) or the nose's base (above)
    follows, less the further it lies, down to `chin_share` of the lower lip's move at the chin;
    the corners stay. Where each point lies is read on the source's own points `source_points` (N, 3)."""
    src = np.asarray(source_points, np.float64)
    x, y = src[:, 0], src[:, 1]
    uppers, lowers = [up for up, _ in INNER_LIP_PAIRS], [lo for _, lo in INNER_LIP_PAIRS]
    pair_x = 0.5 * (src[uppers, 0] + src[lowers, 0])
    # each point's share of each pair's closing: linear across the mouth, none past the corners
    across = np.zeros((len(src), len(INNER_LIP_PAIRS)))
    inside = (x > pair_x.min()) & (x < pair_x.max())
    for k, unit in enumerate(np.eye(len(INNER_LIP_PAIRS))):
        across[inside, k] = np.interp(x[inside], pair_x, unit)
    upper_outer = curve_height(src[list(_UPPER_OUTER_LIP)], x)
    lower_outer = curve_height(src[list(_LOWER_OUTER_LIP)], x)
    below = float(src[_CHIN, 1] - src[_LOWER_OUTER_LIP[_LIPS_MIDDLE], 1])
    above = float(src[_UPPER_OUTER_LIP[_LIPS_MIDDLE], 1] - src[_NOSE_BASE, 1])
    lower = np.where(y <= lower_outer, 1.0,
                     1.0 - (1.0 - chin_share) * np.clip((y - lower_outer) / max(below, 1e-9), 0.0, 1.0))
    upper = np.where(y >= upper_outer, 1.0, np.clip(1.0 - (upper_outer - y) / max(above, 1e-9), 0.0, 1.0))
    is_lower = y >= 0.5 * (curve_height(src[uppers], x) + curve_height(src[lowers], x))
    is_lower[uppers], is_lower[lowers] = False, True
    move = np.where(is_lower, -(1.0 - UPPER_LIP_SHARE) * lower, UPPER_LIP_SHARE * upper)
    move[[uppers[0], uppers[-1]]] = 0.0                     # the inner corners (each its own pair)
    out = np.array(points, np.float64)
    out[..., 1] += (np.asarray(closing, np.float64) @ across.T) * move
    return out


def lip_floor(source_points: np.ndarray) -> np.ndarray:
    """(P,) the least opening each inner-lip pair may have: closed (0), or less if the source's
    lips already overlap in its own mesh."""
    return np.minimum(lip_gaps(np.asarray(source_points, np.float64)), 0.0)
