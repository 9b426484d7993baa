"""Eyes behind dark lenses (warp_shades): the lenses stay rigid through a blink and a brow raise."""

import cv2
import numpy as np
import pytest

from reenact.faces import detect_faces
from reenact.faces.topology import contour
from reenact.generate.warp import WarpEngine
from reenact.generate.warp_shades import glasses_points, lens_points

UPPER_LIDS = {"right_eye": (246, 161, 160, 159, 158, 157, 173), "left_eye": (466, 388, 387, 386, 385, 384, 398)}
LOWER_LIDS = {"right_eye": (7, 163, 144, 145, 153, 154, 155), "left_eye": (249, 390, 373, 374, 380, 381, 382)}
BROWS = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
BEYOND_LENSES = (10, 151, 9, 8, 1, 4, 50, 280, 61, 291, 152)   # forehead, nose, cheeks, mouth, chin


def with_sunglasses(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Two near-black oval lenses over the eyes, with black rims, a bridge and a highlight each."""
    out = image.copy()
    for a, b in ((33, 133), (362, 263)):
        width = float(np.linalg.norm(pts[a, :2] - pts[b, :2]))
        centre = tuple(np.round((pts[a, :2] + pts[b, :2]) / 2 + (0, 0.05 * width)).astype(int))
        axes = (int(0.8 * width), int(0.5 * width))
        cv2.ellipse(out, centre, axes, 0, 0, 360, (25, 25, 30), -1, cv2.LINE_AA)
        cv2.ellipse(out, centre, axes, 0, 0, 360, (10, 10, 10), 3, cv2.LINE_AA)
        cv2.ellipse(out, (centre[0] - int(0.3 * width), centre[1] - int(0.25 * width)),
                    (int(0.25 * width), int(0.08 * width)), -20, 0, 360, (90, 90, 100), -1, cv2.LINE_AA)
    cv2.line(out, tuple(np.round(pts[133, :2]).astype(int)), tuple(np.round(pts[362, :2]).astype(int)), (10, 10, 10), 3)
    return out


@pytest.fixture(scope="module")
def large(astronaut):
    """The portrait at twice its size: its eyes 50 px wide, as in a phone's selfie."""
    image = cv2.resize(astronaut, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    return image, detect_faces([image], video=False).landmarks[0]


@pytest.fixture(scope="module")
def shaded(large):
    image = with_sunglasses(*large)
    return image, detect_faces([image], video=False).landmarks[0]


def with_shaded_lenses(image: np.ndarray, pts: np.ndarray, bottoms: tuple[int, int]) -> np.ndarray:
    """Two oval lenses shaded from 15 levels at the top to `bottoms` (right eye's, left eye's) at the bottom."""
    out = image.copy()
    for (a, b), bottom in zip(((33, 133), (362, 263)), bottoms):
        width = float(np.linalg.norm(pts[a, :2] - pts[b, :2]))
        centre = tuple(np.round((pts[a, :2] + pts[b, :2]) / 2 + (0, 0.05 * width)).astype(int))
        mask = np.zeros(out.shape[:2], np.uint8)
        cv2.ellipse(mask, centre, (int(0.8 * width), int(0.5 * width)), 0, 0, 360, 1, -1)
        ys, xs = np.nonzero(mask)
        down = (ys - ys.min()) / max(np.ptp(ys), 1)
        out[ys, xs] = np.round(15 + (bottom - 15) * down)[:, None].astype(np.uint8)
    return out


def blink_and_raise(pts: np.ndarray, raise_px: float) -> np.ndarray:
    """Both upper lids brought down onto the lower ones, the brows raised by `raise_px`."""
    out = pts.copy()
    for eye in UPPER_LIDS:
        for upper, lower in zip(UPPER_LIDS[eye], LOWER_LIDS[eye]):
            out[upper, :2] = pts[lower, :2]
    out[list(BROWS), 1] -= raise_px
    return out


def lens_mask(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """The near-black pixels around the eyes (the picture's own dark background elsewhere left out)."""
    eyes = pts[list(contour("right_eye")) + list(contour("left_eye")), :2]
    (x0, y0), (x1, y1) = eyes.min(0), eyes.max(0)
    margin = 0.5 * (y1 - y0) + 0.25 * (x1 - x0)
    box = np.zeros(image.shape[:2], bool)
    box[int(y0 - margin):int(y1 + margin), int(x0 - margin):int(x1 + margin)] = True
    return (cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) < 40) & box


def test_lenses_are_found_on_sunglasses_and_not_on_bare_eyes_light_or_dark(large, shaded):
    image, pts = shaded
    found = lens_points(image, pts, 468)
    assert set(found) == {"right_eye", "left_eye"}
    for eye, held in found.items():
        assert set(contour(eye)) <= set(held.tolist())          # the whole eye opening is on the glass
        assert not set(BEYOND_LENSES) & set(held.tolist())      # the face beyond the rims is not
    # one rigid frame: the nose's bridge between the lenses is held with them, the nose's tip is not
    held = set(glasses_points(found, pts).tolist())
    assert {168, 6} <= held and 4 not in held
    bare_image, bare = large
    assert lens_points(bare_image, bare, 468) == {}
    # a dark skin: its lenses are no quarter as light as it, yet darker than 35 levels; its bare eyes are not
    dark_image = (bare_image * 0.4).astype(np.uint8)
    assert lens_points(dark_image, bare, 468) == {}
    assert set(lens_points(with_sunglasses(dark_image, bare), pts, 468)) == {"right_eye", "left_eye"}


def test_eyes_in_deep_shadow_are_no_lenses(large, monkeypatch):
    """Both eye regions darkened to a fifth (a portrait lit from above, a painting's shadowed
    sockets): as dark as a lens against the skin, but the opening shows the eye's own texture."""
    import reenact.generate.warp_shades as shades

    image, pts = large
    shade = np.zeros(image.shape[:2], np.float32)
    for a, b in ((33, 133), (362, 263)):
        width = float(np.linalg.norm(pts[a, :2] - pts[b, :2]))
        centre = tuple(np.round((pts[a, :2] + pts[b, :2]) / 2).astype(int))
        cv2.ellipse(shade, centre, (int(0.9 * width), int(0.6 * width)), 0, 0, 360, 1.0, -1)
    shade = cv2.GaussianBlur(shade, (0, 0), 5)
    shadowed = np.clip(image * (1 - 0.8 * shade)[..., None], 0, 255).astype(np.uint8)
    found = detect_faces([shadowed], video=False).landmarks[0]
    assert lens_points(shadowed, found, 468) == {}
    monkeypatch.setattr(shades, "LENS_FLAT", 10.0)                 # darkness alone would take them
    assert set(lens_points(shadowed, found, 468)) == {"right_eye", "left_eye"}


def test_a_lens_shaded_lighter_below_is_found_with_its_pair(large, monkeypatch):
    """The left lens, shaded to 130 levels at its bottom, reads 0.26 of the skin alone (over
    LENS_DARK); beside the right one (to 90: 0.20) it is found, the pair being glasses."""
    import reenact.generate.warp_shades as shades

    image = with_shaded_lenses(*large, bottoms=(90, 130))
    pts = detect_faces([image], video=False).landmarks[0]
    assert set(lens_points(image, pts, 468)) == {"right_eye", "left_eye"}
    monkeypatch.setattr(shades, "PARTNER_EASED", 1.0)
    assert set(lens_points(image, pts, 468)) == {"right_eye"}


def test_a_blink_and_a_brow_raise_leave_the_lenses_as_they_are(shaded, monkeypatch):
    image, pts = shaded
    target = blink_and_raise(pts, raise_px=6.0)
    out = WarpEngine(image, pts).render(target)
    before, after = lens_mask(image, pts), lens_mask(out, pts)
    iou = (before & after).sum() / (before | after).sum()
    assert iou > 0.98
    # the skin above the rims still rises with the brows
    brow_band = np.zeros(image.shape[:2], bool)
    ys = pts[list(BROWS), 1]
    brow_band[int(ys.min()) - 4:int(ys.max()) + 4, int(pts[list(BROWS), 0].min()):int(pts[list(BROWS), 0].max())] = True
    assert np.abs(out.astype(int) - image)[brow_band & ~before].mean() > 2.0
    # without the lenses held, the same target dents them
    import reenact.generate.warp as warp

    monkeypatch.setattr(warp, "lens_points", lambda *args: {})
    bent = lens_mask(WarpEngine(image, pts).render(target), pts)
    assert (before & bent).sum() / (before | bent).sum() < 0.95


def test_the_lenses_turn_with_the_head(shaded):
    """A head turned as a whole carries the lenses with it: the mask moves as the landmarks do."""
    image, pts = shaded
    angle = np.radians(5.0)
    centre = pts[:468, :2].mean(0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = pts.copy()
    target[:, :2] = (pts[:, :2] - centre) @ rot.T + centre
    out = WarpEngine(image, pts).render(target)
    m = np.c_[rot, centre - rot @ centre]
    expected = lens_mask(cv2.warpAffine(image, m, image.shape[1::-1]), target)
    got = lens_mask(out, target)
    assert (expected & got).sum() / (expected | got).sum() > 0.95
