#!/usr/bin/env python
"""An independent check of the main job (warp engine) over portraits x driving clips.

Runs `reenact` (default options, `--max-frames`) for every pair, re-reads the output with MediaPipe
(from a square READ_SPAN times the source face around it: a face small in a tall picture is misread
from the whole frame) and reports, per pair and in total:

    jaw_r, blink_r   Pearson r of the output's jawOpen / mean eyeBlink with the driving's
                     (blank when the driving hardly moves them); a camera-motion variant (zoom,
                     pan, shake, cut, tilt) is compared, in these and in the angles, with the plain
                     clip it was made from: the same face, wholly in the picture
    jaw_amp          least-squares slope of the output's jawOpen on the driving's (1: as far open, to
                     MediaPipe's eye; blank where jaw_r is): a 2D warp that matches the driving's lip
                     gap and chin drop (within 0.01 inter-ocular distances on s1 with d0) reads far
                     less open where the driving grins. The blendshape model reads 2D landmarks
                     only, and the same motion reads differently on another face: tools/jaw_ceiling.py
                     gives the r and range a perfect 2D transfer of the motion would read
    lips_r           Pearson r of the output's inner-lip gap (upper to lower lip's middle, in
                     inter-ocular distances) with the driving's: the mouth's geometry, whatever
                     the blendshape model makes of a face (it reads a cartoon's open smile as a
                     smile, not as jawOpen)
    lips_level       the output's median inner-lip gap over the driving's (both in inter-ocular distances,
                     as they are, not centred): how far open the mouth is held, where jaw_r and lips_r see
                     only how it moves (a `held` clip, its lips never shut, reads 0.3 if the output
                     opens only by its motion past the clip's least open frame)
    gaze             the output's gaze amplitude: least-squares slope of its horizontal iris offset
                     (from the eye corners' middle, in eye widths, both eyes) on the driving's (1:
                     full amplitude; blank when the driving's gaze hardly moves)
    yaw, pitch       median |change of the output's angle - change of the driving's| (degrees;
                     each series centred on its median), over all frames and over |yaw| > 10°
    bg               worst frame's RMSE (0..1) against the source outside 1.6x the source face hull
    drift            95th percentile of the face-oval centre's distance from the source's, in
                     inter-ocular distances; cam: the same between a camera-motion variant's output
                     and the plain clip's output (camera motion that leaked into the head)
    black            frames with new pure-black pixels: > 20 px at most 3 levels where the source's
                     7x7 neighbourhood is above 30 and no pure-black source pixel lies within
                     0.1 inter-ocular distances of where the face's landmark motion took it (the
                     source's own black, a lash line or a pupil, moved with the face, is not new;
                     a hole or torn triangle is), nor inside the output's own irises (the pupil
                     goes where the gaze takes it), nor where optical flow from the output back to
                     the source finds black (hair's own shadow moved with the hair, which no
                     landmark tracks)
    seams            frames with a straight-line seam: a straight segment at least 0.5 inter-ocular
                     distances (20 px) long on the border of the region that changed (output vs
                     the H.264-encoded source, smoothed difference above 12 levels) across which
                     the output jumps by >= 6 grey levels more than the source does there, or
                     where the face's landmark motion brought it from, or where optical flow from
                     the output back to the source brings either side of it from, or within 0.15
                     inter-ocular distances of any of them (a cut; not the kink a fading warp
                     leaves along a triangle edge, nor a straight edge of the source the face or
                     the hair carried; the output's face oval, the face moving over its neck, is
                     not counted)
    folds            frames with folded (inverted) warp triangles
    chroma           greyscale sources: the largest channel spread (levels) in the face region
    detail           median Laplacian-variance ratio, output / source (both through the same H.264
                     encoder), inside the face oval without eyes and mouth
    mouth            self-reenactment (source = the clip's first frame; for `selfopen` its most open
                     mouth, for `selfblink` its most closed eyes): median mouth-region mean absolute
                     error (grey levels) against the real frame, aligned on rigid landmarks
    chin             the same under the lower lip: the band from its outer contour 0.6 of the way to
                     the chin (where an open source's stretched lip was drawn down the chin)
    eye_dark         median share of the source's eye regions (its eye openings grown by half an
                     eye's width) darker than 60 grey levels in the output, less that share in the
                     source (a closed source eye torn open into dark slits)

A `hand`, `eyehand` or `oneeye` variant's covered frames (make_variants.HAND_FRAMES) have no true expression
to compare with: the correlations and angles leave them out; everything else counts them (no
tears, holes, folds or seams where the driving's mouth or eyes are hidden).

    python tools/judge.py --variants /tmp/reenact-variants --out outputs/judge [--frames 120] \
        [--turns ../shared/data-extra/driving]

The variants come from tools/make_variants.py. CPU heavy: run it with `nice`. REENACT_ROOT picks
the reenact checkout to judge (default: this one), so an older commit can be judged the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, os.environ.get("REENACT_ROOT") or str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_variants import CAMERA_VARIANTS, COVERED, HAND_FRAMES, SOURCE_VARIANTS, lip_gap, recut_at  # noqa: E402  (a `hand` clip's covered frames, a `recut`'s cut)

FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
LOWER_LIP_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]   # corner to corner, 17 the middle
CHIN_POINT = 152
LIPS_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
EYES = [[33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246],
        [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]]
RIGID = [168, 6, 197, 195, 5, 4, 33, 133, 263, 362, 234, 454, 127, 356]
JAW, BLINK = 25, (9, 10)   # MediaPipe blendshape indices (with the leading "_neutral")


@dataclass
class Pair:
    name: str
    group: str
    source: Path
    driving: Path
    base: str | None = None      # the plain pair this camera-motion variant is compared with
    truth: Path | None = None    # a camera-motion variant's plain clip: the face in it is the same
    grey: bool = False
    self_reenact: bool = False
    covered: range = range(0)    # frames whose driving mouth or eyes are hidden (a `hand`, `eyehand`, `oneeye` variant): no truth there
    shot_starts: tuple[int, ...] = ()   # frames after a cut to another clip (a `recut` variant)


@dataclass
class Result:
    name: str
    group: str
    frames: int = 0
    jaw_r: float | None = None
    jaw_amp: float | None = None
    lips_r: float | None = None
    lips_level: float | None = None
    blink_r: float | None = None
    gaze: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    yaw_big: float | None = None
    pitch_big: float | None = None
    bg: float | None = None
    drift: float | None = None
    cam: float | None = None
    black: int = 0
    seams: int = 0
    folds: int = 0
    chroma: float | None = None
    detail: float | None = None
    mouth: float | None = None
    chin: float | None = None
    eye_dark: float | None = None
    seconds: float = 0.0
    error: str | None = None
    centres: list = field(default_factory=list, repr=False)


def pearson(a: np.ndarray, b: np.ndarray, min_std: float = 0.03) -> float | None:
    if len(a) < 3 or np.std(b) < min_std:
        return None
    if np.std(a) < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def hull_mask(points: np.ndarray, shape, scale: float = 1.0) -> np.ndarray:
    pts = points[:, :2]
    centre = pts.mean(0)
    hull = cv2.convexHull(((pts - centre) * scale + centre).astype(np.float32)).astype(np.int32)
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask > 0


def eye_regions(landmarks: np.ndarray, shape) -> np.ndarray:
    """Both eye openings of `landmarks`, grown by half an eye's width (where the lids may move)."""
    mask = np.zeros(shape[:2], np.uint8)
    for ring in EYES:
        cv2.fillConvexPoly(mask, cv2.convexHull(landmarks[ring, :2].astype(np.float32)).astype(np.int32), 1)
    grow = int(0.5 * np.linalg.norm(landmarks[EYES[0][0], :2] - landmarks[EYES[0][8], :2])) | 1
    return cv2.dilate(mask, np.ones((grow, grow), np.uint8)) > 0


def dark_share(image: np.ndarray, mask: np.ndarray) -> float:
    return float((cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[mask] < 60).mean())


def chin_mask(landmarks: np.ndarray, shape) -> np.ndarray:
    """The band under the lower lip: from its outer contour 0.6 of the way to the chin."""
    lower = landmarks[LOWER_LIP_OUTER, :2]
    down = 0.6 * (landmarks[CHIN_POINT, :2] - landmarks[LOWER_LIP_OUTER[5], :2])
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(np.r_[lower, lower[::-1] + down]).astype(np.int32)], 1)
    return mask > 0


def new_black(frame: np.ndarray, source: np.ndarray, iod: float, landmarks: np.ndarray | None = None,
              source_landmarks: np.ndarray | None = None) -> np.ndarray:
    """Pure-black output pixels (<= 3 levels) where the source is clearly above black (its 7x7
    neighbourhood above 30) and has no pure-black pixel within 0.1 inter-ocular distances, outside
    the irises of the output's `landmarks` (478, 2+) when given: a pupil follows the gaze further
    than 0.1 inter-ocular distances (a small face's pupil moved 8 px was counted before).

    With the source's landmarks as well, the source's black also counts where the face's motion
    took it (each black pixel moved as the landmarks around it moved, linearly between them, as
    the nearest one outside them): a lash line carried across by a 35-degree turn is the source's
    own black, not a hole. A hole or torn triangle has no black source pixel behind it either way."""
    bright = cv2.erode(source.max(-1), np.ones((7, 7), np.uint8)) > 30
    r = max(int(round(0.1 * iod)), 3)
    black = (source.max(-1) <= 3).astype(np.uint8)
    if landmarks is not None and source_landmarks is not None:
        black = np.maximum(black, _moved_black(black, source_landmarks[:, :2], landmarks[:, :2], iod))
    dark = cv2.dilate(black, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    if landmarks is not None:   # (the judge keeps its own indices: it also judges older checkouts)
        for centre in (468, 473):
            radius = np.linalg.norm(landmarks[centre + 1:centre + 5, :2] - landmarks[centre, :2], axis=1).mean()
            cv2.circle(dark, tuple(int(round(v)) for v in landmarks[centre, :2]), int(np.ceil(radius)), 1, -1)
    return (frame.max(-1) <= 3) & bright & (dark == 0)


def _flow_back(out_grey: np.ndarray, source_grey: np.ndarray) -> np.ndarray:
    """(H, W, 2) dense optical flow (DIS) from the output's grey picture back to the source's: where
    each output pixel came from, as the pictures alone tell (independent of the engine's map)."""
    as_u8 = lambda g: np.clip(g, 0, 255).astype(np.uint8)   # noqa: E731
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(as_u8(out_grey), as_u8(source_grey), None)


def unexplained_black(frame: np.ndarray, source: np.ndarray, black: np.ndarray, iod: float) -> np.ndarray:
    """Of the new pure-black pixels `black` (new_black), those that the picture's own motion does
    not explain: optical flow (DIS) from the output back to the source, over their box grown by
    1.5 inter-ocular distances, sends each to a source point with no pure-black pixel within 0.1
    inter-ocular distances. Hair's own shadow, moved with the hair by a turn further than the face's
    landmarks say (nothing tracks the hair), comes back to the shadow; a hole or torn triangle in
    skin comes back to skin, where its neighbours' flow takes it."""
    if not black.any():
        return black
    h, w = black.shape
    ys, xs = np.nonzero(black)
    m = int(1.5 * iod)
    x0, y0 = max(xs.min() - m, 0), max(ys.min() - m, 0)
    x1, y1 = min(xs.max() + m + 1, w), min(ys.max() + m + 1, h)
    grey = lambda im: cv2.cvtColor(np.ascontiguousarray(im[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    flow = _flow_back(grey(frame), grey(source))
    r = max(int(round(0.1 * iod)), 3)
    dark = cv2.dilate((source[y0:y1, x0:x1].max(-1) <= 3).astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    bx, by = xs - x0, ys - y0
    tx = np.clip(np.round(bx + flow[by, bx, 0]).astype(int), 0, x1 - x0 - 1)
    ty = np.clip(np.round(by + flow[by, bx, 1]).astype(int), 0, y1 - y0 - 1)
    out = np.zeros_like(black)
    unexplained = dark[ty, tx] == 0
    out[ys[unexplained], xs[unexplained]] = True
    return out


def _carry(points: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """`points` (N, 2) moved as the landmarks `src` moved to `dst`: linearly between them, as the
    nearest one outside their hull."""
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    motion = dst - src
    moved = LinearNDInterpolator(src, motion)(points)
    outside = np.isnan(moved[:, 0])
    if outside.any():
        moved[outside] = NearestNDInterpolator(src, motion)(points[outside])
    return points + moved


def _moved_black(black: np.ndarray, src: np.ndarray, dst: np.ndarray, iod: float) -> np.ndarray:
    """The source's black pixels within an inter-ocular distance of its face, carried by the face's
    landmark motion."""
    x0, y0 = np.floor(src.min(0) - iod).astype(int)
    x1, y1 = np.ceil(src.max(0) + iod).astype(int)
    h, w = black.shape
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    ys, xs = np.nonzero(black[y0:y1, x0:x1])
    out = np.zeros_like(black)
    if not len(xs):
        return out
    to = np.round(_carry(np.stack([xs + x0, ys + y0], 1).astype(np.float64), src, dst)).astype(int)
    keep = (to[:, 0] >= 0) & (to[:, 0] < w) & (to[:, 1] >= 0) & (to[:, 1] < h)
    out[to[keep, 1], to[keep, 0]] = 1
    return out


def _jump(grey: np.ndarray, line: np.ndarray, step: float = 2.0, offset: float = 0.0) -> float:
    """Mean absolute difference of `grey` across a segment (x0, y0, x1, y1), `step` px each side,
    the segment moved `offset` px along its normal."""
    x0, y0, x1, y1 = map(float, line)
    n = max(int(np.hypot(x1 - x0, y1 - y0)), 2)
    t = np.linspace(0, 1, n)
    ux, uy = np.array([-(y1 - y0), x1 - x0]) / max(np.hypot(x1 - x0, y1 - y0), 1e-9)
    px, py = x0 + t * (x1 - x0) + offset * ux, y0 + t * (y1 - y0) + offset * uy
    nx, ny = ux * step, uy * step
    h, w = grey.shape

    def sample(x, y):
        return grey[np.clip(np.round(y).astype(int), 0, h - 1), np.clip(np.round(x).astype(int), 0, w - 1)]

    return float(np.abs(sample(px + nx, py + ny) - sample(px - nx, py - ny)).mean())


def _flow_origins(out_g: np.ndarray, src_g: np.ndarray, lines: np.ndarray, side: int) -> list[np.ndarray]:
    """`lines` (K, 4) of the output carried back to the source by the picture's own motion (dense
    optical flow, output to source), as seen `side` px to each side of each segment: the hair beyond
    the face oval has no landmark to carry it, and a turn moves its edge further than the face's
    nearest landmark says (the temple's hairline, the hair over a turned shoulder). Each side is
    measured on its own: across a cut the two sides came from different places, and neither
    brings the segment from an edge of the source."""
    flow = _flow_back(out_g, src_g)
    h, w = out_g.shape
    carried = []
    for sign in (-1.0, 1.0):
        moved = []
        for x0, y0, x1, y1 in lines.astype(np.float64):
            n = np.array([-(y1 - y0), x1 - x0]) / max(np.hypot(x1 - x0, y1 - y0), 1e-9) * side * sign
            t = np.linspace(0.0, 1.0, max(int(np.hypot(x1 - x0, y1 - y0)), 2))
            xs = np.clip(np.round(x0 + t * (x1 - x0) + n[0]).astype(int), 0, w - 1)
            ys = np.clip(np.round(y0 + t * (y1 - y0) + n[1]).astype(int), 0, h - 1)
            dx, dy = np.median(flow[ys, xs], axis=0)
            moved.append((x0 + dx, y0 + dy, x1 + dx, y1 + dy))
        carried.append(np.round(np.array(moved)).astype(int))
    return carried


def seam_lines(frame: np.ndarray, source: np.ndarray, iod: float, outline: np.ndarray | None = None,
               landmarks: np.ndarray | None = None, source_landmarks: np.ndarray | None = None) -> np.ndarray:
    """(K, 4) straight cuts (x0, y0, x1, y1): straight segments at least 0.5 inter-ocular
    distances (20 px) long on the border of what changed (where the output differs from
    `source`, both through the same encoder, by more than 12 levels, smoothed), across which
    the output jumps by at least 6 grey levels more than the source does along it or along any
    parallel within 0.15 inter-ocular distances (mean over the segment, 2 px each side;
    0.1 flagged a suit's collar that moved 5 px with the head). A warp
    that fades out can leave a straight border along a triangle edge (a kink), and a moved
    straight edge (a hairline, a collar) one along itself, but the source has that edge nearby;
    a cut makes a new one. Segments along `outline` (the output's face oval, (M, 2)), within
    0.15 inter-ocular distances, are the face moving over its neck and hair, an edge by
    nature, and are not counted. With the output's and the source's `landmarks` (478, 2+), the
    source is also looked at where the face's motion brings the segment from (its ends carried
    back by the landmarks' motion, as in `new_black`): a brow or a hairline that a turn moved
    further than 0.15 inter-ocular distances is still the source's own edge. A segment still cut
    is last looked for where the picture's own motion brings it from (`_flow_origins`): the hair's
    edge at a turned temple or over a shoulder moved further than the nearest landmark (on the
    outputs of 0b78662's 75 pairs, 9 of the 13 seam frames were such edges, each viewed at 4x)."""
    diff = np.abs(frame.astype(np.float32) - source.astype(np.float32)).max(-1)
    changed = (cv2.GaussianBlur(diff, (0, 0), 1.5) > 12).astype(np.uint8)
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    border = cv2.morphologyEx(changed, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    border[[0, -1], :] = 0           # the picture's own edges are not seams
    border[:, [0, -1]] = 0
    length = max(int(round(0.5 * iod)), 20)
    lines = cv2.HoughLinesP(border * 255, 1, np.pi / 180, threshold=int(0.5 * length), minLineLength=length,
                            maxLineGap=4)
    if lines is None:
        return np.zeros((0, 4), int)
    out_g, src_g = (cv2.GaussianBlur(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
                    for x in (frame, source))
    lines = lines.reshape(-1, 4)
    reach = max(int(round(0.15 * iod)), 3)
    origins = [lines]
    if landmarks is not None and source_landmarks is not None:
        back = _carry(lines.reshape(-1, 2).astype(np.float64), landmarks[:, :2], source_landmarks[:, :2])
        origins.append(np.round(back).reshape(-1, 4))

    jumps = [_jump(out_g, ln) for ln in lines]

    def explained(k: int, origins: list[np.ndarray]) -> float:
        """The largest jump the source shows along segment `k`'s origins, within `reach` of them."""
        return max(_jump(src_g, at[k], offset=o) for at in origins for o in range(-reach, reach + 1))

    cut = [jumps[k] - explained(k, origins) >= 6.0 for k in range(len(lines))]
    still = np.flatnonzero(cut)
    if len(still):     # the picture's own motion, each side of the segment (`_flow_origins`)
        flowed = _flow_origins(out_g, src_g, lines[still], reach)
        for j, k in enumerate(still):
            cut[k] = jumps[k] - explained(j, flowed) >= 6.0
    if outline is not None:
        poly = np.asarray(outline, np.float32).reshape(-1, 1, 2)
        for k, (x0, y0, x1, y1) in enumerate(lines):
            ends = ((x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1))
            if all(abs(cv2.pointPolygonTest(poly, (float(x), float(y)), True)) < 0.15 * iod for x, y in ends):
                cut[k] = False
    return lines[np.array(cut, bool)]


def lap_var(grey: np.ndarray, mask: np.ndarray) -> float:
    lap = cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F)
    return float(lap[mask].var()) if mask.any() else float("nan")


class FoldCounter:
    """Wraps WarpEngine.render to count frames whose warp triangles fold (inverted orientation)."""

    def __init__(self):
        from reenact.generate import warp

        self.module = warp
        self.original = warp.WarpEngine.render
        self.frames = 0
        counter = self

        def render(engine, target_points, *args, **kwargs):
            out = self.original(engine, target_points, *args, **kwargs)
            folds = getattr(engine, "last_folds", None)
            if folds is None:   # an engine without its own check: its ring triangles, as drawn
                dst = engine._vertices(np.asarray(target_points, np.float64)[:, :2])
                src = engine._source_vertices()
                folds = int((np.sign(_areas(dst, engine.ring_tris)) != np.sign(_areas(src, engine.ring_tris))).sum())
            counter.frames += int(folds > 0)
            return out

        warp.WarpEngine.render = render

    def close(self):
        self.module.WarpEngine.render = self.original


def _areas(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = points[tris[:, 0]], points[tris[:, 1]], points[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def encoded(image: np.ndarray, tmp: Path) -> np.ndarray:
    """The image after one trip through the job's H.264 writer (the detail baseline)."""
    from reenact.io.video import iter_frames
    from reenact.io.writer import write_video

    path = write_video(tmp, [image, image], fps=25)
    frame = next(iter(iter_frames(path, max_frames=1)))
    return frame[:image.shape[0], :image.shape[1]]   # the encoder pads odd sizes


def gaze_offsets(landmarks: np.ndarray) -> np.ndarray:
    """(T,) horizontal gaze: each iris centre's offset along its eye's corner line from the
    corners' middle, in eye widths, both eyes' mean (landmarks (T, 478, 2+))."""
    offsets = []
    for iris, a, b in ((468, 33, 133), (473, 362, 263)):
        c0, c1 = landmarks[:, a, :2], landmarks[:, b, :2]
        axis = c1 - c0
        offsets.append(((landmarks[:, iris, :2] - (c0 + c1) / 2) * axis).sum(1) / np.maximum((axis ** 2).sum(1), 1e-9))
    return np.mean(offsets, 0)


def slope(out: np.ndarray, drv: np.ndarray, min_std: float = 0.03) -> float | None:
    """Least-squares slope of `out` on `drv` (both centred), None when `drv` hardly varies."""
    if len(drv) < 3 or np.std(drv) < min_std:
        return None
    d = drv - drv.mean()
    return float((d * (out - out.mean())).sum() / (d ** 2).sum())


def within_shots(values: np.ndarray, ok: np.ndarray, shot: np.ndarray) -> np.ndarray:
    """`values` (T, ...) less their median over each shot's `ok` frames (a plain clip: one shot)."""
    out = np.asarray(values, np.float64).copy()
    for k in np.unique(shot):
        frames = shot == k
        if (frames & ok).any():
            out[frames] -= np.median(out[frames & ok], 0)
    return out


READ_SPAN = 3.0   # the output is read from a square this many times the source face's extent around it


def read_around_face(output: Path, source_landmarks: np.ndarray, image_size: tuple[int, int]):
    """The output's face track, read by MediaPipe from a square READ_SPAN times the source face's
    extent around it (where the picture is larger), landmarks in the output's pixels. A face small
    in a tall picture is misread from the whole frame (s12-padded_d18, the same output read both
    ways: blink r 0.45 and 0.88, yaw error 1.0 and 0.25 degrees); a head held on its body stays
    well inside that square."""
    import dataclasses

    from reenact.faces import detect_faces, detect_in_file
    from reenact.faces.detect import reread_window
    from reenact.io.video import iter_frames, probe_video

    xy = np.asarray(source_landmarks, np.float64)[:, :2]
    window = reread_window(np.concatenate([xy.min(0), xy.max(0)]), READ_SPAN, image_size)
    if window is None:
        return detect_in_file(output)
    x0, y0, x1, y1 = window
    track = detect_faces((f[y0:y1, x0:x1] for f in iter_frames(output)), probe_video(output).fps, video=True,
                         source_name=str(output))
    return dataclasses.replace(track, landmarks=track.landmarks + np.array([x0, y0, 0], np.float32))


def judge_pair(pair: Pair, out_dir: Path, frames: int, cache: dict, reenactor) -> Result:
    from reenact.eval.estimators.head_pose import mediapipe_angles
    from reenact.faces import detect_faces, detect_in_file
    from reenact.io.images import read_image
    from reenact.io.video import iter_frames

    res = Result(pair.name, pair.group)
    output = out_dir / f"{pair.name}.mp4"
    counter = FoldCounter()
    start = time.perf_counter()
    try:
        reenactor.run(pair.source, pair.driving, output, overwrite=True, max_frames=frames, audio=False)
    except Exception as exc:   # a failed job is a result of the judge, not its end
        res.error = f"{type(exc).__name__}: {exc}"
        return res
    finally:
        counter.close()
    res.seconds = time.perf_counter() - start
    res.folds = counter.frames
    # what the driving face did: a camera-motion variant's own frames push the face half out of the
    # picture or shrink it, where MediaPipe misreads the expression (d11-pan's jawOpen against
    # d11's: r 0.78); the camera moved, not the face, so the plain clip's reading is the truth
    truth = pair.truth or pair.driving
    key = str(truth)
    if key not in cache:
        cache[key] = detect_in_file(truth, max_frames=frames)
    drv = cache[key]
    source = read_image(pair.source)
    src = detect_faces([source], video=False).landmarks[0]
    out = read_around_face(output, src, source.shape[:2])
    n = min(len(out), len(drv))
    res.frames = n
    ok = out.detected[:n] & drv.detected[:n]
    ok[[t for t in pair.covered if t < n]] = False
    if not ok.any():   # nothing to compare: a result of the judge, not its end
        res.error = "no frame where MediaPipe found both the output's face and the driving's"
        return res
    # each shot of a recut clip on its own: another person's resting jaw, lids and pose are not motion
    shot = np.searchsorted(np.asarray(pair.shot_starts, int), np.arange(n), side="right")
    jaw_o, jaw_d = within_shots(out.blendshapes[:n, JAW], ok, shot), within_shots(drv.blendshapes[:n, JAW], ok, shot)
    res.jaw_r = pearson(jaw_o[ok], jaw_d[ok])
    res.jaw_amp = slope(jaw_o[ok], jaw_d[ok]) if res.jaw_r is not None else None
    gaps_o, gaps_d = (lip_gap(t.landmarks[:n]) for t in (out, drv))
    res.lips_r = pearson(within_shots(gaps_o, ok, shot)[ok], within_shots(gaps_d, ok, shot)[ok])
    held_o, held_d = float(np.median(gaps_o[ok])), float(np.median(gaps_d[ok]))
    res.lips_level = held_o / held_d if held_d > 0.02 else None       # blank for a clip that keeps it shut
    blink_o, blink_d = (within_shots(t.blendshapes[:n, list(BLINK)].mean(1), ok, shot) for t in (out, drv))
    res.blink_r = pearson(blink_o[ok], blink_d[ok])
    gaze_o, gaze_d = (within_shots(gaze_offsets(t.landmarks[:n]), ok, shot) for t in (out, drv))
    res.gaze = slope(gaze_o[ok], gaze_d[ok])
    a_out = np.array([mediapipe_angles(m) for m in out.transforms[:n]])
    a_drv = np.array([mediapipe_angles(m) for m in drv.transforms[:n]])
    err = np.abs(within_shots(a_out, ok, shot) - within_shots(a_drv, ok, shot))
    big = ok & (np.abs(a_drv[:, 0]) > 10)
    res.yaw, res.pitch = (float(np.median(err[ok, k])) for k in (0, 1))
    if big.sum() >= 5:
        res.yaw_big, res.pitch_big = (float(np.median(err[big, k])) for k in (0, 1))
    iod = float(np.linalg.norm(src[468, :2] - src[473, :2]))
    centre_src = src[FACE_OVAL, :2].mean(0)
    centres = out.landmarks[:n, FACE_OVAL, :2].mean(1)
    res.centres = centres.tolist()
    res.drift = float(np.percentile(np.linalg.norm(centres[ok] - centre_src, axis=1), 95) / iod)
    if pair.base and pair.base in cache.get("_centres", {}):
        base = np.asarray(cache["_centres"][pair.base])
        m = min(len(base), n)
        res.cam = float(np.percentile(np.linalg.norm(centres[:m] - base[:m], axis=1), 95) / iod)
    background = ~hull_mask(src, source.shape, 1.6)
    face = hull_mask(src[FACE_OVAL], source.shape)
    inner = face.copy()
    for part in [LIPS_OUTER] + EYES:
        inner &= ~cv2.dilate(hull_mask(src[part], source.shape).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    source_encoded = encoded(source, out_dir / "_src.mp4")
    base_detail = lap_var(cv2.cvtColor(source_encoded, cv2.COLOR_RGB2GRAY), inner)
    gt = iter(iter_frames(pair.driving, max_frames=n)) if pair.self_reenact else None
    eyes = eye_regions(src, source.shape)
    source_dark = dark_share(source, eyes)
    bgs, details, chroma, mouths, chins, eye_darks = [], [], 0.0, [], [], []
    for t, frame in enumerate(iter_frames(output, max_frames=n)):
        frame = frame[:source.shape[0], :source.shape[1]]
        diff = (frame.astype(np.float32) - source.astype(np.float32)) / 255.0
        eye_darks.append(dark_share(frame, eyes) - source_dark)
        bgs.append(float(np.sqrt((diff[background] ** 2).mean())))
        # resampling and codec undershoot in dark hair, or the source's own lash line moved with
        # the lids, cannot make these pure black; a hole or torn triangle can
        seen = t < n and out.detected[t]
        black = new_black(frame, source, iod, out.landmarks[t] if seen else None, src)
        res.black += int(black.sum() > 20 and unexplained_black(frame, source, black, iod).sum() > 20)
        outline = out.landmarks[t, FACE_OVAL, :2] if seen else None
        res.seams += int(len(seam_lines(frame, source_encoded, iod, outline, out.landmarks[t] if seen else None,
                                        src)) > 0)
        details.append(lap_var(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), inner) / max(base_detail, 1e-6))
        if pair.grey:
            spread = frame.max(-1).astype(int) - frame.min(-1)
            chroma = max(chroma, float(spread[face].max()))
        if gt is not None:
            real = next(gt)
            if ok[t]:
                m, _ = cv2.estimateAffinePartial2D(drv.landmarks[t, RIGID, :2].astype(np.float32),
                                                   out.landmarks[t, RIGID, :2].astype(np.float32))
                warped = cv2.warpAffine(real, m, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR)
                mouth = hull_mask(out.landmarks[t, LIPS_OUTER], frame.shape, 1.2)
                g_out = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
                g_gt = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY).astype(np.float32)
                error = np.abs(g_out - g_gt)
                mouths.append(float(error[mouth].mean()))
                chins.append(float(error[chin_mask(out.landmarks[t], frame.shape)].mean()))
    res.bg = float(max(bgs)) if bgs else None
    res.detail = float(np.median(details)) if details else None
    res.chroma = chroma if pair.grey else None
    res.mouth = float(np.median(mouths)) if mouths else None
    res.chin = float(np.median(chins)) if chins else None
    res.eye_dark = float(np.median(eye_darks)) if eye_darks else None
    write_strip(out_dir / f"{pair.name}.png", pair.driving, output, drv, n)
    return res


def write_strip(path: Path, driving: Path, output: Path, drv, n: int) -> None:
    """Driving over output at six moments (evenly spaced, plus the most open mouth and largest yaw)."""
    from reenact.io.video import iter_frames

    picks = sorted(set(np.linspace(0, n - 1, 4).astype(int).tolist()
                       + [int(np.argmax(drv.blendshapes[:n, JAW]))]))
    rows = []
    for path_ in (driving, output):
        cells = []
        for t, frame in enumerate(iter_frames(path_, max_frames=n)):
            if t in picks:
                h = 256
                cells.append(cv2.resize(frame, (int(frame.shape[1] * h / frame.shape[0]), h), interpolation=cv2.INTER_AREA))
        rows.append(np.concatenate(cells, 1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


def write_frame_where(clip: Path, path: Path, most: str, frames: int = 120) -> int:
    """Writes the frame of the clip's first `frames` with the most open mouth (`most="mouth"`: its
    inner lips furthest apart, in inter-ocular distances) or the most closed eyes (`"blink"`:
    MediaPipe's eyeBlink scores); returns its index."""
    from reenact.faces import detect_in_file
    from reenact.io.images import write_image
    from reenact.io.video import iter_frames

    track = detect_in_file(clip, max_frames=frames)
    score = lip_gap(track.landmarks) if most == "mouth" else track.blendshapes[:, list(BLINK)].mean(1)
    t = int(np.argmax(np.where(track.detected, score, -np.inf)))
    write_image(path, next(f for i, f in enumerate(iter_frames(clip, max_frames=t + 1)) if i == t))
    return t


def pairs(data: Path, variants: Path | None, extra: list[str], full: bool = False,
          turns: Path | None = None) -> list[Pair]:
    """Every portrait x every clip (`full`), or each clip with two portraits; then each clip's
    variants with every portrait (`full`) or with one of those two (so the plain pair to compare
    with exists), greyscale, padded, soft, faded, small and toon portraits, self-reenactment (a
    `recut` variant's two halves are judged as two shots: each series less its own median in each),
    and (group `turn`) the clips of `turns` (clips that turn past |yaw| > 10°, e.g.
    ../shared/data-extra/driving) with one portrait each."""
    from reenact.io.video import probe_video

    sources = sorted((data / "source").glob("*.jpg"))
    clips = sorted((data / "driving").glob("*.mp4"))
    chosen = {c.stem: (sources if full else [sources[i % len(sources)], sources[(i + 2) % len(sources)]])
              for i, c in enumerate(clips)}
    out = [Pair(f"{s.stem}_{c.stem}", "plain", s, c) for c in clips for s in chosen[c.stem]]
    if variants is not None and variants.is_dir():
        for c in clips:
            for j, kind in enumerate(("zoom", "pan", "shake", "cut", "open", "flip", "hand", "recut", "turn", "tilt",
                                     "wide", "tall", "whip", "held", "eyehand", "oneeye", "lowres")):   # new kinds last: the others keep their portraits
                clip = variants / "driving" / f"{c.stem}-{kind}.mp4"
                if not clip.is_file():
                    continue
                for s in chosen[c.stem] if full else [chosen[c.stem][j % len(chosen[c.stem])]]:
                    base = f"{s.stem}_{c.stem}" if kind in CAMERA_VARIANTS else None
                    out.append(Pair(f"{s.stem}_{c.stem}-{kind}", kind, s, clip, base=base, truth=c if base else None,
                                    covered=HAND_FRAMES if kind in COVERED else range(0),
                                    shot_starts=(recut_at(probe_video(c).frame_count),) if kind == "recut" else ()))
        for i, s in enumerate(sources if full else sources[:2]):
            for j, kind in enumerate(SOURCE_VARIANTS):
                image = variants / "source" / f"{s.stem}-{kind}.jpg"
                if image.is_file():
                    c = clips[(i + j) % len(clips)]
                    out.append(Pair(f"{image.stem}_{c.stem}", kind, image, c, grey=kind == "grey"))
        for c in clips:   # self-reenactment: the clip's own first frame as the source
            first = variants / "source" / f"{c.stem}-frame0.png"
            if not first.is_file():
                from reenact.io.images import write_image
                from reenact.io.video import iter_frames

                write_image(first, next(iter(iter_frames(c, max_frames=1))))
            out.append(Pair(f"self_{c.stem}", "self", first, c, self_reenact=True))
        for c in clips:   # its most open mouth (a portrait that smiles with its teeth, or talks), and
            for group, most, tag in (("selfopen", "mouth", "mouthopen"), ("selfblink", "blink", "blink")):
                image = variants / "source" / f"{c.stem}-{tag}.png"     # its most closed eyes (a blink
                if not image.is_file():                                  # caught in the photo)
                    write_frame_where(c, image, most)
                out.append(Pair(f"{group}_{c.stem}", group, image, c, self_reenact=True))
    if turns is not None and turns.is_dir():
        for i, c in enumerate(sorted(turns.glob("*.mp4"))):
            s = sources[i % len(sources)]
            out.append(Pair(f"{s.stem}_{c.stem}-turn", "turn", s, c))
    return [p for p in out if not extra or any(e in p.name for e in extra)]


COLUMNS = ("jaw_r", "jaw_amp", "lips_r", "lips_level", "blink_r", "gaze", "yaw", "pitch", "yaw_big", "pitch_big", "bg", "drift", "cam", "black", "seams", "folds",
           "chroma", "detail", "mouth", "chin", "eye_dark")


def fmt(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else (f"{v:.1f}" if isinstance(v, float) else str(v))


def summary(results: list[Result]) -> list[str]:
    """Per group: worst-case figures (min for correlations and detail, max for errors, sums for counts)."""
    lines = ["| group | pairs | " + " | ".join(COLUMNS) + " |", "| --- " * (len(COLUMNS) + 2) + "|"]
    groups = sorted({r.group for r in results}) + ["all"]
    for g in groups:
        rs = [r for r in results if (g == "all" or r.group == g) and r.error is None]
        cells = []
        for c in COLUMNS:
            vals = [getattr(r, c) for r in rs if getattr(r, c) is not None]
            if not vals:
                cells.append("")
            elif c in ("black", "seams", "folds"):
                cells.append(str(int(sum(vals))))
            elif c in ("jaw_r", "jaw_amp", "lips_r", "lips_level", "blink_r", "gaze", "detail"):
                cells.append(f"{min(vals):.2f} / {np.median(vals):.2f}")
            else:
                cells.append(f"{max(vals):.3g} / {np.median(vals):.3g}")
        errors = sum(1 for r in results if (g == "all" or r.group == g) and r.error)
        lines.append(f"| {g} | {len(rs)}{f' ({errors} failed)' if errors else ''} | " + " | ".join(cells) + " |")
    return lines


def from_logs(paths: list[Path]) -> list[Result]:
    """Results read back from judge logs (one `[i/n] name error {json} seconds` line per pair)."""
    results = []
    for path in paths:
        for line in path.read_text().splitlines():
            if not line.startswith("[") or "{" not in line:
                continue
            name = line.split("] ", 1)[1].split(" ", 1)[0]
            row = json.loads(line[line.index("{"):line.rindex("}") + 1])
            group = name.split("-")[-1] if "-" in name and not name.startswith(("s1-", "s12-", "s42-", "s6-", "s7-")) \
                else (name.split("_")[0] if name.startswith("self") else name.split("_")[0].split("-")[-1] if "-" in name else "plain")
            r = Result(name, group)
            for c in COLUMNS:
                v = row.get(c, "")
                setattr(r, c, None if v == "" else (int(v) if c in ("black", "seams", "folds") else float(v)))
            results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--variants", type=Path, default=None)
    ap.add_argument("--turns", type=Path, default=None, help="a folder of clips that turn past |yaw| > 10° (group turn)")
    ap.add_argument("--out", type=Path, default=Path("outputs/judge"))
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--only", nargs="*", default=[], help="judge only pairs whose name contains one of these")
    ap.add_argument("--groups", default="", help="comma-separated groups to judge (plain, zoom, pan, shake, cut, open,"
                    " flip, hand, eyehand, oneeye, recut, grey, padded, soft, faded, small, toon, self, selfopen, selfblink, turn, tilt, wide, tall, whip, held, lowres); default all")
    ap.add_argument("--full", action="store_true", help="every portrait with every clip and every variant of it (default: two per clip, one per variant)")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides for the job (key=value)")
    ap.add_argument("--summarise", nargs="*", type=Path, default=None,
                    help="only print the per-group summary of these judge logs")
    args = ap.parse_args(argv)
    if args.summarise:
        print("\n".join(summary(from_logs(args.summarise))))
        return 0
    from reenact import Reenactor

    args.out.mkdir(parents=True, exist_ok=True)
    reenactor = Reenactor(engine="warp", overrides=["run.cache=false", *args.set])
    centres_file = args.out / "centres.json"   # plain pairs' face centres, for `cam` in a later run
    cache: dict = {"_centres": json.loads(centres_file.read_text()) if centres_file.is_file() else {}}
    results = []
    todo = pairs(args.data, args.variants, args.only, args.full, args.turns)
    if args.groups:
        todo = [p for p in todo if p.group in args.groups.split(",")]
    todo.sort(key=lambda p: p.base is not None)   # plain pairs first: the variants compare with them
    for i, pair in enumerate(todo):
        r = judge_pair(pair, args.out, args.frames, cache, reenactor)
        cache["_centres"][r.name] = r.centres
        centres_file.write_text(json.dumps(cache["_centres"]))
        results.append(r)
        row = {c: fmt(getattr(r, c)) for c in COLUMNS}
        print(f"[{i + 1}/{len(todo)}] {r.name} {r.error or ''} {json.dumps(row)} {r.seconds:.1f}s", flush=True)
    lines = ["| pair | " + " | ".join(COLUMNS) + " |", "| --- " * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {r.name} | " + (r.error or " | ".join(fmt(getattr(r, c)) for c in COLUMNS)) + " |" for r in results]
    lines += ["", "Per group, worst / median (correlations, gaze and detail: min / median; black and folds: frame totals):",
              ""] + summary(results)
    (args.out / "judge.md").write_text("\n".join(lines) + "\n")
    (args.out / "judge.json").write_text(json.dumps([{k: v for k, v in asdict(r).items() if k != "centres"}
                                                     for r in results], indent=1))
    print("\n".join(summary(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
