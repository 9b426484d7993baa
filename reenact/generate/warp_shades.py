"""Eyes behind dark lenses (sunglasses): the warp engine holds the glasses rigid.

MediaPipe reads a face in sunglasses as it reads any face: it guesses open eyes behind the lenses,
and the driving's blinks and brow raises move those guessed lids. Warped with them, the lenses
bent: d19's blinks dented the top of a lens drawn on Einstein and squeezed a notch into it, and on
d0 the highlight on the glass smeared as the gaze moved. Glasses are one rigid thing on the head,
not skin: the landmarks on the lenses, and between them (the bridge), move only as the head does
(`WarpEngine`'s rigid 3D motion), and the eyes behind them take no blink and no gaze. The skin
beyond the rims takes up the rest of the expression.

An eye is hidden when its opening and a ring around it (the lids, the skin under the eye) are
dark against the face's skin, and its opening is flat: a real eye shows its white, a closed one
its lid's skin, and a shadowed one its white, iris and lashes (the constants below).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from ..faces.topology import contour
from .warp_mouth import luminance, skin_colour

# An eye is behind a lens when three quarters of its opening, and of the ring around it (the eye's
# contour scaled LENS_RING times about its middle: the lids, the skin under the eye), are darker
# than LENS_DARK x the skin's luminance (cheeks and chin); on a dark skin (LENS_DARK_SKIN levels
# or less) LENS_DARK_ON_DARK x it. Lenses drawn on three of ../shared's portraits: 0.14-0.17 of the
# skin (26-30 levels). Real eyes on its portraits, their variants and 300 frames of each clip: 0.33
# of the skin at the darkest (Diana's shadowed eye). Half of either must be LENS_GLASS levels or
# lighter: glass is not ink (a flat cartoon's eye sockets inked solid black, 0-3 levels, show their
# eyes inside).
LENS_DARK, LENS_DARK_ON_DARK, LENS_DARK_SKIN, LENS_GLASS = 0.25, 0.45, 100.0, 6.0
# Glass is flat: the spread of the opening's luminance (between its quartiles, over its median)
# is LENS_FLAT at most. Lenses drawn (shaded ones too): 0.00-0.30; a real eye, however dark, shows
# its white, iris and lashes: 0.73 and more on ../shared's portraits darkened to 0.4 or by a gamma
# of up to 2.5. Without it, Diana darkened to 0.4 (her shadowed eyes 0.35 of the skin) and the
# painted faces with a gamma of 1.6-2.5 had their eyes held.
LENS_FLAT = 0.5
# An eye whose other eye is behind a lens needs only PARTNER_EASED of that darkness: lenses shaded
# from 15 levels at their top to 100 at their bottom read 0.251 of s42's skin on one eye, 0.240
# on the other.
PARTNER_EASED = 1.5
LENS_RING = 1.6
# A pixel is dark enough for the lens LENS_EDGE of the way from the eye's darkness to the skin's
# luminance: the glass and the rim, not the skin around them.
LENS_EDGE = 0.25
# The lens, for the points it holds: the dark region that holds the eye's opening, its thin parts
# cut off first (an opening of LENS_THIN eye widths: a rim or the bridge joined it to dark hair and
# the other lens), then grown back by LENS_GROW eye widths (the rim), no further than LENS_REACH
# eye widths from the eye's middle.
LENS_THIN, LENS_GROW, LENS_REACH = 0.1, 0.25, 1.0


def _disc(radius: float) -> np.ndarray:
    r = max(int(round(radius)), 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _eye_masks(shape: tuple[int, int], ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(opening, ring around it) masks of an eye whose contour is `ring` (M, 2)."""
    middle = ring.mean(0)
    opening = np.zeros(shape, np.uint8)
    cv2.fillPoly(opening, [np.round(ring).astype(np.int32)], 1)
    around = np.zeros(shape, np.uint8)
    cv2.fillPoly(around, [np.round(middle + LENS_RING * (ring - middle)).astype(np.int32)], 1)
    return opening > 0, (around > 0) & (opening == 0)


class _EyeBox(NamedTuple):
    """One eye's luminance around it, within the lens's reach, and where its parts lie there."""
    origin: tuple[int, int]
    lum: np.ndarray
    opening: np.ndarray
    around: np.ndarray
    middle: np.ndarray
    width: float


def _eye_box(source: np.ndarray, pts: np.ndarray, eye: str) -> _EyeBox | None:
    ring = pts[list(contour(eye))]
    width = float(np.ptp(ring[:, 0]))
    middle = ring.mean(0)
    reach = LENS_REACH * width
    h, w = source.shape[:2]
    x0, y0 = np.maximum(np.floor(middle - reach), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(middle + reach) + 1, (w, h)).astype(int)
    if width < 4 or x1 - x0 < 4 or y1 - y0 < 4:
        return None
    lum = luminance(source[y0:y1, x0:x1].astype(np.float64))
    opening, around = _eye_masks(lum.shape, ring - (x0, y0))
    if not opening.any() or not around.any():
        return None
    return _EyeBox((int(x0), int(y0)), lum, opening, around, middle, width)


def _glass(box: _EyeBox) -> tuple[float, float, float]:
    """(darkness, floor, spread) of what covers the eye: the 75th percentile of its opening's and its
    ring's luminance, the larger; the median of each, the smaller; the opening's spread between its
    quartiles over its median."""
    opening, around = box.lum[box.opening], box.lum[box.around]
    darkness = max(float(np.percentile(opening, 75)), float(np.percentile(around, 75)))
    quartiles = np.percentile(opening, (25, 50, 75))
    spread = float((quartiles[2] - quartiles[0]) / max(quartiles[1], 1.0))
    return darkness, min(float(quartiles[1]), float(np.median(around))), spread


def lens_points(source: np.ndarray, points: np.ndarray, n_face: int) -> dict[str, np.ndarray]:
    """For each eye (its contour's name) that a dark lens hides: the indices of the face landmarks
    (of the first `n_face` of `points`, (N, 2+) source pixels) that lie on its lens. Empty where no
    eye is hidden."""
    pts = np.asarray(points, np.float64)[:, :2]
    skin = float(luminance(skin_colour(source, pts)))
    if skin <= 0:
        return {}
    boxes = {eye: _eye_box(source, pts, eye) for eye in ("right_eye", "left_eye")}
    glass = {eye: _glass(box) for eye, box in boxes.items() if box is not None}
    darkest = (LENS_DARK_ON_DARK if skin <= LENS_DARK_SKIN else LENS_DARK) * skin
    glassy = {eye for eye, (_, floor, spread) in glass.items() if floor >= LENS_GLASS and spread <= LENS_FLAT}
    hidden = {eye for eye in glassy if glass[eye][0] <= darkest}
    if hidden:     # one lens found: its pair needs less (a lens shaded lighter at the bottom)
        hidden |= {eye for eye in glassy if glass[eye][0] <= PARTNER_EASED * darkest}
    found: dict[str, np.ndarray] = {}
    for eye in sorted(hidden):
        box, darkness = boxes[eye], glass[eye][0]
        dark = (box.lum < darkness + LENS_EDGE * (skin - darkness)).astype(np.uint8)
        dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, _disc(LENS_THIN * box.width))
        _, labels = cv2.connectedComponents(dark, connectivity=8)
        held = np.unique(labels[box.opening & (dark > 0)])
        lens = cv2.dilate(np.isin(labels, held[held > 0]).astype(np.uint8), _disc(LENS_GROW * box.width)) > 0
        ys, xs = np.mgrid[:lens.shape[0], :lens.shape[1]]
        from_middle = np.hypot(xs + box.origin[0] - box.middle[0], ys + box.origin[1] - box.middle[1])
        lens &= from_middle <= LENS_REACH * box.width
        local = np.round(pts[:n_face] - box.origin).astype(int)
        inside = (local[:, 0] >= 0) & (local[:, 0] < lens.shape[1]) & (local[:, 1] >= 0) & (local[:, 1] < lens.shape[0])
        on = np.zeros(n_face, bool)
        on[inside] = lens[local[inside, 1], local[inside, 0]]
        found[eye] = np.flatnonzero(on)
    return found


def glasses_points(lenses: dict[str, np.ndarray], points: np.ndarray) -> np.ndarray:
    """Of the face landmarks `points` (N, 2+), those a pair of glasses holds rigid: those on its
    lenses (`lens_points`), and, where both eyes are behind one, every landmark within the hull of
    both (the bridge between them: held at its ends only, it bent at the nose)."""
    if not lenses:
        return np.zeros(0, int)
    held = np.unique(np.concatenate(list(lenses.values())))
    if len(lenses) < 2 or len(held) < 3:
        return held
    pts = np.asarray(points, np.float64)[:, :2]
    hull = cv2.convexHull(pts[held].astype(np.float32))
    inside = [i for i, (x, y) in enumerate(pts) if cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0]
    return np.union1d(held, inside).astype(int)
