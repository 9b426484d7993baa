"""Shots of a driving clip: where the picture changes at once (a cut to another scene, person or camera).

Relative motion is measured from a neutral reference frame; across a cut to another person that
frame's face is someone else's, and the difference between the two faces (a wider mouth, narrower
eyes, a gaze to one side) would come through as expression for the rest of the clip. Each shot
therefore gets its own reference (geometry/align.py), and time smoothing stops at cuts.

A cut is found on the picture: the colour histogram of the whole frame changes by more than
`threshold` (a share of its mass, 0..1) from one frame to the next. (The face stage also starts a
shot where the tracked face jumps by more than its own size: detect.face_jumps.) On the shared clips
and their camera-motion variants the largest change between frames of one shot is 0.18 (a hand
shaking the camera; a reframing jump 0.24), against 0.72-0.98 at a cut to another clip.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

_BINS = (12, 4, 4)          # hue, saturation, value
_THUMB = (64, 64)


def picture_signature(frame: np.ndarray) -> np.ndarray:
    """(192,) float32 normalised hue/saturation/value histogram of an RGB frame, from a thumbnail."""
    step = max(1, min(frame.shape[:2]) // (4 * _THUMB[0]))     # every k-th pixel first: a 1080p frame cost 6 ms
    small = cv2.resize(frame[::step, ::step], _THUMB, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def shot_starts(signatures: np.ndarray, threshold: float) -> np.ndarray:
    """(T,) bool: the first frame of every shot after the first (a cut before it)."""
    sig = np.asarray(signatures, np.float64)
    starts = np.zeros(len(sig), bool)
    if len(sig) > 1:                                              # the change is at most 1: 1 = never
        change = 0.5 * np.abs(np.diff(sig, axis=0)).sum(1)      # share of the histogram that moved
        starts[1:] = change > threshold
    return starts


def shot_ids(starts: np.ndarray | None) -> np.ndarray | None:
    """(T,) int32 shot index of every frame, from shot_starts (None where no frames were seen)."""
    return None if starts is None else np.cumsum(np.asarray(starts, bool)).astype(np.int32)


def shot_slices(shots: np.ndarray | None, n: int) -> list[slice]:
    """The frames of each shot, in order (one slice over all n frames without shot ids)."""
    if shots is None or n == 0:
        return [slice(0, n)]
    shots = np.asarray(shots)
    bounds = np.r_[0, np.flatnonzero(np.diff(shots)) + 1, n]
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def each_shot(function: Callable[[np.ndarray], np.ndarray], values: np.ndarray,
              shots: np.ndarray | None) -> np.ndarray:
    """`function` (a time filter over axis 0) applied to each shot's frames on its own, so that
    nothing leaks across a cut; `function(values)` itself without shot ids."""
    if shots is None:
        return function(values)
    return np.concatenate([function(values[part]) for part in shot_slices(shots, len(values))])
