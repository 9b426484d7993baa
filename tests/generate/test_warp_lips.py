"""An open-mouthed source's lips, sampled to their visible edges (warp_lips.py)."""

import cv2
import numpy as np
import pytest

from reenact.faces import detect_faces
from reenact.faces.topology import contour
from reenact.generate.warp import WarpEngine
from reenact.generate.warp_lips import LOWER_LIP, inner_lip_shift, lower_lip_shift

SKIN, LIP, CAVITY = (200, 150, 130), (175, 60, 75), (40, 20, 20)
PAST_CONTOUR = 6      # px of red below the lower lip's contour, as MediaPipe reads a stretched lip
UPPER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
UPPER_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]


@pytest.fixture(scope="module")
def closed(astronaut):
    return detect_faces([astronaut], video=False).landmarks[0].astype(np.float64)


def _open(points: np.ndarray, drop: float = 24.0) -> np.ndarray:
    """The lower lip dropped by half of `drop` px and the chin by all of it; the chin points just
    under the lip's middle bunched onto its contour, as MediaPipe puts them under a stretched lip."""
    out = points.copy()
    y, (top, lip, chin) = points[:, 1], points[[13, 17, 152], 1]
    weight = 0.5 * np.clip((y - top) / (lip - top), 0, 1) + 0.5 * np.clip((y - lip) / (chin - lip), 0, 1)
    weight[LOWER_INNER[1:-1]] = 0.5
    weight[[61, 291, 78, 308]] = 0.25
    out[:, 1] += drop * weight
    out[18, :2] = out[17, :2] + (0.0, 0.6)
    out[200, :2] = out[17, :2] + (0.0, 2.0)
    return out


def _painted(points: np.ndarray, grey: bool = False, opening_past: int = 0) -> np.ndarray:
    """A flat face: skin, red lips whose lower one reaches PAST_CONTOUR px below its contour, a dark
    opening between them that reaches `opening_past` px past the inner contour into the lips."""
    image = np.zeros((512, 512, 3), np.uint8)
    image[:] = SKIN
    lower = np.r_[points[[61, *LOWER_LIP, 291], :2] + (0, PAST_CONTOUR), points[LOWER_INNER[::-1], :2]]
    upper = np.r_[points[UPPER, :2], points[UPPER_INNER[::-1], :2]]
    for poly, colour in ((lower, LIP), (upper, LIP), (points[list(contour("lips_inner")), :2], CAVITY)):
        cv2.fillPoly(image, [np.round(poly * 16).astype(np.int32)], colour, lineType=cv2.LINE_AA, shift=4)
    if opening_past:     # each inner-lip point moved out of the opening, across its contour
        loop = points[list(contour("lips_inner")), :2]
        tangent = np.roll(loop, -1, axis=0) - np.roll(loop, 1, axis=0)
        normal = np.stack([tangent[:, 1], -tangent[:, 0]], 1) / np.linalg.norm(tangent, axis=1)[:, None]
        normal *= np.sign(((loop - loop.mean(0)) * normal).sum(1, keepdims=True))
        cv2.fillPoly(image, [np.round((loop + opening_past * normal) * 16).astype(np.int32)], CAVITY,
                     lineType=cv2.LINE_AA, shift=4)
    if grey:
        image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return image


def _red_under_lip(image: np.ndarray, points: np.ndarray) -> float:
    """Share of the pixels 3-14 px below the lower lip's middle third that are lip-red."""
    mask = np.zeros(image.shape[:2], np.uint8)
    middle = points[[84, 17, 314], :2]
    band = np.r_[middle + (0, 3), middle[::-1] + (0, 14)]
    cv2.fillPoly(mask, [np.round(band).astype(np.int32)], 1)
    red = image[..., 0].astype(int) - image[..., 1] > 90
    return float(red[mask > 0].mean())


def test_the_lower_lip_is_sampled_to_its_red_edge_and_the_chin_points_spread(closed):
    source = _open(closed)
    shift = lower_lip_shift(_painted(source), source)
    assert shift[17, 1] == pytest.approx(PAST_CONTOUR, abs=1.0)
    assert np.linalg.norm(shift[[84, 314]], axis=1).min() > PAST_CONTOUR - 2
    # the chin points under the lip lie below its new edge again, in the order they had
    column = source[[17, 18, 200, 199, 175, 152], 1] + shift[[17, 18, 200, 199, 175, 152], 1]
    assert (np.diff(column) > 1.5).all(), column
    # no red to tell the lip's edge by: the contour stays, the bunched points still spread
    grey = lower_lip_shift(_painted(source, grey=True), source)
    assert np.abs(grey[list(LOWER_LIP)]).max() == 0
    assert grey[18, 1] > 3


def test_closing_an_open_source_mouth_leaves_no_lip_red_down_the_chin(closed):
    source = _open(closed)
    image = _painted(source)
    engine = WarpEngine(image, source)
    assert engine.source_mouth_open and engine.lip_shift.any()
    # at the source's own points the picture comes back unchanged
    assert np.array_equal(engine.render(source), image)
    fixed = _red_under_lip(engine.render(closed), closed)
    engine.lip_shift[:] = 0.0     # sampled at MediaPipe's contour, as before
    smeared = _red_under_lip(engine.render(closed), closed)
    assert smeared > 0.3 and fixed < 0.05, (smeared, fixed)


def test_a_closed_source_mouth_is_sampled_where_mediapipe_puts_it(closed):
    shut = closed.copy()
    shut[LOWER_INNER] = shut[UPPER_INNER]
    engine = WarpEngine(_painted(shut), shut)
    assert not engine.source_mouth_open and not engine.lip_shift.any()


INSIDE = 3    # px the opening reaches past MediaPipe's inner contour (d18's yawn: 1-3)


def _shut(points: np.ndarray, fuller: float = 6.0) -> np.ndarray:
    """The astronaut's mouth (she smiles, lips 3-7 px apart) shut, the lower lip's inner contour on
    the upper's, and both lips `fuller` px fuller at their outer contours (her upper lip is 3 px
    thick, too thin to hold an opening reaching INSIDE px into it)."""
    out = points.copy()
    out[LOWER_INNER] = out[UPPER_INNER]
    out[UPPER[1:-1], 1] -= fuller
    out[[*LOWER_LIP], 1] += fuller
    return out


def _yawning(shut: np.ndarray, drop: float = 14.0) -> np.ndarray:
    """`shut` with everything under the lips' line between the mouth's corners (the lower lip whole,
    its rings in their order, the chin) dropped by `drop` px."""
    out = shut.copy()
    x, y = shut[:, 0], shut[:, 1]
    line = np.interp(x, *shut[UPPER_INNER][np.argsort(shut[UPPER_INNER, 0])].T[:2])
    left, right = shut[[61, 291], 0]
    below = (y > line - 0.25) & (x > left) & (x < right)      # the lower lip's inner contour lies on the line
    below[UPPER_INNER] = False
    out[below, 1] += drop
    return out


def test_the_inner_lips_are_sampled_where_their_colour_begins(closed):
    source = _yawning(_shut(closed))
    shift = inner_lip_shift(_painted(source, opening_past=INSIDE), source)
    middle_upper, middle_lower = [82, 13, 312], [87, 14, 317]
    # out of the opening, onto each lip: the upper lip's points up, the lower lip's down
    assert (shift[middle_upper, 1] < -1.0).all() and (shift[middle_lower, 1] > 1.0).all(), shift[middle_upper + middle_lower]
    assert np.linalg.norm(shift[middle_upper + middle_lower], axis=1) == pytest.approx(INSIDE, abs=1.0)
    # a contour on the lip's edge already stays within the pixel the edge is drawn in
    assert np.abs(inner_lip_shift(_painted(source), source)[middle_upper + middle_lower]).max() <= 1.0


def _dark_between_lips(image: np.ndarray, points: np.ndarray) -> float:
    """Share of the pixels along the line where the shut lips meet (the inner contours' middle, grown
    by 1 px) that are as dark as the opening."""
    line = np.r_[points[[80, 81, 82, 13, 312, 311, 310], :2], points[[318, 402, 317, 14, 87, 178, 88], :2]]
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(line).astype(np.int32)], 1)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    return float((image[..., 0][mask > 0] < 110).mean())


def test_closing_an_open_mouth_meets_lip_to_lip_not_on_its_dark(closed):
    source = _yawning(_shut(closed))
    image = _painted(source, opening_past=INSIDE)
    engine = WarpEngine(image, source)
    assert np.array_equal(engine.render(source), image)   # the source's own points: its own picture
    shut = _shut(closed)
    fixed = _dark_between_lips(engine.render(shut), shut)
    engine.lip_shift[:] = lower_lip_shift(image, source)   # the inner lips sampled at their contour, as before
    before = _dark_between_lips(engine.render(shut), shut)
    assert before > 0.5 and fixed < 0.1, (before, fixed)
