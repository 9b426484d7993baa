"""The drawn mouth interior laid out as the driving frame shows its own mouth (warp_mouth.py)."""

import cv2
import numpy as np
import pytest

from reenact.faces import detect_faces
from reenact.faces.topology import INNER_LIP_PAIRS, contour
from reenact.generate.base import DrivingView
from reenact.generate.warp import WarpEngine, WarpOptions, _driving_mouths
from reenact.generate.warp_mouth import MIN_DRIVING_MOUTH, driving_mouth_seen, resharpened

INNER = list(contour("lips_inner"))


@pytest.fixture(scope="module")
def portrait(astronaut):
    return astronaut, detect_faces([astronaut], video=False).landmarks[0]


def _opened(points: np.ndarray, amount: float = 24.0) -> np.ndarray:
    """Landmarks with the jaw dropped by up to `amount` px and the lower lip by half of it."""
    out = points.copy()
    top, chin = points[13, 1], points[152, 1]
    weight = np.clip((points[:, 1] - top) / (chin - top), 0, 1)
    weight[[v for _, v in INNER_LIP_PAIRS]] = 0.5
    out[:, 1] += amount * weight
    return out


def _halves(target: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower halves of the target's mouth opening, a pixel in from its edge."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(target[INNER, :2]).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0
    middle = target[INNER, 1].mean()
    rows = np.arange(shape[0])[:, None]
    return mask & (rows < middle - 1), mask & (rows > middle + 1)


def _driving_frame(image: np.ndarray, target: np.ndarray, upper, lower) -> np.ndarray:
    """The source picture with the target's mouth opening painted: `upper` over `lower` colours."""
    frame = image.copy()
    top, bottom = _halves(target, image.shape[:2])
    frame[top], frame[bottom] = upper, lower
    return frame


def test_teeth_and_cavity_lie_where_the_driving_frame_shows_them(portrait):
    image, pts = portrait
    engine = WarpEngine(image, pts, WarpOptions(mouth_interior="drawn"))
    target = _opened(pts)
    top, bottom = _halves(target, image.shape[:2])
    assert top.sum() > 30 and bottom.sum() > 30
    lum = lambda img: img.astype(float) @ np.array([0.299, 0.587, 0.114])   # noqa: E731
    white, dark = (245, 245, 245), (15, 10, 10)
    teeth_up = lum(engine.render(target, (_driving_frame(image, target, white, dark), target)))
    teeth_down = lum(engine.render(target, (_driving_frame(image, target, dark, white), target)))
    # teeth above, a dark cavity below, as the driving frame shows them; and the other way round
    assert teeth_up[top].mean() > teeth_up[bottom].mean() + 80
    assert teeth_down[bottom].mean() > teeth_down[top].mean() + 80
    # lit like the source's teeth (the driving's white is 1.4x its skin; the source's teeth colour
    # is the ramp's knot near its own skin's lightness), never pure black
    skin = lum(engine.mouth.colours["skin"])
    assert 0.8 * skin < np.median(teeth_up[top]) <= 255
    assert teeth_up[bottom].min() >= 7.5
    # without a driving frame the interior is drawn, as before
    drawn = lum(engine.render(target))
    assert not np.allclose(drawn[top | bottom], teeth_down[top | bottom], atol=20)


def test_a_lit_tongue_is_tongue_coloured_and_teeth_as_light_stay_teeth(portrait):
    """d6 sticks its tongue out, lit as brightly as the skin: by lightness alone it came out the
    teeth's grey. Redder than the driving's skin is tongue; as light but not redder, teeth."""
    image, pts = portrait
    engine = WarpEngine(image, pts, WarpOptions(mouth_interior="drawn"))
    target = _opened(pts, 48.0)       # a tongue stuck out: the mouth wide open
    top, bottom = _halves(target, image.shape[:2])
    skin = engine.mouth.colours["skin"]          # the driving frame is the same picture: its skin too
    grey = float(skin @ np.array([0.299, 0.587, 0.114]))
    tongue = np.clip(skin * 0.9 + np.array([25.0, -15.0, -10.0]), 0, 255)     # as light, redder
    teeth = np.full(3, grey * 0.95)
    drawn = engine.render(target, (_driving_frame(image, target, teeth, tongue), target)).astype(float)
    red = lambda px: float(np.median(px[:, 0] - px[:, 1]))      # noqa: E731
    colours = engine.mouth.colours
    assert red(drawn[bottom]) > red(drawn[top]) + 10
    # the lips' own wet inner side lies along the contour: there, as light, it stays on the ramp
    opening = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round(target[INNER, :2]).astype(np.int32)], 1)
    depth = cv2.distanceTransform(opening, cv2.DIST_L2, 3)
    width = np.ptp(target[INNER, 0])
    rim, deep = bottom & (depth < 0.06 * width), bottom & (depth > 0.15 * width)
    assert rim.sum() > 10 and deep.sum() > 10
    assert red(drawn[deep]) == pytest.approx(colours["tongue"][0] - colours["tongue"][1], rel=0.35)
    assert red(drawn[rim]) < red(drawn[deep]) - 10
    # a driving frame without colour tells nothing: both by lightness, as before
    flat = lambda c: np.full(3, float(c @ np.array([0.299, 0.587, 0.114])))    # noqa: E731
    frame = _driving_frame(image, target, flat(teeth), flat(tongue))
    frame = np.repeat(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None], 3, 2)
    grey_drawn = engine.render(target, (frame, target)).astype(float)
    assert abs(red(grey_drawn[bottom]) - red(grey_drawn[top])) < 4


def test_teeth_in_shade_stay_teeth_coloured(portrait):
    """The lines between a grin's teeth and its lower row under the upper lip are teeth in shade,
    lighter than a tongue's knot but not red: on the lightness ramp they went the tongue's dark red
    and the teeth read as fangs (s42 driven by d0). They take the teeth's colour at their lightness."""
    image, pts = portrait
    engine = WarpEngine(image, pts, WarpOptions(mouth_interior="drawn"))
    engine.mouth.colours["tongue"] = np.array([205.0, 70.0, 75.0])   # a painted red mouth's (s42's)
    engine.mouth.ramp = engine.mouth._lightness_ramp()
    target = _opened(pts)
    top, bottom = _halves(target, image.shape[:2])
    weights = np.array([0.299, 0.587, 0.114])
    skin = engine.mouth.colours["skin"]
    shade = np.full(3, 0.8 * float(skin @ weights))            # grey, at 0.8 of the skin's lightness
    drawn = engine.render(target, (_driving_frame(image, target, shade, (15, 10, 10)), target)).astype(float)
    teeth = engine.mouth.colours["teeth"]
    hue = lambda rgb: rgb / max(float(rgb @ weights), 1.0)       # noqa: E731
    got = np.median(drawn[top], 0)
    np.testing.assert_allclose(hue(got), hue(teeth), atol=0.04)
    assert float(got @ weights) == pytest.approx(0.8 * float(teeth @ weights), rel=0.08)


def test_a_mouth_the_frames_edge_cuts_is_laid_out_from_the_half_that_is_seen(portrait):
    """A pan pushed the driving's mouth half out of the picture: the edge pixel, repeated, striped
    the interior, or (the whole mouth required) it fell back to the drawn one, which read as less
    open than the seen half (s42 with d0-pan: jawOpen r 0.40 against the plain clip's face). The
    seen half, mirrored across the mouth's middle, now stands in for the other."""
    image, pts = portrait
    engine = WarpEngine(image, pts, WarpOptions(mouth_interior="drawn"))
    target = _opened(pts)
    top, bottom = _halves(target, image.shape[:2])
    # teeth on the left half only, a dark cavity everywhere else: what the right half shows is
    # either the left half's teeth mirrored or the cavity past the frame's edge, repeated
    frame = _driving_frame(image, target, (15, 10, 10), (15, 10, 10))
    left = np.arange(image.shape[1])[None, :] < target[13, 0]
    frame[top & left] = (245, 245, 245)
    edge = int(target[13, 0]) + 3                      # the picture ends just past the mouth's middle
    lum = lambda img: img.astype(float) @ np.array([0.299, 0.587, 0.114])   # noqa: E731
    out = lum(engine.render(target, (np.ascontiguousarray(frame[:, :edge]), target)))
    right = ~left & (np.arange(image.shape[1])[None, :] > edge + 2)
    assert (top & right).sum() > 20
    assert out[top & right].mean() > out[bottom & right].mean() + 80      # the teeth, mirrored
    assert abs(out[top & right].mean() - out[top & left].mean()) < 25


def test_a_cut_driving_mouth_is_mirrored_whole_and_in_line_with_its_seen_points(portrait):
    """The cut half is all mirror image, the strip the frame shows between the middle and the
    edge too (kept, it met its mirror image at the edge in a step: a tooth cut in two), and the
    frame's mouth is mapped onto the target's from the lip points the frame shows (MediaPipe's
    guesses past the edge, wider than the mouth, skewed the map)."""
    image, pts = portrait
    engine = WarpEngine(image, pts, WarpOptions(mouth_interior="drawn"))
    target = _opened(pts)
    top, _ = _halves(target, image.shape[:2])
    middle = float(target[13, 0])
    xs = np.arange(image.shape[1])[None, :]
    frame = _driving_frame(image, target, (15, 10, 10), (15, 10, 10))
    # the upper half lit in a ramp from the left corner to the middle; dark right of the middle
    left_corner = float(target[61, 0])
    ramp = np.clip(60 + 180 * (xs - left_corner) / (middle - left_corner), 60, 240) * np.ones((image.shape[0], 1))
    lit = top & (xs < middle)
    frame[lit] = ramp[lit][:, None].astype(np.uint8)
    edge = int(middle) + 12                                # the picture ends 12 px past the middle
    guessed = target.copy()
    past = guessed[:, 0] >= edge
    guessed[past, 0] += 0.3 * (guessed[past, 0] - edge)   # MediaPipe's guess: wider than the mouth
    lum = lambda img: img.astype(float) @ np.array([0.299, 0.587, 0.114])   # noqa: E731
    out = lum(engine.render(target, (np.ascontiguousarray(frame[:, :edge]), guessed)))
    rows, cols = np.nonzero(top)
    d = cols - middle
    pairs = [(r, c, int(round(middle - (c - middle)))) for r, c, dc in zip(rows, cols, d) if 2 <= dc <= 20]
    assert len(pairs) > 30
    right = np.array([out[r, c] for r, c, _ in pairs])
    mirror = np.array([out[r, c2] for r, _, c2 in pairs])
    assert np.abs(right - mirror).mean() < 12              # the middle's two sides alike
    assert right.mean() > 100                              # lit: the seen dark strip is not kept

    # the picture ends 6 px short of the middle, the teeth drawn as bars: mirrored across the edge,
    # the bars go on over the middle (mirrored across the middle, the strip there was past the
    # edge on both sides, and the edge column, repeated, drew a flat band)
    bars = _driving_frame(image, target, (15, 10, 10), (15, 10, 10))
    lit = top & (xs < middle) & ((xs // 3) % 2 == 0)
    bars[lit] = (240, 240, 240)
    edge = int(middle) - 6
    out = lum(engine.render(target, (np.ascontiguousarray(bars[:, :edge]), guessed)))
    band = top & (xs >= edge + 1) & (xs <= middle + 4)
    rows = [r for r in range(out.shape[0]) if band[r].sum() >= 8]
    assert len(rows) >= 3
    assert np.mean([out[r, band[r]].std() for r in rows]) > 20


def test_a_driving_mouth_the_bottom_edge_cuts_gets_the_drawn_interior(portrait):
    """No mirror across the mouth's middle shows what the bottom edge cuts off: the edge row,
    repeated, was a flat pale slab. The drawn interior stands in."""
    image, pts = portrait
    engine = WarpEngine(image, pts, WarpOptions(mouth_interior="drawn"))
    target = _opened(pts)
    top, bottom = _halves(target, image.shape[:2])
    frame = _driving_frame(image, target, (245, 245, 245), (15, 10, 10))
    edge = int(target[INNER, 1].mean())                  # the picture ends at the opening's middle row
    cut = engine.render(target, (np.ascontiguousarray(frame[:edge]), target))
    drawn = engine.render(target)
    np.testing.assert_array_equal(cut[top | bottom], drawn[top | bottom])


def test_a_greyscale_source_stays_grey_under_a_coloured_driving_mouth(portrait):
    image, pts = portrait
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    engine = WarpEngine(grey, pts, WarpOptions(mouth_interior="drawn"))
    target = _opened(pts)
    out = engine.render(target, (_driving_frame(image, target, (240, 60, 60), (40, 120, 40)), target))
    top, bottom = _halves(target, image.shape[:2])
    spread = np.ptp(out.astype(int), axis=-1)
    assert spread[top | bottom].max() <= 1
    assert np.abs(out.astype(int) - grey)[top | bottom].mean() > 20      # an interior was painted


def test_a_mouth_off_the_picture_or_too_small_is_not_seen(portrait):
    image, pts = portrait
    h, w = image.shape[:2]
    assert driving_mouth_seen((h, w), pts)
    lips_right = pts[list(contour("lips_outer")), 0].max()
    assert driving_mouth_seen((h, int(lips_right) - 2), pts)              # a corner cut: its other half stands in
    width = np.linalg.norm(pts[61, :2] - pts[291, :2])
    assert driving_mouth_seen((h, int(pts[13, 0]) - 2), pts)              # cut just short of the middle
    assert not driving_mouth_seen((h, int(pts[13, 0] - 0.15 * width)), pts)   # well short of it
    assert not driving_mouth_seen((int(pts[17, 1]) - 2, w), pts)          # the bottom edge cuts the lower lip
    small = pts * (0.9 * MIN_DRIVING_MOUTH / width)
    assert not driving_mouth_seen((h, w), small)


def test_driving_frames_are_handed_on_only_where_the_mouth_is_seen(portrait):
    image, pts = portrait
    frames = [image, image[::-1].copy(), image]
    landmarks = np.stack([pts, pts, pts])
    view = DrivingView(lambda: iter(frames), landmarks, np.array([True, True, False]))
    got = list(_driving_mouths(view, 3))
    assert got[0][0] is frames[0] and np.array_equal(got[0][1], pts)
    assert got[1][0] is frames[1]
    assert got[2] is None                                                  # a hand over the mouth
    # a view that does not match the motion frame for frame (a still's ease-in) is not read
    unread = DrivingView(lambda: pytest.fail("read"), landmarks, np.ones(3, bool))
    assert list(_driving_mouths(unread, 5)) == [None] * 5
    assert list(_driving_mouths(None, 2)) == [None, None]


def test_the_driving_clip_is_not_read_again_when_its_mouths_cannot_be_used(portrait):
    from types import SimpleNamespace

    from reenact.generate.base import SourceContext
    from reenact.generate.warp import WarpGenerator
    from reenact.geometry.align import AlignedMesh

    image, pts = portrait
    target = _opened(pts)
    aligned = AlignedMesh(np.stack([pts, target]).astype(np.float32),
                          np.tile(np.float32([[1, 0, 0], [0, 1, 0]]), (2, 1, 1)), 512)
    reads = []

    def frames():
        reads.append(1)
        return iter([image, _driving_frame(image, target, (245, 245, 245), (15, 10, 10))])

    view = DrivingView(frames, np.stack([pts, target]), np.ones(2, bool))
    source = SourceContext(image, SimpleNamespace(landmarks=pts[None]), None, view)
    for options, read in ((WarpOptions(mouth_interior="drawn"), True),
                          (WarpOptions(mouth_interior="drawn", interior_layout="drawn"), False),
                          (WarpOptions(mouth_interior="drawn", teeth=False), False),
                          (WarpOptions(mouth_interior="source"), False)):
        reads.clear()
        out = list(WarpGenerator(options).frames(source, aligned, pasteback=True))
        assert len(out) == 2 and bool(reads) == read, options


def test_lips_hidden_under_a_moustache_do_not_colour_the_interior(portrait):
    from reenact.generate.warp_mouth import mouth_colours

    image, pts = portrait
    lips = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(pts[list(contour("lips_outer")), :2]).astype(np.int32)], 1)
    seen = mouth_colours(image, pts[:, :2])
    # the same face with its lips under dark grey-brown hair (Einstein's measured 0.41 of his skin)
    hidden = image.copy()
    hidden[lips > 0] = (70, 58, 50)
    covered = mouth_colours(hidden, pts[:, :2])
    # the tongue stays red like lips (R well over G), not the hair's grey-brown, and near the lips' own
    assert covered["tongue"][0] > 1.3 * covered["tongue"][1]
    assert np.abs(covered["tongue"] - seen["tongue"]).max() < 40      # the hair's own colour: 78 off
    # on a greyscale copy the made-up lip colour is grey
    grey = cv2.cvtColor(cv2.cvtColor(hidden, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    assert np.ptp(mouth_colours(grey, pts[:, :2])["tongue"]) < 1e-6


def test_blushed_cheeks_do_not_make_pink_teeth(portrait):
    from reenact.generate.warp_mouth import SKIN_POINTS, mouth_colours

    image, pts = portrait
    plain = mouth_colours(image, pts[:, :2])

    def tint(rgb):
        return rgb - rgb.mean()

    # the skin samples painted with a made-up cheek's colour (Diana's measures (221, 142, 133): a tint
    # 69 levels long, where real clips' skin is 26-53 and the teeth between their lips 21-38)
    blushed = image.copy()
    for x, y in np.round(pts[list(SKIN_POINTS), :2]).astype(int):
        cv2.circle(blushed, (int(x), int(y)), 6, (221, 142, 133), -1)
    made_up = mouth_colours(blushed, pts[:, :2])
    assert np.linalg.norm(tint(made_up["skin"])) > 65
    teeth = tint(made_up["teeth"])
    assert 31 < np.linalg.norm(teeth) < 33                              # 0.75 of the skin's gave 52
    assert teeth[0] > 0 > teeth[2]                                     # still warm, not lilac
    # an ordinary skin's teeth (the astronaut's tint is 42 levels long) keep their share of its tint
    assert np.linalg.norm(tint(plain["skin"])) < 50
    assert np.allclose(tint(plain["teeth"]), 0.6 * tint(plain["skin"]), atol=1.0)


def test_the_drawn_cavity_is_shaded_like_a_laid_out_one(portrait):
    """Where no driving picture shows the mouth (a preset, a hand over it, the picture's edge) the
    interior is drawn; its cavity was a flat black hole (0.10-0.12 of the skin's lightness from the
    upper teeth down to the lower lip) beside the laid-out frames' shaded one. It now lies on the
    same lightness ramp: darker under the upper teeth, lighter towards the tongue."""
    from reenact.generate.warp_mouth import CAVITY_RHO, luminance

    image, pts = portrait
    engine = WarpEngine(image, pts, WarpOptions(mouth_interior="drawn", interior_layout="drawn"))
    target = _opened(pts, 40.0)                                  # lips apart by 0.6 of the mouth's width
    out = luminance(engine.render(target).astype(float)) / luminance(engine.mouth.colours["skin"])
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(target[INNER, :2]).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    rows = np.flatnonzero(mask.any(1))
    top, height = rows[0], rows[-1] - rows[0]

    def band(a, b):
        r = np.arange(image.shape[0])[:, None]
        return float(np.median(out[mask & (r >= top + a * height) & (r < top + b * height)]))

    upper, middle, lower = band(0.1, 0.3), band(0.3, 0.5), band(0.8, 1.0)
    assert CAVITY_RHO[0] * 0.7 < upper < middle < lower < CAVITY_RHO[1]
    assert lower - upper > 0.1


def test_a_smiles_own_teeth_stay_their_size_as_the_jaw_opens(portrait):
    """The astronaut's smile (its opening 0.9 upper teeth) opened by a preset's jaw, with no driving
    picture: stretched whole, the teeth grew with the opening (twice as long at twice the opening);
    split by the jaw, the upper teeth keep their height under the upper lip and a dark gap opens
    below them."""
    from reenact.generate.warp_mouth import luminance, teeth_split

    image, pts = portrait
    engine = WarpEngine(image, pts)
    assert engine.source_teeth and teeth_split(image, pts[:, :2], engine.mouth.colours["skin"]) > 0.8
    skin = luminance(engine.mouth.colours["skin"])

    def light_run(picture, points):
        """Rows of light (teeth) down the mouth's middle from the upper inner lip, and the opening's height."""
        x = int(round(points[13, 0]))
        top, bottom = int(round(points[13, 1])) + 1, int(round(points[14, 1]))
        light = luminance(picture[top:bottom, x - 1:x + 2].astype(float)).mean(1) > 0.7 * skin
        return int(np.argmin(light)) if not light.all() else len(light), bottom - top

    own, own_height = light_run(image, pts)
    target = _opened(pts, 24.0)
    out = engine.render(target)
    teeth, height = light_run(out, target)
    assert height > 1.8 * own_height                 # the opening about doubles
    assert abs(teeth - own) <= 0.2 * own + 1          # the teeth do not
    gap = out[int(round(target[13, 1])) + teeth + 3:int(round(target[14, 1])) - 2, int(round(target[13, 0]))]
    assert luminance(gap.astype(float)).mean() < 0.5 * skin


def test_softness_reads_the_blur_added_to_a_picture(portrait):
    """An edge blurred by s has its gradient lowered by s / hypot(s, probe) by the probe's further
    blur: Gaussian blurs added to the portrait read as their sum in quadrature, within a few tenths."""
    from reenact.generate.warp_detail import softness

    image, pts = portrait
    own = softness(image, pts)
    assert 0.4 < own < 1.3                                        # a sharp photo
    for added in (1.5, 3.0):
        read = softness(cv2.GaussianBlur(image, (0, 0), added), pts)
        assert abs(read - np.hypot(own, added)) < 0.35, (added, read)
    flat = np.full_like(image, 128)
    assert softness(flat, pts) == 0.0                             # no edges: nothing to match


def test_a_soft_sources_drawn_mouth_is_as_soft_as_its_face(portrait):
    """A photo enlarged from a small one (or out of focus) got teeth and an opening edge drawn
    pixel-sharp, pasted into its blurred face; the interior is now blurred to the source's softness."""
    from reenact.generate.warp_detail import softness

    image, pts = portrait
    target = _opened(pts, 30.0)
    opening = np.vstack([target[INNER, :2] - 6, target[INNER, :2] + 6])   # the opening's box, and its edge
    read = {}
    for blur in (0.0, 2.5):
        source = cv2.GaussianBlur(image, (0, 0), blur) if blur else image
        engine = WarpEngine(source, pts, WarpOptions(mouth_interior="drawn", interior_layout="drawn"))
        read[blur] = (softness(source, pts), softness(engine.render(target), opening))
    (_, sharp_mouth), (soft_face, soft_mouth) = read[0.0], read[2.5]
    assert sharp_mouth < 1.5                                        # a sharp source's mouth is left sharp
    assert soft_face > 2.3
    assert abs(soft_mouth - soft_face) < 0.5 and soft_mouth > sharp_mouth + 1.0, read


def test_a_grainy_sources_drawn_mouth_has_its_grain(portrait):
    """Film grain (or a painting's canvas) stopped at the lips: the painted interior was smooth as
    plastic. It now carries grain of the source's spread, the same on every channel (a greyscale
    source stays grey), fixed to the head (the same each frame the head holds still)."""
    from reenact.generate.warp_detail import DETAIL_SIGMA, grain

    image, pts = portrait
    target = _opened(pts, 30.0)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(target[INNER, :2]).astype(np.int32)], 1)
    inside = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 0

    def fine(picture: np.ndarray) -> np.ndarray:
        grey = picture[..., 0].astype(np.float32)
        return grey - cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMA)

    # the portrait is a grainy scan (grain 4.0); smoothed, a clean photo (2.1)
    grey = np.repeat(cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (0, 0), 1.5)[..., None], 3, -1)
    noise = cv2.GaussianBlur(np.random.default_rng(5).normal(0, 12, image.shape[:2]).astype(np.float32), (0, 0), 0.7)
    grainy = np.repeat(np.clip(grey[..., :1] + noise[..., None], 0, 255).astype(np.uint8), 3, -1)
    outs = {}
    for name, source in (("clean", grey), ("grainy", grainy)):
        engine = WarpEngine(source, pts, WarpOptions(mouth_interior="drawn", interior_layout="drawn"))
        outs[name] = engine.render(target)
        assert np.array_equal(outs[name], engine.render(target))
        assert int((outs[name].max(-1) - outs[name].min(-1))[inside].max()) == 0    # grey stays grey
    assert engine.mouth.grain_field is not None and WarpEngine(grey, pts).mouth.grain_field is None
    # the grain painted: the grainy source's interior less the clean one's (the same drawing)
    source_grain, painted = grain(grainy, pts), float(np.std((fine(outs["grainy"]) - fine(outs["clean"]))[inside]))
    assert source_grain > 4.0 and 0.7 * source_grain < painted < 1.4 * source_grain, (source_grain, painted)


def test_a_faded_prints_drawn_mouth_is_no_darker_than_its_blacks(portrait):
    """A faded print (blacks lifted to 75) got a painted cavity at 16 levels, darker than anything
    in it; the interior's darks now lift to the picture's black, and it still reads as an opening."""
    from reenact.generate.warp_detail import black_level
    from reenact.generate.warp_mouth import luminance

    image, pts = portrait
    faded = np.clip(75 + 0.6 * image.astype(np.float32), 0, 255).astype(np.uint8)
    target = _opened(pts, 30.0)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(target[INNER, :2]).astype(np.int32)], 1)
    inside = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    options = WarpOptions(mouth_interior="drawn", interior_layout="drawn")
    black = black_level(faded, pts)
    assert 70 < black < 80 and black_level(image, pts) < 10
    assert WarpEngine(image, pts, options).mouth.black == 0.0          # real blacks: painted as before
    engine = WarpEngine(faded, pts, options)
    lightness = luminance(engine.render(target).astype(np.float64))[inside]
    assert np.percentile(lightness, 1) > black - 5                   # 16 without the lift
    assert np.median(lightness) < 0.8 * luminance(engine.mouth.colours["skin"])


@pytest.mark.parametrize("enlargement", [4, 6])
def test_a_small_driving_mouth_laid_out_large_gets_its_teeths_edges_back_without_halos(enlargement):
    # Teeth over a dark cavity, with the lines between them, in a driving frame `enlargement` times
    # smaller than the target's mouth (a wide shot's face, a low-resolution clip): enlarged, the
    # teeth's edge against the cavity rose 40-85 levels a pixel where the crisp picture's rises 215;
    # sharpened back it rises at least 1.5 times as steeply, within the enlarged picture's own range,
    # and steps as small as a compressed clip's blocks stay as they are.
    crisp = np.full((60, 240), 20, np.uint8)
    crisp[:30] = 235
    for x in range(12, 240, 24):
        crisp[:30, x:x + 6] = 90
    crisp = np.repeat(crisp[..., None], 3, 2)
    small = cv2.resize(crisp, (240 // enlargement, 60 // enlargement), interpolation=cv2.INTER_AREA)
    enlarged = cv2.resize(small, (240, 60), interpolation=cv2.INTER_CUBIC)
    sharp = resharpened(enlarged, float(enlargement))

    def edge_slope(image):      # the steepest step down a tooth's middle, across the teeth's edge
        return np.abs(np.diff(image[20:40, 30:34, 0].astype(float), axis=0)).max()

    assert edge_slope(sharp) >= 1.5 * edge_slope(enlarged)
    assert sharp.min() >= enlarged.min() and sharp.max() <= enlarged.max()
    assert np.array_equal(resharpened(enlarged, 1.2), enlarged)      # a mouth near its own size: as it is
    # a compressed clip's blocks over the cavity (8 levels up or down each driving pixel) are not
    # sharpened into mottling (without the bound on small steps: 6.75 -> 8.8 levels of spread)
    small = small.astype(int)
    cavity_rows = slice(small.shape[0] // 2 + 1, None)
    small[cavity_rows] += np.random.default_rng(0).choice([-8, 8], small[cavity_rows, :, :1].shape)
    blocky = cv2.resize(np.clip(small, 0, 255).astype(np.uint8), (240, 60), interpolation=cv2.INTER_CUBIC)
    spread = lambda image: image[40:56, :, 0].astype(float).std()     # noqa: E731
    assert spread(resharpened(blocky, float(enlargement))) <= 1.02 * spread(blocky)


def _in_flat_colours(image: np.ndarray, colours: int = 8) -> np.ndarray:
    """The picture drawn in its `colours` main colours (k-means), as a flat 2D cartoon is."""
    pixels = image.reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(pixels, colours, None, (cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0), 1,
                                    cv2.KMEANS_PP_CENTERS)
    return centres[labels.ravel()].round().astype(np.uint8).reshape(image.shape)


def test_a_flat_colour_cartoons_open_mouth_is_drawn_in_flat_colours_too(portrait):
    # The same face as a photo and drawn in eight flat colours; the mouth opens wide. The photo's
    # interior is shaded (a cavity darker under the teeth, soft teeth); the flat picture's is drawn
    # in at most its cavity's, tongue's, teeth's and their highlight's colours, each a flat area (it
    # was the photo's shading: 116 colours inside the opening drawn, 8 laid out).
    from reenact.generate.warp_detail import FLAT_SHARE, flat_colours

    image, pts = portrait
    flat = _in_flat_colours(image)
    assert flat_colours(image, pts) < 0.5 < FLAT_SHARE <= flat_colours(flat, pts)
    target = _opened(pts, 30.0)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(target[INNER, :2]).astype(np.int32)], 1)
    inside = cv2.erode(mask, np.ones((7, 7), np.uint8)) > 0          # off the opening's soft edge
    assert inside.sum() > 300
    counts = {}
    for name, source in (("photo", image), ("flat", flat)):
        for layout in ("drawn", "driving"):
            engine = WarpEngine(source, pts, WarpOptions(mouth_interior="drawn", interior_layout=layout))
            driving = (_driving_frame(source, target, (245, 245, 245), (15, 10, 10)), target) if layout == "driving" else None
            out = engine.render(target, driving)
            counts[name, layout] = len(np.unique(out[inside].reshape(-1, 3), axis=0))
    assert counts["photo", "drawn"] > 30, counts
    assert counts["flat", "drawn"] <= 4 and counts["flat", "driving"] <= 4, counts
