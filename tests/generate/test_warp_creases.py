"""Folds that open are drawn without their shadow (warp_creases.py)."""

import cv2
import numpy as np
import pytest

from reenact.faces import detect_faces
from reenact.generate.warp import WarpEngine
from reenact.generate.warp_creases import OpenedCreases, largest_stretch

SKIN, LIP, CREASE = (200, 150, 130), (175, 60, 75), (110, 70, 60)
UPPER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LOWER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
UPPER_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
# the lips' rings between their outer and inner contours, corners left out
UPPER_MIDDLE = [184, 74, 73, 72, 11, 302, 303, 304, 408, 183, 42, 41, 38, 12, 268, 271, 272, 407]
LOWER_MIDDLE = [77, 90, 180, 85, 16, 315, 404, 320, 307, 96, 89, 179, 86, 15, 316, 403, 319, 325]
CORNERS = [61, 76, 62, 78, 291, 306, 292, 308]


def test_the_stretch_is_the_longest_a_triangle_draws_any_direction_of_the_source():
    def backward(m):   # target -> source affine of the forward linear map m
        return np.c_[np.linalg.inv(m), np.zeros(2)][None]

    turn = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    assert largest_stretch(backward(np.eye(2)))[0] == pytest.approx(1.0)
    assert largest_stretch(backward(np.diag([1.0, 8.0])))[0] == pytest.approx(8.0)
    assert largest_stretch(backward(turn @ np.diag([0.5, 8.0]) @ turn.T))[0] == pytest.approx(8.0)
    assert largest_stretch(backward(np.diag([0.25, 0.5])))[0] == pytest.approx(0.5)    # squeezed: under 1


ENLARGE = 3   # the astronaut's mouth is 35 px wide: her landmarks three times as far apart


@pytest.fixture(scope="module")
def creased(astronaut):
    """A flat face on the astronaut's landmarks, enlarged: skin, red lips meeting in a line, and a
    dark commissure shadow 3 px wide running out from each corner, as a closed mouth's corner folds."""
    points = ENLARGE * detect_faces([astronaut], video=False).landmarks[0].astype(np.float64)
    points[UPPER_INNER, 1] = points[LOWER_INNER, 1] = (points[UPPER_INNER, 1] + points[LOWER_INNER, 1]) / 2
    image = np.zeros((512 * ENLARGE, 512 * ENLARGE, 3), np.uint8)
    image[:] = SKIN
    for outer, inner in ((UPPER, UPPER_INNER), (LOWER, LOWER_INNER)):
        lip = np.r_[points[outer, :2], points[inner[::-1], :2]]
        cv2.fillPoly(image, [np.round(lip * 16).astype(np.int32)], LIP, lineType=cv2.LINE_AA, shift=4)
    for corner, outside in ((61, 57), (291, 287)):
        end = points[corner, :2] + 1.5 * (points[outside, :2] - points[corner, :2])
        cv2.line(image, tuple(np.round(points[corner, :2] * 16).astype(int)), tuple(np.round(end * 16).astype(int)),
                 CREASE, 3, lineType=cv2.LINE_AA, shift=4)
    return image, points


def _yawn(points: np.ndarray) -> np.ndarray:
    """An O, in shares of the mouth's width: the upper lip raised 0.1, the lower lip and chin
    dropped 0.25, the corners drawn in 0.08 and down 0.05, below the line from the cheek point
    beside them (raised 0.08) to the upper lip's edge: as MediaPipe reads a yawn."""
    out = points.copy()
    width = float(np.linalg.norm(points[61, :2] - points[291, :2]))
    mid = points[[61, 291], 0].mean()
    out[UPPER[1:-1] + UPPER_INNER[1:-1] + UPPER_MIDDLE, 1] -= 0.1 * width
    out[LOWER[1:-1] + LOWER_INNER[1:-1] + LOWER_MIDDLE + [152, 175, 199, 200, 18], 1] += 0.25 * width
    for corner in CORNERS:
        out[corner, 0] += 0.08 * width * np.sign(mid - points[corner, 0])
        out[corner, 1] += 0.05 * width
    out[[57, 287], 1] -= 0.08 * width
    return out


def _beside_corners(points: np.ndarray, shape) -> np.ndarray:
    """The target triangles between each corner, the cheek point beside it and the upper lip's edge."""
    mask = np.zeros(shape[:2], np.uint8)
    for tri in ((61, 185, 57), (291, 409, 287)):
        cv2.fillConvexPoly(mask, np.round(points[list(tri), :2]).astype(np.int32), 1)
    return mask > 0


def test_a_closed_mouths_corner_fold_opens_into_skin_not_its_shadow_spread(creased):
    image, points = creased
    engine = WarpEngine(image, points)
    target = _yawn(points)
    beside = _beside_corners(target, image.shape)
    assert beside.sum() > 60

    drawn = engine.render(target)
    # the 3 px shadow stretched across the whole triangle: it would be as dark as the crease there
    engine.creases.weight = lambda *args: None
    spread = engine.render(target)
    level = lambda img: img[beside].astype(float).mean(0)
    assert level(spread)[0] < SKIN[0] - 30            # the old drawing: a brown smudge beside each corner
    assert np.abs(level(drawn) - SKIN).max() < 12     # now: the skin around it
    # at rest nothing moves: the fold and everything else stay the source's, bit for bit
    assert np.array_equal(WarpEngine(image, points).render(points), image)


def test_a_fold_that_barely_stretches_keeps_its_own_picture():
    source = np.full((40, 40, 3), 200, np.uint8)
    source[19:21] = 60                                 # a dark line 2 px thick
    creases = OpenedCreases(source, (0, 0, 40, 40), mouth_width=60.0)
    lengthen = lambda k: np.array([[[1.0, 0.0, 0.0], [0.0, 1.0 / k, 20.0 * (1 - 1.0 / k)]]])
    dst = np.array([[5.0, 10.0], [35.0, 10.0], [20.0, 30.0]])
    assert creases.weight(lengthen(3.0), dst, np.array([[0, 1, 2]])) is None
    weight = creases.weight(lengthen(10.0), dst, np.array([[0, 1, 2]]))
    assert weight[18, 20] == pytest.approx(1.0, abs=0.02) and weight[2, 2] == 0.0
    # drawn from the line's 10 times stretched middle, the triangle is skin, not the line
    ys, xs = np.mgrid[:40, :40].astype(np.float32)
    map_y = (20.0 + (ys - 20.0) / 10.0).astype(np.float32)
    region = cv2.remap(source, xs, map_y, cv2.INTER_LINEAR)
    assert region[20, 20, 0] < 100
    creases.draw(region, weight, xs, map_y)
    assert region[20, 20, 0] > 190
