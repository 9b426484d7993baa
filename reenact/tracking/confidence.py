"""Per-frame confidence of a tracked clip, and holding the expression through frames that fail it.

A hand over the mouth or a half-hidden face still gives MediaPipe landmarks it is confident
about: it invents a closed, neutral mouth, and a landmark fit follows it without a word
(expression off by 35-80 %, issue 12). Signals, each cheap:

* the face stage filled the frame in (no detection);
* the landmark residual is an outlier for the clip (robust z-score);
* MediaPipe's blendshapes are not finite;
* the mouth has lost its detail: lips, teeth and the lip line always carry strong edges, so the
  mean gradient magnitude in the landmark mouth box, relative to the whole face box, drops when
  something covers the mouth (on the shared clips with a skin-coloured patch over the mouth:
  0.32-0.45 against 1.0-1.8 for the same frames uncovered). A frame is flagged below
  `mouth_detail_ratio` times the clip's median;
* the lips have lost their colour: a hand with creases between its fingers keeps the mouth box
  full of edges (0.46-0.6 of the median on tools/make_variants.py's `hand` clips), but lips are
  redder than the cheeks and a hand is not (LIP_COLOUR_RATIO).

The landmark residual is the FLAME fit's; the mesh tracker's rigid residual rises with a wide-open
mouth on clean clips, so it uses the other signals only.

Flagged frames keep the expression and jaw interpolated from the nearest good frames, with a
warning that names them.

A hand over the eyes leaves MediaPipe guessing the lids and brows too: a squint or a downcast
look through the whole cover (d11 and d18 with a patch of cheek colour and finger creases over
the eyes). The mesh tracker holds the upper face alone through frames that show neither eye
(`eye_cover`: an eye's detail and dark contrast both under EYE_SHOWN_RATIO x the shot's median,
the other eye's detail dimmed too). A hand over one eye makes MediaPipe's hidden eye squint and
its shown eye narrow or widen with it: there both sides follow the shown eye's own blinks, gaze
and brows, less that pull (`_follow_shown_eye`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import lru_cache
from typing import Callable, Iterable

import numpy as np

from ..faces.types import FaceTrack
from ..faces.shots import each_shot, shot_ids
from ..faces.detect import runs
from ..faces.topology import MESH_POINTS, contour, load_canonical_face, mirror_partners
from ..faces.visibility import EYES, face_visibility
from ..notes import frame_list
from .types import HeadTrack

log = logging.getLogger("reenact")

# A frame whose lips are less red than the cheeks by under this share of the clip's median is
# covered (tools/make_variants.py's `hand` clips: every covered frame below it, the least -0.18 to
# -0.03 of the median; clean clips, zooms, cuts and turns: at least 0.55). Clips whose lips hardly
# differ from their skin (median contrast under LIP_COLOUR_MIN: greyscale film, heavy make-up) are
# not judged by colour.
LIP_COLOUR_RATIO, LIP_COLOUR_MIN = 0.35, 0.01
# An eye is hidden when its detail and its dark contrast (faces/visibility.py) are both under this
# share of the shot's median. Covered (a patch with finger creases across or along the eyes, on
# the four shared clips): detail at most 0.43, contrast at most 0.42 of the median; over one eye
# alone (tools/make_variants.py's `oneeye`): 0.45 and 0.41. Shown (the
# shared and extra clips and their zoom, pan, shake, whip, tilt, turn, flip, wide, tall, hand
# variants): detail down to 0.51 in d19's blinks, contrast down to 0.63; never both under 0.5.
EYE_SHOWN_RATIO = 0.5
# No shown eye of those clips was ever hidden by that rule, so the other eye needs only to be dimmed
# (detail under this share) for the frame to count as covered: an ellipse of skin over d11's eyes
# left one box crossed by its edge (contrast 0.61-0.77, detail 0.42-0.48). One eye alone hidden,
# the other clear (a lock of hair, a hand over one eye), is a frame that shows one eye.
EYE_DIMMED_RATIO = 0.75
# The part of the face held through covered eyes: all of it from the eyes up to UPPER_FACE_FULL of
# the way down to the mouth, none of it from UPPER_FACE_NONE on (the lips and jaw still speak).
UPPER_FACE_FULL, UPPER_FACE_NONE = 0.3, 0.6


def with_visibility(face_track: FaceTrack, frames: Callable[[], Iterable[np.ndarray]] | None = None) -> FaceTrack:
    """The track with what each frame shows of the mouth and the eyes (faces/visibility.py). The
    face stage measures it while it has the frames; a track without it (an older cache) has it
    measured from `frames` (a callable giving its RGB frames), or is returned as it is."""
    if (face_track.mouth is not None and face_track.eyes is not None) or frames is None:
        return face_track
    shown = [face_visibility(frame, face_track.landmarks[t]) for t, frame in zip(range(len(face_track)), frames())]
    return replace(face_track, mouth=np.asarray([m for m, _ in shown], np.float32).reshape(-1, 2),
                   eyes=np.asarray([e for _, e in shown], np.float32).reshape(-1, 2, 2))


def mouth_evidence(face_track: FaceTrack, frames: Callable[[], Iterable[np.ndarray]] | None = None
                   ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Two (T,) signals of a visible mouth (faces/visibility.py): its detail and its lips' colour,
    from the track or measured from `frames` (`with_visibility`); none without either."""
    mouth = with_visibility(face_track, frames).mouth
    if mouth is None:
        return None, None
    return mouth[:, 0].astype(np.float64), mouth[:, 1].astype(np.float64)


def unreliable_frames(residuals: np.ndarray | None, detected: np.ndarray, blendshapes: np.ndarray | None,
                      threshold: float, mouth: np.ndarray | None = None, mouth_ratio: float = 0.6,
                      lips: np.ndarray | None = None, shots: np.ndarray | None = None) -> np.ndarray:
    """(T,) bool: frames whose fitted expression should not be trusted.

    A frame is flagged when the face stage filled it in (no detection), when its landmark
    residual (if given) is an outlier (more than `threshold` robust deviations, 1.4826 MAD, above
    the clip's median, and at least 1 px above it), when MediaPipe's blendshapes are not finite,
    when its mouth detail (`mouth_evidence`, if given) is below `mouth_ratio` x the clip's median,
    or when its lips' colour contrast (`mouth_evidence`, if given) is below LIP_COLOUR_RATIO x the
    clip's median. With `shots` (T,) (faces/shots.py) the mouth's medians are each shot's: after a
    cut to a greyscale or a dim picture the lips are not "lost" in every frame."""
    flagged = ~np.asarray(detected, bool)
    if residuals is not None and len(residuals) >= 5:
        residuals = np.asarray(residuals, np.float64)
        median = np.median(residuals[~flagged]) if (~flagged).any() else np.median(residuals)
        mad = 1.4826 * np.median(np.abs(residuals - median))
        flagged |= residuals > median + max(threshold * mad, 1.0)
    if blendshapes is not None and len(blendshapes) == len(flagged):
        b = np.asarray(blendshapes, np.float64)
        flagged |= ~np.isfinite(b).all(axis=1)
    for values, share, least in ((mouth, mouth_ratio, -np.inf), (lips, LIP_COLOUR_RATIO, LIP_COLOUR_MIN)):
        if values is not None and len(values) == len(flagged):
            flagged |= each_shot(lambda part: _below_median_share(part, share, len(part), least), values, shots)
    return flagged


def _below_median_share(values: np.ndarray | None, share: float, n: int, least_median: float = -np.inf) -> np.ndarray:
    """(n,) bool: frames whose `values` fall under `share` x the clip's median (NaN never does);
    none when there are no values for the clip or their median is not above `least_median`."""
    if values is None or len(values) != n or not np.isfinite(values).any():
        return np.zeros(n, bool)
    typical = np.nanmedian(values)
    if typical <= least_median:
        return np.zeros(n, bool)
    return np.nan_to_num(values, nan=np.inf) < share * typical


def hold_through(values: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Values of flagged frames replaced by linear interpolation between the nearest good frames
    (held at the ends); unchanged when no frame is good."""
    good = np.flatnonzero(~flagged)
    if len(good) == 0 or not flagged.any():
        return values
    out = np.array(values, copy=True)
    t = np.arange(len(values))
    flat = out.reshape(len(values), -1)
    for j in range(flat.shape[1]):
        flat[:, j] = np.interp(t, good, flat[good, j])
    return flat.reshape(out.shape).astype(values.dtype)


def hold_unreliable_frames(track: HeadTrack, face_track: FaceTrack, residual_threshold: float | None,
                           mouth: np.ndarray | None = None, mouth_ratio: float = 0.6,
                           expression_keys: tuple[str, ...] = ("expression", "jaw"),
                           lips: np.ndarray | None = None) -> HeadTrack:
    """The expression parameters (`expression_keys` of the track's params) held (interpolated)
    through unreliable frames, with a warning naming them; the per-frame confidence (1 good, 0
    flagged) goes into the track. `residual_threshold` None: the residual is not a signal."""
    shots = shot_ids(face_track.cuts)
    flagged = unreliable_frames(None if residual_threshold is None else track.residuals, face_track.detected,
                                face_track.blendshapes, residual_threshold or 0.0, mouth, mouth_ratio, lips, shots)
    params = dict(track.params)
    params["confidence"] = (~flagged).astype(np.float32)
    if flagged.any() and not flagged.all():
        for key in expression_keys:
            params[key] = hold_through(params[key], flagged)
        frames = np.flatnonzero(flagged)
        log.warning("tracking: %d frame(s) look occluded or unreliable; expression held through them: %s",
                    len(frames), frame_list(frames))
    meta = dict(track.meta, unreliable_frames=" ".join(str(int(f)) for f in np.flatnonzero(flagged)))
    return HeadTrack(**{**track.__dict__, "params": params, "meta": meta})


def eye_cover(eyes: np.ndarray | None, shots: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """What each frame shows of the eyes, from each eye's (T, 2, 2) detail and dark contrast
    (faces/visibility.py): ((T,) bool, frames that show neither eye; (T,) int8, the eye (EYES
    order) hidden alone, -1 where none is). An eye is hidden when both its signals are under
    EYE_SHOWN_RATIO x its shot's median, dimmed when its detail is under EYE_DIMMED_RATIO x it.

    - Both hidden: neither shown.
    - One hidden, the other clear: that one alone.
    - One hidden, the other dimmed: the edge of a hand crossing the other's box keeps its contrast
      but not its detail, and so does a blink. A stretch of frames that hides the one eye is
      taken as a whole: neither shown when the other is dimmed in at least half of it, else the
      one alone (the other blinked).

    An eye the picture's edge cuts (NaN) is neither hidden nor dimmed, nor one to show alone. None
    without signals."""
    if eyes is None:
        return None
    eyes = np.asarray(eyes, np.float64)

    def below(values: np.ndarray, share: float) -> np.ndarray:
        return each_shot(lambda part: _below_median_share(part, share, len(part)), values, shots)

    hidden = np.stack([below(eyes[:, k, 0], EYE_SHOWN_RATIO) & below(eyes[:, k, 1], EYE_SHOWN_RATIO)
                       for k in range(eyes.shape[1])], axis=1)
    dimmed = np.stack([below(eyes[:, k, 0], EYE_DIMMED_RATIO) for k in range(eyes.shape[1])], axis=1)
    neither = hidden.all(axis=1)
    alone = np.full(len(eyes), -1, np.int8)
    cuts = None if shots is None else np.r_[False, np.asarray(shots)[1:] != np.asarray(shots)[:-1]]
    for k in range(eyes.shape[1]):
        other = 1 - k
        in_picture = np.isfinite(eyes[:, other]).all(axis=1)     # else it is no eye to follow
        for start, length in runs(hidden[:, k] & ~hidden[:, other] & in_picture, cuts):
            stretch = slice(start, start + length)
            if dimmed[stretch, other].mean() >= 0.5:
                neither[stretch] = True
            else:
                alone[stretch] = k
    return neither, alone


def covered_eyes(eyes: np.ndarray | None, shots: np.ndarray | None = None) -> np.ndarray | None:
    """(T,) bool: frames that show neither eye (`eye_cover`); None without signals."""
    cover = eye_cover(eyes, shots)
    return None if cover is None else cover[0]


@lru_cache(maxsize=1)
def upper_face_share() -> np.ndarray:
    """(478,) how much of each MediaPipe point belongs to the upper face (eyes, brows, irises, the
    nose's bridge): 1 down to UPPER_FACE_FULL of the way from the eyes to the mouth, 0 from
    UPPER_FACE_NONE on, linear between (canonical face, y up)."""
    y = load_canonical_face()["vertices"][:, 1].astype(np.float64)
    eyes = y[list(contour("left_eye")) + list(contour("right_eye"))].mean()
    drop = eyes - y[[13, 14]].mean()
    share = np.clip((y - (eyes - UPPER_FACE_NONE * drop)) / ((UPPER_FACE_NONE - UPPER_FACE_FULL) * drop), 0.0, 1.0)
    share = np.concatenate([share, np.ones(478 - len(share))])     # the irises
    share.setflags(write=False)
    return share


def hold_covered_eyes(track: HeadTrack, face_track: FaceTrack, key: str = "canonical") -> HeadTrack:
    """The upper face of the per-point `key` parameters (T, 478, 3) through frames that hide an eye
    (`eye_cover`), with a warning naming them; the mouth and jaw still follow. Through frames that
    show neither eye it is held (interpolated from the frames around them). Through frames that
    show one eye, both sides follow the eye shown (`_follow_shown_eye`): MediaPipe's guess of the
    hidden eye squints, but the shown eye's blinks, gaze and brows are there. Unchanged when no
    frame, or every frame, hides an eye."""
    cover = eye_cover(face_track.eyes, shot_ids(face_track.cuts))
    if cover is None or len(cover[0]) != len(track):
        return track
    neither, alone = cover
    hiding = neither | (alone >= 0)
    if not hiding.any() or hiding.all():
        return track
    values = track.params[key]
    share = upper_face_share()[: values.shape[1]]
    upper = np.flatnonzero(share > 0)
    rows = np.flatnonzero(hiding)
    target = hold_through(values[:, upper], hiding)[rows].astype(np.float64)
    for eye in range(len(EYES)):
        for start, length in runs(alone == eye):
            at = np.searchsorted(rows, np.arange(start, start + length))
            target[at] = _follow_shown_eye(values, upper, target[at], start, hiding, eye)
    weight = share[upper][None, :, None]
    params = dict(track.params)
    params[key] = values.copy()
    params[key][rows[:, None], upper] = (weight * target + (1 - weight) * values[rows][:, upper]).astype(values.dtype)
    meta = dict(track.meta)
    if neither.any():
        log.warning("tracking: %d frame(s) show neither eye (a hand or something over them); eyes and brows held "
                    "through them: %s", int(neither.sum()), frame_list(np.flatnonzero(neither)))
        meta["covered_eyes_frames"] = " ".join(str(int(f)) for f in np.flatnonzero(neither))
    if (alone >= 0).any():
        one = np.flatnonzero(alone >= 0)
        log.warning("tracking: %d frame(s) show one eye only (a hand or hair over the other); both eyes and brows "
                    "follow the one shown through them: %s", len(one), frame_list(one))
        meta["one_eye_frames"] = " ".join(str(int(f)) for f in one)
    return HeadTrack(**{**track.__dict__, "params": params, "meta": meta})


def _follow_shown_eye(values: np.ndarray, upper: np.ndarray, held: np.ndarray, start: int, hiding: np.ndarray,
                      eye: int) -> np.ndarray:
    """(F, U, 3) float64: the `upper` points of `values` (T, N, 3) over a stretch of F frames from
    `start` that hides `eye` (EYES order) alone, as the eye shown moves; `held`: (F, U, 3), the
    points interpolated from the frames around the stretch.

    - The shown side less MediaPipe's pull on it: the hand arrives and leaves at once, so the
      steps its points take into the stretch and out of it (against frames that show both eyes)
      are the pull (with that one frame's own motion), and it changes linearly between them (a
      hand over one eye of d11: the shown eye's lids 0.3 cm shut at once, 30 %). Where no such
      frame borders the stretch, the pull is the shown side's median offset from `held` over it.
    - The hidden side: held, plus the shown side's motion about its own held values, mirrored
      across the face's middle (lids and brows move together).
    - The hidden iris: held, plus the shown iris's mean motion (both eyes look the same way)."""
    n_frames = len(held)
    stop = start + n_frames
    shown = values[start:stop][:, upper].astype(np.float64)
    steps = [shown[0] - values[start - 1][upper] if start > 0 and not hiding[start - 1] else None,
             shown[-1] - values[stop][upper] if stop < len(values) and not hiding[stop] else None]
    if steps[0] is None and steps[1] is None:
        pull = np.broadcast_to(np.median(shown - held, axis=0), shown.shape)
    else:
        first, last = (step if step is not None else other for step, other in zip(steps, steps[::-1]))
        along = np.linspace(0.0, 1.0, n_frames)[:, None, None]
        pull = (1 - along) * first + along * last
    motion = shown - pull - held
    vertices = load_canonical_face()["vertices"].astype(np.float64)
    side = np.sign(vertices[list(contour(EYES[eye])), 0].mean())
    in_upper = np.full(values.shape[1], -1)
    in_upper[upper] = np.arange(len(upper))
    mesh = upper[upper < MESH_POINTS]
    hidden = mesh[np.sign(vertices[mesh, 0]) == side]
    # the upper face's share depends on height alone, so each hidden point's partner is in it too
    motion[:, in_upper[hidden]] = motion[:, in_upper[mirror_partners()[hidden]]] * (-1.0, 1.0, 1.0)
    irises = upper[upper >= MESH_POINTS]
    iris_side = np.sign(np.median(values[:, irises, 0], axis=0))     # the track's own irises
    hidden_iris, shown_iris = (in_upper[irises[iris_side == s]] for s in (side, -side))
    if len(hidden_iris) and len(shown_iris):
        motion[:, hidden_iris] = motion[:, shown_iris].mean(axis=1, keepdims=True)
    return held + motion
