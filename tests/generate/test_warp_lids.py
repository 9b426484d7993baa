"""Upper lids closing over the eye: the lash line keeps its thickness, the lid above it stretches."""

import warnings

import cv2
import numpy as np
import pytest

from reenact.faces import detect_faces
from reenact.faces.topology import contour
from reenact.generate.warp import WarpEngine
from reenact.generate.warp_lids import UPPER_LIDS, lash_thickness

LASH_PX = 5.0


@pytest.fixture(scope="module")
def lined_eyes(astronaut):
    """The astronaut's face at twice her size, repainted: flat skin with a little grain, white eye
    openings with a dark iris, and along each upper lid's margin a black lash line LASH_PX thick
    (towards the crease), a heavy eyeliner on a light lid."""
    image = cv2.resize(astronaut, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    pts = detect_faces([image], video=False).landmarks[0].astype(np.float64)
    painted = np.full(image.shape, (205.0, 160.0, 140.0))
    for margin_ids, crease_ids, _ in UPPER_LIDS:
        margin, crease = pts[list(margin_ids), :2], pts[list(crease_ids), :2]
        up = (crease - margin) / np.linalg.norm(crease - margin, axis=1, keepdims=True)
        line = np.concatenate([margin, (margin + LASH_PX * up)[::-1]])
        cv2.fillPoly(painted, [np.round(line * 16).astype(np.int32)], (25.0, 20.0, 20.0), shift=4)
    for eye in ("right_eye", "left_eye"):
        cv2.fillPoly(painted, [np.round(pts[list(contour(eye)), :2] * 16).astype(np.int32)], (235.0, 235.0, 230.0),
                     shift=4)
    for centre in (468, 473):
        cv2.circle(painted, tuple(np.round(pts[centre, :2]).astype(int)), 8, (70.0, 50.0, 40.0), -1)
    painted += 3.0 * np.random.default_rng(0).standard_normal(painted.shape[:2])[..., None]
    return np.clip(painted + 0.5, 0, 255).astype(np.uint8), pts


def _blink(points: np.ndarray) -> np.ndarray:
    """Both eyes shut: every lid and iris point on the line between its eye's corners, the upper
    lid's crease 40 % of the way down with its margin, the row under the brow still."""
    from reenact.faces.topology import contour

    out = points.copy()
    for (margin, crease, _), eye, iris in zip(UPPER_LIDS, ("right_eye", "left_eye"), (468, 473)):
        a, b = points[margin[0], :2], points[margin[-1], :2]
        across = (b - a) / np.linalg.norm(b - a)
        ring = list(contour(eye)) + list(range(iris, iris + 5))
        out[ring, :2] = a + ((points[ring, :2] - a) @ across)[:, None] * across
        out[list(crease), :2] += 0.4 * (out[list(margin), :2] - points[list(margin), :2])
    return out


def _dark_run(image: np.ndarray, points: np.ndarray, margin: int, crease: int) -> int:
    """Dark pixels (under 110 grey) walking up from just above `margin`'s point towards `crease`'s,
    until the first light one."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    start, end = points[margin, :2], points[crease, :2]
    step = (end - start) / np.linalg.norm(end - start)
    run = 0
    for k in range(1, 40):
        x, y = np.round(start + k * step).astype(int)
        if grey[y, x] >= 110:
            break
        run += 1
    return run


def test_the_lash_line_is_measured_on_the_source(lined_eyes):
    image, pts = lined_eyes
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    for rows in UPPER_LIDS:
        assert abs(lash_thickness(grey, pts, np.array(rows)) - LASH_PX) < 1.5
    flat = np.full_like(grey, 180.0)           # a lid with no dark edge has none
    assert lash_thickness(flat, pts, np.array(UPPER_LIDS[0])) == 0.0


def test_a_lid_a_pixel_tall_measures_without_warnings(lined_eyes):
    image, pts = lined_eyes
    tiny = pts.copy()           # a face 64 px across: every lid row within a pixel of the next
    tiny[:, :2] = pts[:, :2].mean(0) + 0.02 * (pts[:, :2] - pts[:, :2].mean(0))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # the skin above the crease: no empty median
        thickness = lash_thickness(grey, tiny, np.array(UPPER_LIDS[0]))
    assert np.isfinite(thickness) and thickness >= 0.0


def test_a_blink_carries_the_lash_line_at_its_own_thickness_and_stretches_the_lid(lined_eyes):
    image, pts = lined_eyes
    engine = WarpEngine(image, pts)
    shut = _blink(pts)
    closed = engine.render(shut)
    engine.lids.lids = []                      # the plain warp: the band above the margin stretched alike
    stretched = engine.render(shut)
    for margin, crease in ((159, 27), (386, 257)):
        source_run = _dark_run(image, pts, margin, crease)
        assert abs(source_run - LASH_PX) <= 1
        # the lid came down ~2.3x its lash band: stretched with it, the line grew as much
        assert _dark_run(stretched, shut, margin, crease) >= 1.7 * source_run
        # carried, it keeps its thickness; only its soft top edge is stretched with the lid
        assert source_run <= _dark_run(closed, shut, margin, crease) <= source_run + 2
        assert _dark_run(closed, shut, margin, crease) <= _dark_run(stretched, shut, margin, crease) - 3
    # only the lids changed (and their edge, by the detail band's neighbours): elsewhere the plain warp
    lids = np.zeros(image.shape[:2], bool)
    for rows in UPPER_LIDS:
        ring = np.concatenate([shut[list(rows[0]), :2], shut[list(rows[2]), :2][::-1]])
        lid = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(lid, [np.round(ring).astype(np.int32)], 1)
        lids |= cv2.dilate(lid, np.ones((9, 9), np.uint8)) > 0     # the detail band reads 1-2 px around
    assert np.array_equal(closed[~lids], stretched[~lids])


def test_a_lid_no_taller_than_in_the_source_is_the_plain_warp(lined_eyes):
    image, pts = lined_eyes
    engine = WarpEngine(image, pts)
    wide = pts.copy()
    for margin, _, _ in UPPER_LIDS:                 # eyes opened wider: the lids' bands shorter
        wide[list(margin[1:-1]), 1] -= 2.0
    opened = engine.render(wide)
    engine.lids.lids = []
    assert np.array_equal(opened, engine.render(wide))
