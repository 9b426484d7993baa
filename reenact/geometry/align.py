"""Parametric alignment: the source's head performing the driving's motion.

Two modes (guidance-maps.md §3 for the first):

* absolute (the official MagicPortrait split): shape, texture, light, camera and crop from the
  source; expression, jaw and global head rotation from each driving frame; neck and eyes zero.
  The head stays where the source's is; only rotation, expression and jaw move. Multipliers do
  not apply. The mesh backend has no identity-free expression, so there "absolute" means the
  driving's head rotation as it is, with the expression still relative.
* relative: the driving's change since a reference frame, applied to the source's own
  expression and pose: expression offsets are added, rotations composed (delta · source). The
  head's turn is measured from the pose the driver holds most in the shot, moved towards the
  source's own by up to 8 degrees (with the reference chosen by expression; from a chosen
  reference frame, that frame's).
  `expression_scale` multiplies the expression, jaw and eye changes, `pose_scale` the head
  rotation, neck, translation and scale changes. Works for FLAME and the mesh backend.

The reference frame is by default the driving frame whose expression is closest to the
source's (motion.py), else `reference_frame`. The head's translation and scale in the picture
are by default not transferred (`head_motion: anchored`, they are mostly the driving camera's);
`follow` transfers them bounded and smoothed, in head sizes, without camera jumps.
Optional Gaussian smoothing over time (sigma in frames) applies to the driving motion first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import InputError
from ..faces.shots import shot_slices
from ..faces.topology import lip_gaps
from ..io.memory import blocks
from ..schema import ALIGN_MODES, AlignOptions
from ..tracking.mesh_tracker import canonical_reference
from ..tracking.types import HeadTrack
from .motion import (CHIN_SHARE, CLOSED_MOUTH, HEAD_MOTIONS, REFERENCES, REST_FRAMES, TURN_SLACK, FollowOptions,
                     close_parted_lips, closest_frame, expression_reach, eye_width, followed_motion, gaze_at_rest,
                     gaze_by_eye_width, jaw_drop, lids_by_eye_opening, lip_floor, mesh_expression_features,
                     open_reference_share, parted_lips_closing, shot_references, shut_reference_jaw, steady_canonical,
                     uncross_lips)
from .rotations import (relative_rotation, rest_rotation, scaled, smooth, smooth_rotations, transfer_rotation,
                        turn_from_rest)

MODES = ALIGN_MODES
_RIGID_WEIGHTS = canonical_reference()[1]   # the mesh points expressions hardly move


def resolved_mode(options: AlignOptions, geometry: str) -> str:
    """The alignment mode for a track geometry ('auto': absolute for FLAME, relative otherwise).
    Absolute works for every geometry: for the mesh it is the driving's rotation as it is."""
    if options.mode not in MODES:
        raise InputError(f"unknown alignment mode {options.mode!r}; choose one of {', '.join(MODES)}")
    if options.head_motion not in HEAD_MOTIONS:
        raise InputError(f"unknown head motion {options.head_motion!r}; choose one of {', '.join(HEAD_MOTIONS)}")
    if options.reference not in REFERENCES:
        raise InputError(f"unknown reference {options.reference!r}; choose one of {', '.join(REFERENCES)}")
    if options.mode == "auto":
        return "absolute" if geometry == "flame" else "relative"
    if options.mode == "absolute" and (options.expression_scale != 1.0 or options.pose_scale != 1.0):
        raise InputError("expression/pose multipliers apply to relative alignment only; use mode=relative")
    return options.mode


@dataclass
class AlignedFlame:
    """Per-frame FLAME parameters to pose, and the source camera and crop to view them with.

    pose (T, 15) = [global | neck | jaw | left eye | right eye] axis-angle (FLAME joint order).
    cam (T, 3) weak perspective [s, tx, ty] in the source crop; crop_transform (T, 2, 3)
    source frame -> source crop pixels; crop_size the side that NDC -1..1 spans.
    """

    shape: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    cam: np.ndarray
    crop_transform: np.ndarray
    crop_size: int
    tex: np.ndarray | None
    light: np.ndarray | None
    mode: str

    def __len__(self) -> int:
        return int(self.expression.shape[0])


@dataclass
class AlignedMesh:
    """Per-frame posed MediaPipe points (T, 478, 3) in source crop pixels (x right, y down,
    z smaller nearer), and the source frame -> crop transform they live in."""

    points: np.ndarray
    crop_transform: np.ndarray
    crop_size: int
    mode: str = "relative"

    def __len__(self) -> int:
        return int(self.points.shape[0])


def _param(track: HeadTrack, name: str, role: str) -> np.ndarray:
    if name not in track.params:
        raise InputError(f"the {role} track has no '{name}' parameters; re-run tracking")
    return np.asarray(track.params[name], dtype=np.float64)


def _frames(track: HeadTrack, name: str, role: str, width: int) -> np.ndarray:
    """(T, width) per-frame rotation parameter, zeros when a FLAME track omits it (neck, eyes, jaw)."""
    if name not in track.params:
        return np.zeros((len(track), width))
    values = _param(track, name, role).reshape(len(track), -1)
    if values.shape[1] != width:
        raise InputError(f"{role} track '{name}' has {values.shape[1]} values per frame, expected {width}")
    return values


def _optional_row(track: HeadTrack, name: str, index: int, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """A static-or-per-frame source parameter (tex (n,) or (T, n); light (9, 3) or (T, 9, 3)) at `index`."""
    if name not in track.params:
        return None
    values = np.asarray(track.params[name], dtype=np.float64)
    shape = shape or values.shape[-1:]
    try:
        values = values.reshape(-1, *shape)
    except ValueError:
        raise InputError(f"source track '{name}' has shape {values.shape}, expected {shape} per frame") from None
    return values[min(index, len(values) - 1)]


def _check_index(index: int, n: int, what: str) -> int:
    if not -n <= index < n:
        raise InputError(f"{what} {index} is outside the track's {n} frames")
    return index % n


def _scale_of(transform: np.ndarray) -> np.ndarray:
    """(T,) isotropic scale of (T, 2, 3) similarity transforms."""
    return np.sqrt(np.abs(np.linalg.det(transform[:, :, :2])))


def _rotation_of(transform: np.ndarray) -> np.ndarray:
    return transform[:, :, :2] / _scale_of(transform)[:, None, None]


def _frame_from_crop(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(T, 2) crop pixels -> frame pixels through the inverse of (T, 2, 3) transforms."""
    lin_inv = np.linalg.inv(transform[:, :, :2])
    return np.einsum("tij,tj->ti", lin_inv, points - transform[:, :, 2])


def align(source: HeadTrack, driving: HeadTrack, options: AlignOptions | None = None) -> AlignedFlame | AlignedMesh:
    """Combine a source track (usually one frame) with a driving track, frame by frame."""
    options = options or AlignOptions()
    if source.backend != driving.backend:
        raise InputError(f"source was tracked with '{source.backend}' but driving with '{driving.backend}';"
                         " track both with the same backend")
    if len(source) == 0 or len(driving) == 0:
        raise InputError("cannot align an empty track")
    mode = resolved_mode(options, source.geometry)
    if source.geometry == "flame":
        return align_flame(source, driving, options, mode)
    if source.geometry == "mesh":
        return align_mesh(source, driving, options, mode)
    raise InputError(f"unknown track geometry {source.geometry!r} (backend {source.backend!r})")


# ------------------------------------------------------------------------------------- FLAME

def _shots(track: HeadTrack) -> np.ndarray | None:
    """(T,) shot ids of a track whose face stage saw cuts (faces/shots.py); None for one shot."""
    shot = track.params.get("shot")
    if shot is None:
        return None
    shot = np.asarray(shot).reshape(len(track))
    return shot if shot.size and shot.max() > shot.min() else None


def _in_picture(track: HeadTrack) -> np.ndarray:
    """(T,) the share of the face each frame shows (the trackers' `in_picture`); all of it for a
    track from before they recorded it."""
    shown = track.params.get("in_picture")
    return np.ones(len(track)) if shown is None else np.asarray(shown, np.float64).reshape(len(track))


def _cuts(shots: np.ndarray | None) -> np.ndarray | None:
    """(T,) bool: the first frame of every shot after the first."""
    return None if shots is None else np.r_[False, np.diff(shots) != 0]


def _flame_driving(driving: HeadTrack, sigma: float) -> dict[str, np.ndarray]:
    d = {
        "expression": _param(driving, "expression", "driving").reshape(len(driving), -1),
        "jaw": _frames(driving, "jaw", "driving", 3),
        "global_rot": _frames(driving, "global_rot", "driving", 3),
        "neck": _frames(driving, "neck", "driving", 3),
        "eyes": _frames(driving, "eyes", "driving", 6),
        "cam": _param(driving, "cam", "driving").reshape(len(driving), 3),
    }
    if sigma > 0:
        shots = _shots(driving)
        d["expression"] = smooth(d["expression"], sigma, shots)
        d["cam"] = smooth(d["cam"], sigma, shots)
        for key in ("jaw", "global_rot", "neck"):
            d[key] = smooth_rotations(d[key], sigma, shots)
        d["eyes"] = np.concatenate([smooth_rotations(d["eyes"][:, :3], sigma, shots),
                                    smooth_rotations(d["eyes"][:, 3:], sigma, shots)], 1)
    return d


def _head_in_frame(cam: np.ndarray, crop_transform: np.ndarray, crop_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the FLAME origin lands in frame pixels (T, 2), and frame pixels per world unit (T,)."""
    half = crop_size / 2
    s, tx, ty = cam[:, 0], cam[:, 1], cam[:, 2]
    crop_xy = np.stack([(s * tx + 1) * half, (-s * ty + 1) * half], 1)
    return _frame_from_crop(crop_transform, crop_xy), s * half / _scale_of(crop_transform)


def align_flame(source: HeadTrack, driving: HeadTrack, options: AlignOptions, mode: str | None = None) -> AlignedFlame:
    mode = mode or resolved_mode(options, "flame")
    n = len(driving)
    i_src = _check_index(options.source_frame, len(source), "source frame")
    d = _flame_driving(driving, options.smoothing)
    shape = _param(source, "shape", "source").reshape(-1)
    src_cam = _param(source, "cam", "source").reshape(len(source), 3)[i_src]
    src_crop = np.asarray(source.crop_transforms, dtype=np.float64)[i_src]
    tex = _optional_row(source, "tex", i_src)
    light = _optional_row(source, "light", i_src, (9, 3))
    pose = np.zeros((n, 15))

    if mode == "absolute":
        # guidance-maps.md §3: driving global rotation, expression and jaw; zero neck and eyes;
        # the source's camera and crop for every frame.
        expression = d["expression"]
        pose[:, 0:3] = d["global_rot"]
        pose[:, 6:9] = d["jaw"]
        cam = np.repeat(src_cam[None], n, 0)
    else:
        a_exp, a_pose = options.expression_scale, options.pose_scale
        src_exp = _param(source, "expression", "source").reshape(len(source), -1)[i_src]
        if src_exp.shape[0] != d["expression"].shape[1]:
            raise InputError(f"source has {src_exp.shape[0]} expression coefficients, driving"
                             f" {d['expression'].shape[1]}; track both with the same FLAME setup")
        shots = _shots(driving)
        if options.reference == "auto":
            # FLAME's expression and jaw are identity-free: the nearest driving frame is the neutral
            # one (in each shot: after a cut the head may be seen from another camera)
            src_jaw = _frames(source, "jaw", "source", 3)[i_src]
            features = np.c_[d["expression"], 10 * d["jaw"]]
            shown = _in_picture(driving)
            ref = shot_references(lambda shot: closest_frame(np.r_[src_exp, 10 * src_jaw], features[shot], weights=1.0,
                                                             turn=turn_from_rest(d["global_rot"][shot]),
                                                             in_picture=shown[shot]),
                                  shots, n)
        else:
            ref = np.full(n, _check_index(options.reference_frame, n, "reference frame"))
        expression = src_exp + a_exp * (d["expression"] - d["expression"][ref])
        for key, cols, factor in (("global_rot", slice(0, 3), a_pose), ("neck", slice(3, 6), a_pose),
                                  ("jaw", slice(6, 9), a_exp)):
            src_rot = _frames(source, key, "source", 3)[i_src]
            base = d[key][ref] if key == "jaw" else _pose_base(d[key], ref, src_rot, options, shots)
            if key == "jaw" and options.reference == "auto":   # a shot whose jaw never shuts as far as hers
                base = shut_reference_jaw(base, src_rot)
            pose[:, cols] = transfer_rotation(d[key], base, src_rot, factor)
        src_eyes = _frames(source, "eyes", "source", 6)[i_src]
        for cols in (slice(0, 3), slice(3, 6)):
            pose[:, slice(cols.start + 9, cols.stop + 9)] = transfer_rotation(
                d["eyes"][:, cols], d["eyes"][ref, cols], src_eyes[cols], a_exp)
        if options.head_motion == "anchored":
            cam = np.repeat(src_cam[None], n, 0)
        else:
            cam = _relative_flame_camera(d["cam"], np.asarray(driving.crop_transforms, np.float64), driving.crop_size,
                                         int(ref[0]), src_cam, src_crop, a_pose, options.follow, _cuts(shots))
    return AlignedFlame(shape=shape, expression=expression, pose=pose, cam=cam,
                        crop_transform=np.repeat(src_crop[None], n, 0), crop_size=int(source.crop_size),
                        tex=tex, light=light, mode=mode)


def _pose_base(rotvecs: np.ndarray, ref: np.ndarray, source: np.ndarray, options: AlignOptions,
               shots: np.ndarray | None) -> np.ndarray:
    """(T, 3) the driving head rotation each frame's turn is measured from. With the reference
    chosen by expression (`auto`), in each shot of REST_FRAMES or more: the pose the shot holds
    most (`rest_rotation`) moved towards the source's own pose `source` (3,) by up to TURN_SLACK,
    so the source keeps its own pose while the driver holds his, as near his own absolute pose as
    that allows (a source that is one of the clip's frames, its own pose exactly), or the
    reference frame's pose where that is nearer the source's still. Otherwise (a chosen
    `reference_frame`, a still's pair) the reference frame's. The frame of the nearest expression
    may be turned: a clip turning 35 degrees each way gave s6 a reference 7.7 degrees off the
    driver's rest, and the statue turned 7.7 degrees more than it faced in its photo in every
    frame, further into the turn's stretch on one side; measured from the rest alone, a
    self-reenactment was turned by its first frame's own offset from the rest throughout."""
    base = np.array(rotvecs[ref], np.float64)
    if options.reference != "auto":
        return base
    for shot in shot_slices(shots, len(rotvecs)):
        if shot.stop - shot.start >= REST_FRAMES:
            rest = rest_rotation(rotvecs[shot])
            towards = relative_rotation(np.asarray(source, np.float64), rest)
            step = scaled(towards, min(1.0, TURN_SLACK / max(float(np.degrees(towards.magnitude())), 1e-9)))
            moved = (step * Rotation.from_rotvec(rest)).as_rotvec()
            # the reference frame's own pose where it is nearer still (a self-reenactment from a
            # frame turned further than TURN_SLACK from the rest)
            own = base[shot.start]
            if relative_rotation(own, source).magnitude() >= relative_rotation(moved, source).magnitude():
                base[shot] = moved
    return base


def _relative_flame_camera(drv_cam, drv_crop, drv_crop_size, ref, src_cam, src_crop, factor,
                           limits: FollowOptions, cuts: np.ndarray | None = None) -> np.ndarray:
    """Source camera moved and scaled as the driving head moves in its frame, in head units
    (bounded, smoothed, camera jumps removed: motion.followed_motion)."""
    anchor, px_per_unit = _head_in_frame(drv_cam, drv_crop, drv_crop_size)
    # FLAME's unit is metres; a head is about 0.1 m in radius
    shift_units, zoom = followed_motion(anchor / px_per_unit[ref] / 0.1, np.log(px_per_unit), ref, limits, cuts)
    shift_units = 0.1 * shift_units @ _rotation_of(src_crop[None])[0].T    # into the source crop's axes
    s_src, tx_src, ty_src = src_cam
    s_new = s_src * zoom ** factor
    ndc_x = s_src * tx_src + factor * s_src * shift_units[:, 0]
    ndc_y = s_src * ty_src - factor * s_src * shift_units[:, 1]             # NDC y = -s(Y + ty)
    return np.stack([s_new, ndc_x / s_new, ndc_y / s_new], 1)


# -------------------------------------------------------------------------------------- mesh

def _spread(points: np.ndarray) -> float:
    """RMS distance of points from their centroid: a head-size measure."""
    centred = points - points.mean(0)
    return float(np.sqrt((centred ** 2).sum(1).mean()))


def align_mesh(source: HeadTrack, driving: HeadTrack, options: AlignOptions, mode: str = "relative") -> AlignedMesh:
    n = len(driving)
    i_src = _check_index(options.source_frame, len(source), "source frame")
    a_exp, a_pose = options.expression_scale, options.pose_scale

    # The driving's (T, 478, 3) mesh stays as stored; the per-frame algebra below runs a block of
    # frames at a time, so a long clip needs no float64 working copies of it (issue 15).
    if "canonical" not in driving.params:
        raise InputError("the driving track has no 'canonical' parameters; re-run tracking")
    canon_d = driving.params["canonical"]
    rot_d = _param(driving, "rotation", "driving").reshape(n, 3)
    trans_d = _param(driving, "translation", "driving").reshape(n, 3)
    scale_d = _param(driving, "scale", "driving").reshape(n)
    shots = _shots(driving)
    if options.smoothing > 0:
        canon_d = smooth(canon_d, options.smoothing, shots)
        rot_d = smooth_rotations(rot_d, options.smoothing, shots)
        trans_d = smooth(trans_d, options.smoothing, shots)
        scale_d = smooth(scale_d, options.smoothing, shots)
    if canon_d.shape[1] >= len(_RIGID_WEIGHTS):
        canon_d = steady_canonical(canon_d, _RIGID_WEIGHTS, FRAME_BLOCK, shots)
    canon_s = _param(source, "canonical", "source")[i_src]
    rot_s = _param(source, "rotation", "source").reshape(-1, 3)[i_src]
    trans_s = _param(source, "translation", "source").reshape(-1, 3)[i_src]
    scale_s = float(_param(source, "scale", "source").reshape(-1)[i_src])
    if canon_s.shape != canon_d.shape[1:]:
        raise InputError(f"source has {canon_s.shape[0]} mesh points, driving {canon_d.shape[1]}")
    ref = _mesh_reference(canon_s, canon_d, rot_d, options, shots, _in_picture(driving), driving.params.get("jaw_open"))
    size_s = _spread(canon_s)
    refs, of_frame = np.unique(ref, return_inverse=True)
    size_ref = np.array([_spread(np.asarray(canon_d[r], np.float64)) for r in refs])[of_frame]
    with_irises = canon_s.shape[0] >= 478
    if with_irises:   # the gaze's gain: the source's eye width over each reference's
        eye_gain = a_exp * eye_width(canon_s) / np.array([eye_width(canon_d[r]) for r in refs])[of_frame]
    if mode == "absolute":   # the driving's head rotation as it is; no identity-free expression here
        rotation = rot_d.copy()
    else:
        rotation = transfer_rotation(rot_d, _pose_base(rot_d, ref, rot_s, options, shots), rot_s, a_pose)

    src_crop = np.asarray(source.crop_transforms, np.float64)[i_src]
    translation = np.repeat(trans_s[None], n, 0)
    scale = np.full(n, scale_s)
    if options.head_motion == "follow" and mode != "absolute":
        drv_crop = np.asarray(driving.crop_transforms, np.float64)
        anchor = _frame_from_crop(drv_crop, trans_d[:, :2])               # driving head position, frame px
        px_per_unit = scale_d / _scale_of(drv_crop)                       # driving frame px per canonical unit
        first = int(ref[0])
        shift, zoom = followed_motion(anchor / (px_per_unit[first] * size_ref[0]), np.log(px_per_unit), first,
                                      options.follow, _cuts(shots))    # in driving head sizes
        shift = shift @ _rotation_of(src_crop[None])[0].T * (scale_s * size_s)
        scale = scale_s * zoom ** a_pose
        translation[:, :2] += a_pose * shift
    rmat = Rotation.from_rotvec(rotation).as_matrix()                    # (T, 3, 3)
    floor = lip_floor(canon_s)
    own_features, own_gaps = mesh_expression_features(canon_s), lip_gaps(canon_s)
    reach = expression_reach(canon_s.shape[0])[:, None]
    gaze_rest = gaze_at_rest(canon_d, ref, shots, FRAME_BLOCK)
    points = np.empty((n, *canon_s.shape))
    for part in blocks(n, FRAME_BLOCK):
        canon_ref = np.asarray(canon_d[ref[part]], np.float64)
        if gaze_rest is not None:
            canon_ref[:, 468:478] = gaze_rest[part]
        drv = np.asarray(canon_d[part], np.float64)
        canonical = canon_s + a_exp * reach * (drv - canon_ref) * (size_s / size_ref[part, None, None])
        if options.reference == "auto":   # the source's own parted lips close with the driver's (a
            # reference frame the user chose is the source's rest by their word)
            ref_features = mesh_expression_features(canon_ref)
            ref_gaps = lip_gaps(canon_ref) * (size_s / size_ref[part, None])       # in her mesh's units
            shut = min(a_exp, 1.0) * parted_lips_closing(own_features, ref_features, mesh_expression_features(drv))
            if shut.any():
                canonical = close_parted_lips(canonical, canon_s, shut[:, None] * np.maximum(own_gaps - ref_gaps, 0.0))
            # a shot that never closes its mouth as far as hers: her lips open by its least opening too
            opened = a_exp * open_reference_share(own_features, ref_features)
            if opened.any():
                widening = -opened[:, None] * np.maximum(ref_gaps - own_gaps, 0.0)
                canonical = close_parted_lips(canonical, canon_s, widening, chin_share=CHIN_SHARE)
        canonical = uncross_lips(canonical, floor)
        canonical = lids_by_eye_opening(canonical, canon_s, drv, canon_ref, a_exp, size_s / size_ref[part])
        if with_irises:
            canonical = gaze_by_eye_width(canonical, canon_s, drv, canon_ref, eye_gain[part])
        points[part] = (scale[part, None, None] * np.einsum("tij,tnj->tni", rmat[part], canonical)
                        + translation[part, None, :])
    return AlignedMesh(points=points, crop_transform=np.repeat(src_crop[None], n, 0),
                       crop_size=int(source.crop_size), mode=mode)


FRAME_BLOCK = 256   # frames of the mesh algebra at a time (issue 15: bounded memory on long clips)


def _mesh_reference(canon_s: np.ndarray, canon_d: np.ndarray, rot_d: np.ndarray, options: AlignOptions,
                    shots: np.ndarray | None = None, in_picture: np.ndarray | None = None,
                    jaw_open: np.ndarray | None = None) -> np.ndarray:
    """(T,) the driving frame each frame's relative motion is measured from (motion.closest_frame),
    one per shot (each shot's own); `rot_d` (T, 3) the driving head's rotations, `in_picture` (T,)
    how much of the face each frame shows (None: all of it), `jaw_open` (T,) MediaPipe's jawOpen
    of each (None: a track from before the trackers kept it)."""
    n = len(canon_d)
    if options.reference != "auto":
        return np.full(n, _check_index(options.reference_frame, n, "reference frame"))
    features, speed, jaw = np.empty((n, 3)), np.zeros(n), np.empty(n)
    for part in blocks(n, FRAME_BLOCK):
        with_previous = np.asarray(canon_d[max(part.start - 1, 0):part.stop], np.float64)
        features[part] = mesh_expression_features(with_previous[-(part.stop - part.start):])
        jaw[part] = jaw_drop(with_previous[-(part.stop - part.start):])
        speed[max(part.start, 1):part.stop] = np.linalg.norm(np.diff(with_previous, axis=0), axis=-1).mean(-1)
    for shot in shot_slices(shots, n)[1:]:    # a cut is not a face moving fast
        speed[shot.start] = speed[min(shot.start + 1, shot.stop - 1)] if shot.stop - shot.start > 1 else 0.0
    own = mesh_expression_features(canon_s)
    jaw_at_rest = own[0] < CLOSED_MOUTH       # an open source mouth has its jaw dropped: no jaw term
    return shot_references(lambda shot: closest_frame(own, features[shot], speed=speed[shot],
                                                      jaw=jaw[shot] if jaw_at_rest else None,
                                                      jaw_open=jaw_open[shot] if jaw_at_rest and jaw_open is not None
                                                      else None,
                                                      turn=turn_from_rest(rot_d[shot]),
                                                      in_picture=None if in_picture is None else in_picture[shot]),
                           shots, n)
