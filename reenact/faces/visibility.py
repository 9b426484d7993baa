"""How much of the mouth and the eyes a frame really shows, measured while the face stage has the frame.

A hand over the mouth leaves MediaPipe confident of a closed, neutral mouth; the trackers
(tracking/confidence.py) tell such frames by two cheap per-frame signals measured here, so that no
later stage has to decode the clip again:

* detail: the mean gradient magnitude in the landmark mouth box over that in the face box (lips,
  teeth and the lip line always carry strong edges);
* lip colour: the median red chroma, (R - G) / (R + G + B), on the lips less that on the cheeks
  (lips are redder than skin; a hand is not, even when the creases between its fingers keep the
  mouth box full of edges).

The eyes likewise (a hand over them leaves MediaPipe guessing lids and brows, and the
portrait squinted or looked down through the cover), two signals an eye:

* detail: the mean gradient magnitude in the eye's box over that in the face box (lashes, the
  iris's rim, the lid's crease);
* dark contrast: how far the box's darkest few percent fall under its middle, (p60 - p3) / p60
  (a lash line stays dark even in a blink; a hand's creases are a fifth darker than it at most).

It also measures how far each landmark lies inside the picture (`seen_share`): past the edge
MediaPipe guesses the face, and the trackers lean on the points it sees.
"""

from __future__ import annotations

import cv2
import numpy as np

from .topology import MESH_POINTS, contour

EDGE_MARGIN = 0.04   # x the face's size: MediaPipe's points this near the picture's edge are partly guessed
# For the outline of a face the edge cuts, further in by CUT_MARGIN x the share of the face's points
# past the edge (`seen_share`'s cut_margin): MediaPipe places the outline of a face cut in half from
# the rest of it, even where the picture shows it (d18 panned half a frame: the chin 10 px inside
# the picture while 44 % of the face was out of it read 9 px lower than on the uncut clip, and the
# yawn it drove pushed a collar aside, background RMSE 0.022).
CUT_MARGIN = 0.15
MOUTH_POINTS = (61, 291, 0, 17, 13, 14)   # MediaPipe: mouth corners, upper and lower lip (outer, inner)
CHEEK_POINTS = (50, 280, 205, 425)
EYES = ("left_eye", "right_eye")
# An eye's box: EYE_BOX_WIDTH x its width across, and EYE_BOX_HEIGHT x its height (at least
# EYE_BOX_SHUT x its width: a shut eye's lash line and crease stay inside) up and down.
EYE_BOX_WIDTH, EYE_BOX_HEIGHT, EYE_BOX_SHUT = 0.6, 0.8, 0.35
DARK_PERCENTILE, MIDDLE_PERCENTILE = 3, 60


def face_visibility(frame: np.ndarray, points: np.ndarray) -> tuple[tuple[float, float], np.ndarray]:
    """What the RGB `frame` shows of the face at the landmarks `points` (N, 2+): the mouth's
    (detail, lip colour), and each eye's (EYES order) detail and dark contrast, (2, 2). NaN for
    landmarks that are not finite, and for an eye whose box the picture's edge cuts (the face
    stage's `seen_share` deals with those)."""
    points = np.asarray(points, np.float64)[:, :2]
    if not np.isfinite(points).all():
        return (float("nan"), float("nan")), np.full((len(EYES), 2), np.nan, np.float32)
    # the face box (and a margin) only: a 4K frame costs what its face does
    h, w = frame.shape[:2]
    x0, y0 = np.clip(np.floor(points.min(0)).astype(int) - 2, 0, (w - 1, h - 1))
    x1, y1 = np.clip(np.ceil(points.max(0)).astype(int) + 3, (x0 + 1, y0 + 1), (w, h))
    face = np.ascontiguousarray(frame[y0:y1, x0:x1])
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    magnitude = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    face_detail = max(_box_mean(magnitude, *(points.min(0) - (x0, y0)), *(points.max(0) - (x0, y0))), 1e-6)
    eyes = np.array([_eye(grey, magnitude, face_detail, points[list(contour(name))], (x0, y0), (h, w))
                     for name in EYES], np.float32)
    return _mouth(face, magnitude, face_detail, points - (x0, y0)), eyes


def _eye(grey: np.ndarray, magnitude: np.ndarray, face_detail: float, eye: np.ndarray,
         origin: tuple[int, int], picture: tuple[int, int]) -> tuple[float, float]:
    """(detail, dark contrast) of one eye at its contour points `eye` (picture pixels) in the face
    box's `grey` and gradient `magnitude` (the box starts at `origin` of a picture `picture` (h, w)
    in size); NaN where the eye's box is not wholly in the picture."""
    (ex0, ey0), (ex1, ey1) = eye.min(0), eye.max(0)
    cx, cy = (ex0 + ex1) / 2, (ey0 + ey1) / 2
    half_w = (ex1 - ex0) * EYE_BOX_WIDTH
    half_h = max(ey1 - ey0, (ex1 - ex0) * EYE_BOX_SHUT) * EYE_BOX_HEIGHT
    h, w = picture
    if cx - half_w < 0 or cy - half_h < 0 or cx + half_w > w or cy + half_h > h or half_w < 1:
        return float("nan"), float("nan")
    box = (cx - half_w - origin[0], cy - half_h - origin[1], cx + half_w - origin[0], cy + half_h - origin[1])
    shown = _box(grey, *box).astype(np.float32)
    if not shown.size:
        return float("nan"), float("nan")
    dark, middle = np.percentile(shown, (DARK_PERCENTILE, MIDDLE_PERCENTILE))
    return _box_mean(magnitude, *box) / face_detail, float((middle - dark) / max(middle, 1.0))


def _mouth(face: np.ndarray, magnitude: np.ndarray, face_detail: float, points: np.ndarray) -> tuple[float, float]:
    """(detail, lip colour) of the mouth in the face box `face` (RGB) and its gradient `magnitude`,
    at `points` in the box's pixels."""
    mouth = points[list(MOUTH_POINTS)]
    (mx0, my0), (mx1, my1) = mouth.min(0), mouth.max(0)
    cx, cy = (mx0 + mx1) / 2, (my0 + my1) / 2
    half_w, half_h = (mx1 - mx0) * 0.65, max(my1 - my0, (mx1 - mx0) * 0.4) * 0.65
    detail = _box_mean(magnitude, cx - half_w, cy - half_h, cx + half_w, cy + half_h) / face_detail
    # chroma over the lips and the cheek points only (the lower middle of the face box)
    r = max(2, int(0.04 * np.ptp(points[:, 0])))
    near = points[list(contour("lips_outer")) + list(CHEEK_POINTS)]
    cx0, cy0 = np.clip(np.floor(near.min(0)).astype(int) - r, 0, None)
    cx1, cy1 = np.ceil(near.max(0)).astype(int) + r + 1
    rgb = face[cy0:cy1, cx0:cx1].astype(np.float32)
    chroma = (rgb[..., 0] - rgb[..., 1]) / (rgb[..., 0] + rgb[..., 1] + rgb[..., 2] + 1.0)
    local = points - (cx0, cy0)
    mask = np.zeros(chroma.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(local[list(contour("lips_outer"))]).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(local[list(contour("lips_inner"))]).astype(np.int32)], 0)
    cheeks = np.concatenate([_patch(chroma, local[i], r).ravel() for i in CHEEK_POINTS])
    lips = float(np.median(chroma[mask > 0]) - np.median(cheeks)) if mask.any() and cheeks.size else float("nan")
    return float(detail), lips


def _patch(image: np.ndarray, centre: np.ndarray, r: int) -> np.ndarray:
    x, y = int(round(centre[0])), int(round(centre[1]))
    return image[max(y - r, 0):y + r, max(x - r, 0):x + r]


def _box(image: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    h, w = image.shape[:2]
    xa, xb = int(np.clip(x0, 0, w - 1)), int(np.clip(np.ceil(x1), 1, w))
    ya, yb = int(np.clip(y0, 0, h - 1)), int(np.clip(np.ceil(y1), 1, h))
    return image[ya:max(yb, ya + 1), xa:max(xb, xa + 1)]


def _box_mean(image: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> float:
    part = _box(image, x0, y0, x1, y1)
    return float(part.mean()) if part.size else 0.0


def seen_share(landmarks: np.ndarray, image_size: tuple[int, int], cut_margin: float = 0.0) -> np.ndarray:
    """(T, N) float32: how far each frame-pixel landmark lies inside the picture (`image_size`
    (h, w)): 1 from EDGE_MARGIN of the face's size in (and `cut_margin` x the share of the face's
    points past the edge: CUT_MARGIN), falling to 0 at the edge and past it (and in a frame
    without a face). For a face the frame's edge cuts (a pan, a head at the border)
    MediaPipe guesses the points it cannot see, and its guesses follow the expression poorly
    (d0-pan's grin 10 % narrower than d0's)."""
    h, w = image_size
    xy = np.asarray(landmarks, np.float32)[..., :2]
    size = np.nan_to_num(np.ptp(xy[:, :MESH_POINTS], axis=1).max(-1), nan=1.0)[:, None]
    inside = np.nan_to_num(np.minimum(np.minimum(xy[..., 0], w - xy[..., 0]), np.minimum(xy[..., 1], h - xy[..., 1])),
                           nan=0.0)
    out = (inside[:, :MESH_POINTS] < 0).mean(1, keepdims=True)
    margin = (EDGE_MARGIN + cut_margin * out) * np.maximum(size, 1.0)
    return np.clip(inside / margin, 0.0, 1.0)


def in_picture(seen: np.ndarray) -> np.ndarray:
    """(T,) float32: the mean of each frame's face-mesh points' `seen` (T, N >= MESH_POINTS)
    seen_share, 1 for a face wholly in the picture."""
    return np.asarray(seen)[:, :MESH_POINTS].mean(1).astype(np.float32)
