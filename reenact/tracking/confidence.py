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
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

import numpy as np

from ..faces.types import FaceTrack
from ..faces.shots import each_shot, shot_ids
from ..faces.visibility import mouth_visibility
from ..notes import frame_list
from .types import HeadTrack

log = logging.getLogger("reenact")

# A frame whose lips are less red than the cheeks by under this share of the clip's median is
# covered (tools/make_variants.py's `hand` clips: every covered frame below it, the least -0.18 to
# -0.03 of the median; clean clips, zooms, cuts and turns: at least 0.55). Clips whose lips hardly
# differ from their skin (median contrast under LIP_COLOUR_MIN: greyscale film, heavy make-up) are
# not judged by colour.
LIP_COLOUR_RATIO, LIP_COLOUR_MIN = 0.35, 0.01


def mouth_evidence(face_track: FaceTrack, frames: Callable[[], Iterable[np.ndarray]] | None = None
                   ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Two (T,) signals of a visible mouth (faces/visibility.py): its detail and its lips' colour.
    The face stage measures them while it has the frames (`face_track.mouth`); a track without them
    (an older cache) measures them from `frames` (a callable giving its RGB frames), or has none."""
    if face_track.mouth is not None:
        return face_track.mouth[:, 0].astype(np.float64), face_track.mouth[:, 1].astype(np.float64)
    if frames is None:
        return None, None
    rows = [mouth_visibility(frame, face_track.landmarks[t]) for t, frame in zip(range(len(face_track)), frames())]
    values = np.asarray(rows, np.float64).reshape(-1, 2)
    return values[:, 0], values[:, 1]


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
