"""The warp engine's drawn mouth interior, for a source whose mouth is closed.

Where the target opens a mouth the source has none to stretch, an interior is painted in the
source's own colours (a greyscale source gets a grey one). Its layout comes, by default, from the
driving frame's own open mouth (`from_driving`): the driving's inner lips are mapped onto the
target's, and each pixel's lightness relative to the driving's skin picks a colour on a ramp of the
source's cavity, tongue and teeth colours (RAMP); a lit pixel redder than the driving's skin is
tongue, one as light but not red a tooth in shade. So the teeth, tongue and shadows are where the
driving shows them, in the source's palette.
Where the driving's mouth is not seen (a hand over it, off the picture, too small, a still image,
no driving frames), the interior is drawn instead (`fill`), like a real mouth seen from the front,
in layers from the back: a dark-red cavity, the tongue, the lower teeth (on the jaw, behind the
lower lip: they move with it), the upper teeth (fixed to the skull: they follow the head, so a
raised upper lip shows more of them and a dropped jaw opens a gap under them), gum above the upper
teeth. The upper and lower lips then cover whatever lies outside the opening.

Painted, it is blurred to the source's softness, kept within its blacks and given its grain
(`MouthInterior._as_source`), so it sits in an enlarged, soft-focus, faded or grainy picture as the
face around it does; in a picture drawn in flat colours (a 2D cartoon) it is drawn in flat colours.
A driving mouth much smaller than the target's has its enlarged edges sharpened back (`resharpened`).

Levels come from real open mouths of talking clips (inner-lip profiles of the shared and extra
driving clips, relative to each face's skin and lips): teeth about as light as the skin, the
tongue close to the lips; the cavity is darker than measured (see mouth_colours).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..faces.topology import INNER_LIP_PAIRS, contour, curve_height
from .warp_detail import DETAIL_SIGMA, FLAT_SHARE, black_level, flat_colours, grain, grain_noise, softness

# Tooth boundaries across the arch, in half-widths of the mouth from its middle: incisors, canines, premolars
# (upper), and the narrower lower incisors. They are drawn faintly: a hint of separate teeth, not a pattern.
_UPPER_GAPS = (0.0, 0.3, 0.55, 0.76, 0.92)
_LOWER_GAPS = (0.0, 0.2, 0.4, 0.6, 0.8)    # four narrow lower incisors and canines each side
_CROWN = 0.2          # crown height of an upper incisor / inner mouth width (about 10 mm of 50)
_LOWER_CROWN = 0.16
_WIDE_OPEN = (0.45, 0.7)   # lips apart (x the mouth's width) where the lower teeth start / end riding on the lower lip
_CORNER = 0.015       # corner radius of a tooth / inner mouth width (under 1 mm of 50; 0.03 notched a child's
#                       small teeth so deep that MediaPipe read her grin as less open: s11_d0 jawOpen r 0.73 -> 0.49)
CHIN = 152


SKIN_POINTS = (50, 280, 199, 205, 425)   # cheeks and chin, between the lips and the face oval
MOUTH_CORNERS = (61, 291)
INNER_CORNERS = (INNER_LIP_PAIRS[0][0], INNER_LIP_PAIRS[-1][0])
LIP_MIDDLES = (0, 13, 14, 17)   # the outer and inner lips' middles (upper, upper, lower, lower)
# Lightness (x the skin's) at which a driving mouth shows its cavity, tongue and teeth: real open
# mouths of talking clips measure the cavity's darkest tenth at 0.15-0.3 of the skin, the lips and
# tongue 0.6-0.7, the teeth's lightest tenth 1.0-1.1. Each takes the source's colour of that part,
# so a real cavity comes out as dark as the drawn one: placed at the driving's own lightness
# relative to the source's (tried first), the lighter real cavities and a tongue as light as the
# lips read as less open, to MediaPipe and to the eye (judge: jawOpen r on the child's clip d11
# 0.01-0.07 lower than the drawn interior's; s1-padded_d11 0.89 -> 0.80).
RAMP = (0.2, 0.6, 1.0)
# The tongue in the lips' shadow: at the source's full tongue colour, a small mouth's tongue merged
# with its lower lip (s1-padded_d11 jawOpen r 0.78; 0.80 at 0.7, 0.77 at 0.8 with the mouth error of
# self-reenactment 9.7 and 8.8 on d11).
TONGUE_SHADE = 0.75
# Lab a* over the driving's skin from which a pixel lighter than the tongue's knot is tongue, not
# teeth, and at which fully (real clips: teeth 4-9 under the skin, tongues 2-10 over it).
TONGUE_REDNESS = (-1.0, 3.0)
# ... and what is not, from the tongue's knot up to this much lighter (x the skin's), is a tooth in
# shade: the teeth's colour at its lightness
TEETH_SHADE_IN = 0.1
# ... and that far inside the inner lips (x the mouth's width) from which, and at which fully: nearer
# the contour it is the lips' own inner side
LIP_INNER_SIDE = (0.06, 0.14)
# The drawn interior's lightness (x the skin's, on RAMP): the cavity from under the upper teeth down
# to the lower lip, and the tongue at its sides and its middle. Real open mouths of the shared and
# extra clips (median over 940 frames lips apart by 0.1-2 of the mouth's width, on a 9 x 7 grid
# between the inner lips): the cavity 0.3-0.55 below the upper teeth, the corners 0.3-0.35, the
# tongue and the lower lip's inner side 0.6-0.8. Drawn darker than the median, which reads to
# MediaPipe as lips (see `mouth_colours`): the drawn cavity was 0.15-0.3, flat; a black hole.
CAVITY_RHO = (0.28, 0.45)
TONGUE_RHO = (0.58, 0.7)
TONGUE_EDGE = 0.04        # the tongue's top edge blends over this much of the mouth's width
LOWER_TEETH_HIDDEN = 0.7  # how much of the lower teeth a wide-open mouth's lower lip hides (`MouthInterior.fill`)
# A driving mouth narrower than this (px, corner to corner) shows too little to take a layout from.
MIN_DRIVING_MOUTH = 16.0
# How soft the painted interior's own edges are (px, as `softness` reads them: the opening of a
# sharp photo's drawn mouth 1.1-1.2). A softer source (an old photo enlarged, a small face blown up,
# a soft-focus portrait) has the interior blurred to its softness: at 2 px, crisp teeth and a
# sharp-edged hole sat pasted into a blurred face.
DRAWN_SOFTNESS = 1.1
SOFTEN_FROM = 0.5     # px: a blur under this is not seen (s1 0.49, s42 0.26): the interior is left as drawn
MASK_BLUR = 0.8       # px: the opening's anti-aliased edge, softened this much more at least
# A grainy source (film grain, an old painting's craquelure, halftone: `grain` over 2.5 levels;
# clean photos read 0.4-1.9) has grain of its spread added to the painted interior, which otherwise
# sat smooth as plastic in it (as the eyes' whites have theirs, warp_eyes), fixed to the skull so
# that it moves with the head and stays still on a still one.
GRAIN_MIN = 2.5
GRAIN_DARK = 8.0      # x the grain's spread: paint darker than this has its grain in proportion
# A picture whose blacks are lifted (`black_level` 40 or more: a faded print, a matte scan; the
# judged photos, paintings and the cartoon read 0-12, the statue 19, the child's bright photo and
# d11's and d18's frames 25-28, d19's 38-39) has the painted interior's darks lifted to its black:
# paint darker than twice the black becomes the black plus half its own lightness. The cavity was
# darker than anything in a faded print (16 against 74).
BLACK_LIFTED = 40.0


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _in_picture(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape[:2]
    return (points[:, 0] >= 0) & (points[:, 0] <= w - 1) & (points[:, 1] >= 0) & (points[:, 1] <= h - 1)


def _lab_a(rgb: np.ndarray) -> float:
    """Lab a* (OpenCV's 8-bit scale, 128 neutral) of one RGB colour."""
    return float(cv2.cvtColor(np.clip(np.round(rgb), 0, 255).astype(np.uint8)[None, None], cv2.COLOR_RGB2LAB)[0, 0, 1])


def skin_colour(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Median RGB of the skin at the cheeks and chin of a face with landmarks `points` (those of
    them in the picture: the edge pixel that stands in for a cheek past it is background)."""
    h, w = image.shape[:2]
    pts = np.round(np.asarray(points)[list(SKIN_POINTS), :2]).astype(int)
    inside = _in_picture(pts, image.shape)
    pts = pts[inside] if inside.any() else pts
    return np.median(image[np.clip(pts[:, 1], 0, h - 1), np.clip(pts[:, 0], 0, w - 1)].astype(np.float64), 0)


# An open source mouth shows teeth when at least this share of its opening is lighter than
# TEETH_SEEN[0] of its skin (s42's glimpse between parted lips 0.15; a yawn's cavity 0.04-0.09)
TEETH_SEEN = (0.7, 0.1)
# Where an open mouth with no upper teeth under its lip divides between the jaws (`teeth_split`)
SPLIT_AT = 0.5


def shows_teeth(source: np.ndarray, points: np.ndarray) -> bool:
    """Whether the source's mouth opening shows teeth (TEETH_SEEN): a yawn's dark cavity does not."""
    mask = np.zeros(source.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(points)[list(contour("lips_inner")), :2]).astype(np.int32)], 1)
    inside = source[mask > 0].astype(np.float64)
    if not len(inside):
        return False
    rho = luminance(inside) / max(float(luminance(skin_colour(source, points))), 1.0)
    return float((rho > TEETH_SEEN[0]).mean()) >= TEETH_SEEN[1]


# A pixel of a mouth's opening is a tooth when it is at least this light (x the skin's) and this
# much less red than the skin (Lab a*; teeth measure 4-9 under it, lips and tongues over it), at
# least TEETH_INSET of the mouth's width inside the inner lips (their own wet side lies inside
# MediaPipe's contour). Real clips: a grin's opening 0.5-0.75 teeth, a yawn's or a slot's 0-0.07.
TEETH_LIGHT, TEETH_REDNESS, TEETH_INSET = 0.75, -2.0, 0.03


def teeth_shown(image: np.ndarray, points: np.ndarray) -> float:
    """Share of a face's mouth opening that is teeth (TEETH_LIGHT, TEETH_REDNESS; lightness alone
    where the picture has no colour), 0 for a mouth too shut to have an inside. Unlike
    `shows_teeth`'s lightness, it tells a lit lip or tongue from a tooth."""
    pts = np.asarray(points, np.float64)
    poly = pts[list(contour("lips_inner")), :2]
    lo = np.maximum(np.floor(poly.min(0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(poly.max(0)).astype(int) + 2, (image.shape[1], image.shape[0]))
    if (hi <= lo).any():
        return 0.0
    box = image[lo[1]:hi[1], lo[0]:hi[0]]
    mask = np.zeros(box.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly - lo).astype(np.int32)], 1)
    width = float(np.linalg.norm(pts[MOUTH_CORNERS[0], :2] - pts[MOUTH_CORNERS[1], :2]))
    inside = cv2.distanceTransform(mask, cv2.DIST_L2, 3) > TEETH_INSET * width
    if inside.sum() < 4:
        return 0.0
    skin = skin_colour(image, pts)
    teeth = luminance(box[inside].astype(np.float64)) > TEETH_LIGHT * max(float(luminance(skin)), 1.0)
    if float(skin.max() - skin.min()) >= 6.0:    # a grey picture's skin has no tint to compare
        redness = cv2.cvtColor(box, cv2.COLOR_RGB2LAB)[..., 1][inside].astype(np.float64) - _lab_a(skin)
        teeth &= redness < TEETH_REDNESS
    return float(teeth.mean())


MIN_FIT_POINTS = 8   # inner-lip points in the picture that map a cut driving mouth onto the target's
# A driving mouth whose middle lies past the picture's edge by up to this share of its width still
# lends its seen half, mirrored across the edge instead (the drawn interior that stood in at the
# height of d11-pan was a flat brown slab on the terracotta statue, between laid-out frames)
MIDDLE_PAST = 0.1
# A cut driving mouth whose box is still past the picture's edge by more than this share once its
# seen half is mirrored (a mouth the bottom edge cuts) gets the drawn interior: the edge row,
# repeated, was a flat pale slab
MAX_UNSEEN = 0.1


def driving_mouth_seen(frame_shape: tuple[int, int], points: np.ndarray) -> bool:
    """Whether a driving frame shows enough of its mouth, large enough, to take an interior's layout
    from: its middle, or all but MIDDLE_PAST of the mouth's width short of it at a side edge, and
    a corner (from_driving mirrors the half that a frame's edge cuts off)."""
    middle = np.asarray(points, np.float64)[list(LIP_MIDDLES), :2]
    corners = np.asarray(points, np.float64)[list(MOUTH_CORNERS), :2]
    width = float(np.linalg.norm(corners[0] - corners[1]))
    h, w = frame_shape[:2]
    # past a side edge, across the mouth (a mirror across the edge stands in); never past the top
    # or the bottom, across its height
    past = np.maximum.reduce([-middle[:, 0], middle[:, 0] - (w - 1)])
    upright = bool(((middle[:, 1] >= 0) & (middle[:, 1] <= h - 1)).all())
    near_enough = (upright and float(past.max()) <= MIDDLE_PAST * width
                   and bool(_in_picture(corners, frame_shape).any()))
    return near_enough and width >= MIN_DRIVING_MOUTH


# A driving mouth laid out ENLARGE_FROM times its size or more (a small face in a wide shot or a
# low-resolution clip driving a large portrait) is a blur of its teeth: a 120 px clip's grin on a
# 512 px portrait, 5x, was a grey smear. It is sharpened back (`resharpened`) by an unsharp mask
# of SHARPEN_SIGMA px per unit of enlargement, ENLARGE_RAMP more for its full SHARPEN_AMOUNT, and
# kept within the range of the enlarged picture's neighbourhood (as wide as a driving pixel), so the
# teeth's edges come back without halos; detail finer than a driving pixel does not.
ENLARGE_FROM, ENLARGE_RAMP = 1.5, 1.5
SHARPEN_SIGMA, SHARPEN_AMOUNT = 0.5, 2.0
SHARPEN_ABOVE = 12.0    # levels: a smaller step from the blurred picture is left, more than twice it sharpened fully


def resharpened(seen: np.ndarray, enlargement: float) -> np.ndarray:
    """A driving mouth enlarged `enlargement` times (uint8 RGB) with its edges sharpened back,
    within each pixel's neighbourhood range; unchanged below ENLARGE_FROM."""
    strength = SHARPEN_AMOUNT * float(np.clip((enlargement - ENLARGE_FROM) / ENLARGE_RAMP, 0.0, 1.0))
    if strength <= 0:
        return seen
    picture = seen.astype(np.float32)
    blurred = cv2.GaussianBlur(picture, (0, 0), SHARPEN_SIGMA * enlargement)
    detail = picture - blurred
    # only edges stronger than a compressed clip's blocks (crf 28: 5-15 levels), which it mottled
    step = np.abs(detail).max(-1, keepdims=True)
    edges = np.clip((step - SHARPEN_ABOVE) / SHARPEN_ABOVE, 0.0, 1.0)
    reach = 2 * int(np.ceil(enlargement / 2)) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))   # round: a square one drew blocks
    sharp = np.clip(picture + strength * edges * detail, cv2.erode(picture, kernel), cv2.dilate(picture, kernel))
    return np.clip(sharp + 0.5, 0, 255).astype(np.uint8)


FLAT_SPECK = 3    # px: a flat-colour interior's specks under this are taken by the area around them


# Lips darker than this share of the skin's lightness are taken as hidden (ramping between the two):
# a moustache measured 0.41, real lips 0.60-0.88
HIDDEN_LIPS = (0.45, 0.55)
# Teeth's tint (RGB less its mean) as a share of the skin's, and its largest length in levels: in
# the six shared and extra clips, teeth between the lips measure 0.5-0.7 of the skin's tint and 21-38
# levels long where the skin's is 26-53 (tools: the median over the frames showing teeth)
TEETH_TINT = (0.6, 32.0)
# Lips' RGB as a share of the skin's, in the six colour photos of ../shared (0.76-0.92, 0.49-0.66, 0.43-0.65)
LIP_FROM_SKIN = (0.85, 0.53, 0.50)


def mouth_colours(source: np.ndarray, points: np.ndarray) -> dict[str, np.ndarray]:
    """Interior colours from the source's own lips and skin, so they sit in its lighting and colour
    balance: cavity, tongue, gum, teeth (a greyscale source gets grey ones)."""
    lips_inner = np.array(contour("lips_inner"))
    mask = np.zeros(source.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[list(contour("lips_outer")), :2]).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(points[lips_inner, :2]).astype(np.int32)], 0)
    lip = source[mask > 0].reshape(-1, 3).astype(np.float64)
    skin = skin_colour(source, points)
    grey = skin.mean()
    # lips hidden under a moustache or in deep shadow read as hair or shadow: the interior took Einstein's
    # moustache colour, a grey-brown tube. Real lips measure 0.6-0.9 of the skin's lightness (nine
    # portraits); below HIDDEN_LIPS the lips' colour gives way to a lip colour made from the skin's
    # (LIP_FROM_SKIN, as much as the skin has colour at all: a greyscale source stays grey)
    colourful = float(np.clip((skin.max() - skin.min()) / 30.0, 0.0, 1.0))
    lip_like = skin * ((1 - colourful) * float(np.mean(LIP_FROM_SKIN)) + colourful * np.asarray(LIP_FROM_SKIN))
    lip = np.median(lip, 0) if len(lip) else lip_like
    seen = float(np.clip((luminance(lip) / max(float(luminance(skin)), 1.0) - HIDDEN_LIPS[0])
                         / (HIDDEN_LIPS[1] - HIDDEN_LIPS[0]), 0.0, 1.0))
    lip = seen * lip + (1 - seen) * lip_like
    # teeth: light whatever the skin (darker skin, relatively lighter teeth), with part of the skin's
    # tint (TEETH_TINT; none reads lilac-grey) but never more than real teeth show (a blushed or
    # made-up cheek, Diana's, gave pink teeth)
    tint = TEETH_TINT[0] * (skin - grey)
    tint *= min(1.0, TEETH_TINT[1] / max(float(np.linalg.norm(tint)), 1e-6))
    teeth = np.clip(np.clip(0.7 * grey + 50.0, 80.0, 230.0) + tint, 0, 255)
    # the inside of the mouth is lip-like tissue; part skin, so that lipstick does not paint it. The
    # cavity is kept dark (real ones measure lighter, 0.4-0.6 of the skin): MediaPipe, and the eye,
    # read a lighter one as lips, so the mouth looks less open than the driving's (tried again: a
    # cavity at 0.26 of the lips with teeth at 0.9 of full light took the judge's jawOpen r on
    # s6_d11-pan from 0.72 to 0.60 and on s6_d11-flip from 0.82 to 0.75, for a self-reenactment
    # mouth error of 12.6 -> 12.5 on d11)
    return {"cavity": 0.08 * lip + 0.03 * skin, "tongue": 0.55 * lip + 0.3 * skin, "gum": 0.6 * lip + 0.35 * skin,
            "teeth": teeth, "skin": skin}


def _lip_lines(points: np.ndarray, xs: np.ndarray, lower: bool = False) -> np.ndarray:
    """y of a face's upper (or `lower`) inner lip at each x of `xs` (any shape)."""
    line = np.array([points[v if lower else u] for u, v in INNER_LIP_PAIRS])
    return curve_height(line, xs.ravel()).reshape(xs.shape)


def teeth_split(image: np.ndarray, points: np.ndarray, skin: np.ndarray) -> float:
    """Where a face's open mouth divides into what the upper jaw carries and what the lower does,
    as a share of its opening from the upper lip down: the end of the upper teeth's run of light
    rows (TEETH_SEEN of the skin) across the middle of the mouth, or SPLIT_AT where none starts
    under the upper lip (a cavity, a glimpse)."""
    left, right = points[list(INNER_CORNERS), 0]
    xs = np.linspace(left + 0.3 * (right - left), right - 0.3 * (right - left), 9)
    y_up, y_lo = _lip_lines(points, xs), _lip_lines(points, xs, lower=True)
    if float(np.median(y_lo - y_up)) < 3.0:
        return SPLIT_AT
    vs = np.linspace(0.0, 1.0, 21)
    ys = y_up[None, :] + vs[:, None] * (y_lo - y_up)[None, :]
    seen = cv2.remap(image, np.broadcast_to(xs, ys.shape).astype(np.float32), ys.astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    light = np.median(luminance(seen.astype(np.float64)), axis=1) > TEETH_SEEN[0] * luminance(skin)
    start = int(np.argmax(light))
    if not light.any() or vs[start] > 0.35:
        return SPLIT_AT
    end = start + int(np.argmin(light[start:])) if not light[start:].all() else len(vs) - 1
    return float(np.clip(vs[end], 0.25, 0.9))


def _on_ramp(rho: np.ndarray, knots: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(..., 3) the colours of relative lightnesses `rho` on a ramp of `knots` and their `colours`."""
    return np.stack([np.interp(rho, knots, colours[:, k]) for k in range(3)], axis=-1)


def _smooth(x: np.ndarray) -> np.ndarray:
    """0 below -0.5, 1 above 0.5, smooth between: a one-pixel anti-aliased edge for x in pixels."""
    t = np.clip(x + 0.5, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _from_gap(u: np.ndarray, at: tuple[float, ...], half_width_px: float) -> np.ndarray:
    """Distance (px) from the nearest boundary between two teeth (`at`, u in half-widths)."""
    return np.min(np.abs(np.abs(u)[..., None] - np.asarray(at)), axis=-1) * half_width_px


def _corner_lift(d: np.ndarray, radius_px: float) -> np.ndarray:
    """How far (px) a row of teeth's edge rises `d` px from a boundary between two teeth: each
    tooth's corner is a quarter circle of `radius_px`."""
    inside = np.clip(radius_px - d, 0.0, None)
    return radius_px - np.sqrt(np.clip(radius_px ** 2 - inside ** 2, 0.0, None))


def _gaps(d: np.ndarray) -> np.ndarray:
    """1 on a tooth, down to 0.9 on the faint line where two teeth meet (`d` px from it)."""
    return 1.0 - 0.1 * np.clip(1.0 - 1.5 * d, 0.0, 1.0)


class MouthInterior:
    """Paints the interior of an opening mouth onto warped frames of a closed-mouth source."""

    def __init__(self, source: np.ndarray, source_points: np.ndarray, teeth: bool = True):
        pts = np.asarray(source_points, np.float64)[:, :2]
        self.colours = mouth_colours(source, pts)
        self.teeth = teeth
        self.lips_inner = np.array(contour("lips_inner"))
        # where the closed lips meet (the stomion line): the upper incisors' edges sit just behind it
        self.stomion = np.array([(pts[u] + pts[v]) / 2 for u, v in INNER_LIP_PAIRS])
        self.chin = pts[CHIN]
        self.width = max(float(np.linalg.norm(pts[61] - pts[291])), 1.0)
        self.ramp = self._lightness_ramp()
        self.split = teeth_split(source, pts, self.colours["skin"])
        # the blur that brings the painted interior to the source's softness (px; 0 for a sharp one)
        blur = float(np.sqrt(max(softness(source, pts) ** 2 - DRAWN_SOFTNESS ** 2, 0.0)))
        self.blur = blur if blur >= SOFTEN_FROM else 0.0
        self.grain = grain(source, pts)
        self.grain_field = self._grain_field(pts) if self.grain >= GRAIN_MIN else None
        black = black_level(source, pts)
        self.black = black if black >= BLACK_LIFTED else 0.0
        self.flat = flat_colours(source, pts) >= FLAT_SHARE

    def _lightness_ramp(self) -> tuple[np.ndarray, np.ndarray]:
        """Knots (lightness relative to the skin, RGB) from which a driving pixel's relative lightness
        takes its colour: the source's cavity, tongue and teeth at the lightness real mouths show
        them (RAMP), darker than the cavity towards half of it, lighter than the teeth a highlight."""
        c = self.colours
        cavity, tongue, teeth = RAMP
        rho = [0.0, cavity, tongue, teeth, 2.0 * teeth]
        colours = [0.5 * c["cavity"], c["cavity"], TONGUE_SHADE * c["tongue"], c["teeth"], 2.0 * c["teeth"]]
        return np.array(rho), np.array(colours)

    def draw(self, out: np.ndarray, target: np.ndarray, roi, head: np.ndarray, opacity: float = 1.0,
             driving: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Paint the interior inside the target's inner lips, in place (`head`: the 2x3 similarity
        taking the source's skull to the target's, for the upper teeth), over what is there by `opacity`.
        `driving`: (frame, landmarks) of a driving frame that shows its mouth, to take the layout from."""
        opening = self._opening(out, target, roi)
        if opening is None:
            return
        region, origin = opening
        fill = None if driving is None else self.from_driving(*driving, target, region.shape[:2], origin)
        if fill is None:
            fill = self.fill(target, region.shape[:2], origin, head)
        if self.flat:
            fill = self._in_flat_colours(fill)
        self._paint(region, target, origin, self._as_source(fill, origin, head), opacity)

    def _in_flat_colours(self, fill: np.ndarray) -> np.ndarray:
        """A painted interior (h, w, 3) with each pixel the nearest of the cavity's, the tongue's, the
        teeth's and their highlight's colours, specks a few pixels across taken by the area around
        them: a picture drawn in flat colours (`flat_colours`) draws its mouth so too (shaded as a
        photo's, a 2D cartoon's open mouth was a soft, photographic hole in it). Without the
        highlight a toon's teeth were as light as its skin, and MediaPipe read the mouth less open
        (jawOpen r s1's toon on d11 0.72 -> 0.67); with it, and specks of 5 px taken too, 0.66."""
        palette = np.minimum(self.ramp[1][1:5], 255.0)           # darkest to lightest: a median of them is one
        nearest = np.argmin(np.linalg.norm(fill[..., None, :] - palette, axis=-1), axis=-1).astype(np.uint8)
        return palette[cv2.medianBlur(nearest, FLAT_SPECK)]

    def _opening(self, out: np.ndarray, target: np.ndarray, roi) -> tuple[np.ndarray, np.ndarray] | None:
        """The box of `out` around the target's inner lips, inside `roi` (a view), and its origin;
        None where there is none."""
        poly = target[self.lips_inner, :2]
        margin = 2 + int(np.ceil(3.0 * self.blur))       # room for the softened edge
        x0, y0 = np.maximum(np.floor(poly.min(0) - margin).astype(int), (roi[0], roi[1]))
        x1, y1 = np.minimum(np.ceil(poly.max(0) + margin + 1).astype(int), (roi[2], roi[3]))
        if x1 <= x0 or y1 <= y0:
            return None
        return out[y0:y1, x0:x1], np.array([x0, y0], np.float64)

    def _grain_field(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grain of unit spread (float32, a fixed seed: the same video every run) over a square of
        the source around its mouth, and the square's corner (x, y)."""
        half = int(1.5 * self.width) + 16
        field = grain_noise((2 * half, 2 * half), 1.0, 0, DETAIL_SIGMA).astype(np.float32)
        return field, pts[list(LIP_MIDDLES)].mean(0) - half

    def _as_source(self, painted: np.ndarray, origin: np.ndarray, head: np.ndarray) -> np.ndarray:
        """A painted interior (a box at `origin`) blurred to the source's softness, its darks no
        darker than the source's black, with its grain (`head`: the 2x3 similarity taking the
        source's skull to the target's, which the grain is fixed to)."""
        if self.blur:
            painted = cv2.GaussianBlur(painted, (0, 0), self.blur)
        if self.black:
            painted = painted + np.maximum(self.black - 0.5 * luminance(painted), 0.0)[..., None]
        if self.grain_field is None:
            return painted
        field, corner = self.grain_field
        inverse = cv2.invertAffineTransform(head)
        ys, xs = np.mgrid[:painted.shape[0], :painted.shape[1]].astype(np.float32)
        xs, ys = xs + np.float32(origin[0]), ys + np.float32(origin[1])
        fx = inverse[0, 0] * xs + inverse[0, 1] * ys + (inverse[0, 2] - corner[0])
        fy = inverse[1, 0] * xs + inverse[1, 1] * ys + (inverse[1, 2] - corner[1])
        # nearest: an interpolated grain is weaker between its samples (see warp_detail)
        noise = cv2.remap(field, fx.astype(np.float32), fy.astype(np.float32), cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_REFLECT)
        # fading on the darkest paint, as film's grain does in its shadows: a cavity never goes black
        # (at most 3 spreads down, by at most 3/8 of its lightness)
        dark = np.minimum(luminance(painted) / (GRAIN_DARK * self.grain), 1.0)
        return painted + (self.grain * np.clip(noise, -3.0, 3.0) * dark)[..., None]

    def _paint(self, region: np.ndarray, target: np.ndarray, origin: np.ndarray, fill: np.ndarray,
               opacity: float = 1.0) -> None:
        """`fill` over `region` (a box at `origin`) inside the target's inner lips, anti-aliased and
        as soft as the source, by `opacity`."""
        mask = np.zeros(region.shape[:2], np.float32)
        poly = target[self.lips_inner, :2]
        cv2.fillPoly(mask, [np.round((poly - origin) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        mask = opacity * cv2.GaussianBlur(mask, (0, 0), float(np.hypot(MASK_BLUR, self.blur)))[..., None]
        region[:] = np.clip(region * (1 - mask) + fill * mask + 0.5, 0, 255).astype(np.uint8)

    def from_driving(self, frame: np.ndarray, frame_points: np.ndarray, target: np.ndarray, shape,
                     origin: np.ndarray) -> np.ndarray | None:
        """(h, w, 3) float interior over a box at `origin`, laid out as the driving frame's mouth: its
        inner lips mapped onto the target's (least squares affine), each pixel's lightness relative
        to the driving's skin given the source's colour of that relative lightness; None where the
        frame does not show enough of the mouth for that (MAX_UNSEEN)."""
        ring = list(self.lips_inner) + list(MOUTH_CORNERS)
        src = np.asarray(frame_points, np.float64)[ring, :2]
        dst = np.asarray(target, np.float64)[ring, :2] - origin
        # box pixels -> driving frame pixels: the affine least-squares fit of dst -> src, on the lip
        # points the frame shows where it cuts the mouth (MediaPipe's guesses past the edge pulled
        # the seen half's teeth out of line with the target's middle)
        inside = _in_picture(src, frame.shape)
        fit = inside if inside.sum() >= MIN_FIT_POINTS else np.ones(len(src), bool)
        design = np.c_[dst[fit], np.ones(int(fit.sum()))]
        to_frame, *_ = np.linalg.lstsq(design, src[fit], rcond=None)
        corners = np.array([[0, 0], [shape[1] - 1, 0], [0, shape[0] - 1], [shape[1] - 1, shape[0] - 1]], np.float64)
        enlargement = 1.0 / max(float(np.sqrt(abs(np.linalg.det(to_frame[:2])))), 1e-9)
        if _in_picture(corners @ to_frame[:2] + to_frame[2], frame.shape).all():   # the whole box is seen
            # enlarged, cubic: bilinear drew a small mouth's teeth as a grid of soft blocks
            flags = (cv2.INTER_CUBIC if enlargement > ENLARGE_FROM else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
            seen = cv2.warpAffine(frame, to_frame.T, (shape[1], shape[0]), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        else:
            seen, unseen = self._mirrored_where_cut(frame, to_frame, target, shape, origin)
            if unseen > MAX_UNSEEN:    # cut across the mouth's height too: no half stands in
                return None
        seen = resharpened(seen, enlargement)
        skin_rgb = skin_colour(frame, frame_points)
        skin = max(float(luminance(skin_rgb)), 1.0)
        rho = luminance(seen.astype(np.float64)) / skin
        knots, colours = self.ramp
        fill = _on_ramp(rho, knots, colours)
        # Lightness alone takes anything lighter than the tongue's knot towards the teeth: a lit
        # tongue (d6's, stuck out, 0.8-1.0 of the skin) came out teeth-grey. What is redder than the
        # driving's skin there is tongue, at its own lightness (teeth measure 4-9 Lab a* levels
        # under the skin, tongues 2-10 over); a driving without colour tells nothing.
        # Not along the inner lips, though: the lips' own wet inner side lies inside MediaPipe's inner
        # contour in a grin, and drawn as tongue there the opening read as a third less open
        # (Einstein on d14: jawOpen r 0.95 -> 0.69; 0.92 kept off the lips this far); it stays on the ramp.
        colourful = float(np.clip((skin_rgb.max() - skin_rgb.min()) / 30.0, 0.0, 1.0))
        lit = rho > knots[2]
        if colourful > 0 and lit.any():
            redness = cv2.cvtColor(seen, cv2.COLOR_RGB2LAB)[..., 1].astype(np.float64) - _lab_a(skin_rgb)
            red = np.clip((redness - TONGUE_REDNESS[0]) / (TONGUE_REDNESS[1] - TONGUE_REDNESS[0]), 0.0, 1.0)
            # what is as light but not red is a tooth in shade (the lines between teeth, the lower row
            # under the upper lip): on the ramp it went tongue-red and dark, and the teeth read as fangs
            shade = colourful * (1.0 - red) * np.clip((rho - knots[2]) / TEETH_SHADE_IN, 0.0, 1.0) * (rho < knots[3])
            fill += shade[..., None] * (colours[3] * (rho / knots[3])[..., None] - fill)
            tongue = colourful * red * lit * self._inside_lips(dst[:len(self.lips_inner)], shape)
            shaded = colours[2] * (rho / knots[2])[..., None]          # the tongue's colour at this lightness
            fill += tongue[..., None] * (np.minimum(shaded, 255.0) - fill)
        # never pure black (a hole, to the eye and to the judge), as the drawn interior
        return np.clip(np.maximum(fill, 8.0), 0, 255)

    def draw_split(self, out: np.ndarray, target: np.ndarray, roi, head: np.ndarray, source: np.ndarray,
                   source_points: np.ndarray) -> None:
        """Paint, in place, a source's own open mouth opened further as a jaw opens it: its opening
        down to the upper teeth's edge (`teeth_split`) carried by the upper lip, the rest by the
        lower lip, each at its own size, and the drawn cavity in the gap between them (`head`: the
        2x3 similarity taking the source's skull to the target's). Stretched whole, a smile's teeth
        grew twice as long."""
        opening = self._opening(out, target, roi)
        if opening is None:
            return
        region, origin = opening
        # the target's lips in the source's frame (the head's motion taken out), by column there
        inverse = cv2.invertAffineTransform(head)
        tgt = np.asarray(target, np.float64)[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        src = np.asarray(source_points, np.float64)[:, :2]
        ys, xs = np.mgrid[:region.shape[0], :region.shape[1]].astype(np.float64) + origin[::-1, None, None]
        px = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
        py = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
        corners_t, corners_s = tgt[list(INNER_CORNERS), 0], src[list(INNER_CORNERS), 0]
        # columns across the mouth in proportion (a smile widens it)
        sx = corners_s[0] + (px - corners_t[0]) * (corners_s[1] - corners_s[0]) / (corners_t[1] - corners_t[0] or 1.0)
        up_t, low_t = _lip_lines(tgt, px), _lip_lines(tgt, px, lower=True)
        up_s, low_s = _lip_lines(src, sx), _lip_lines(src, sx, lower=True)
        opening_s = np.maximum(low_s - up_s, 0.0)
        upper_band, lower_band = self.split * opening_s, (1.0 - self.split) * opening_s
        from_upper, from_lower = py - up_t, low_t - py
        # the upper teeth's band with the upper lip, the rest with the lower; squeezed (the target no
        # more open than the source there): the opening in proportion
        opening_t = np.maximum(low_t - up_t, 1e-6)
        squeezed = opening_t <= opening_s
        sy = np.where(from_upper <= upper_band, up_s + from_upper, low_s - from_lower)
        sy = np.where(squeezed, up_s + from_upper * opening_s / opening_t, sy)
        band = np.where(squeezed, 1.0, np.maximum(_smooth(upper_band - from_upper), _smooth(lower_band - from_lower)))
        own = cv2.remap(source, sx.astype(np.float32), sy.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
        # the painted gap as soft and grainy as the source; its own pixels are so already
        gap = self._as_source(self.fill(target, region.shape[:2], origin, head, teeth=False), origin, head)
        self._paint(region, target, origin, own * band[..., None] + gap * (1.0 - band[..., None]))

    @staticmethod
    def _inside_lips(inner: np.ndarray, shape) -> np.ndarray:
        """(h, w) 0 on the inner lips' contour `inner` (box pixels), rising to 1 from LIP_INNER_SIDE[0]
        to LIP_INNER_SIDE[1] of the mouth's width inside it."""
        mask = np.zeros(shape, np.uint8)
        cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 1)
        depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
        width = max(float(np.ptp(inner[:, 0])), 1.0)
        return np.clip((depth / width - LIP_INNER_SIDE[0]) / (LIP_INNER_SIDE[1] - LIP_INNER_SIDE[0]), 0.0, 1.0)

    @staticmethod
    def _mirrored_where_cut(frame: np.ndarray, to_frame: np.ndarray, target: np.ndarray, shape,
                            origin: np.ndarray) -> tuple[np.ndarray, float]:
        """The driving frame over the box (`to_frame`: box pixel -> frame pixel, (3, 2)) for a mouth
        the frame's edge cuts (a pan, a head at the border): the half that is seen, mirrored across
        the mouth's middle, stands in for the other (the edge pixel, repeated, drew stripes; a drawn
        interior does not match the seen half). All of the cut half is mirrored, what the frame
        shows of it too: the seen strip between the middle and the edge, kept, met its mirror
        image at the edge in a step (a tooth cut in two). Also the share of the box that is past
        the picture's edge even so (a mouth cut at its bottom, which no mirror across it fixes)."""
        box = np.stack(np.meshgrid(np.arange(shape[1], dtype=np.float64), np.arange(shape[0], dtype=np.float64)), -1)
        at = box @ to_frame[:2] + to_frame[2]
        cut = ~_in_picture(at.reshape(-1, 2), frame.shape).reshape(shape)
        if cut.any():
            target = np.asarray(target, np.float64)[:, :2] - origin
            corners = target[list(MOUTH_CORNERS)]
            across = (corners[1] - corners[0]) / max(float(np.linalg.norm(corners[1] - corners[0])), 1e-9)
            side = (box - target[list(LIP_MIDDLES)].mean(0)) @ across
            toward = np.sign(side[cut].mean())                      # the cut side's direction
            # a middle past the edge: the mirror moves to where the cut starts, so it mirrors seen pixels
            side = side - toward * min(float(np.percentile(side[cut] * toward, 1)), 0.0)
            far = side * toward > 0
            at[far] = (box[far] - 2.0 * side[far][:, None] * across) @ to_frame[:2] + to_frame[2]
        unseen = float((~_in_picture(at.reshape(-1, 2), frame.shape)).mean())
        at = at.astype(np.float32)
        return cv2.remap(frame, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), unseen

    def fill(self, target: np.ndarray, shape, origin: np.ndarray, head: np.ndarray, teeth: bool = True) -> np.ndarray:
        """(h, w, 3) float interior over a box at `origin`: cavity, tongue, lower and upper teeth, gum
        (no teeth nor gum without `teeth`: the gap of a mouth split by the jaw; the cavity alone for
        a source drawn without teeth)."""
        c = self.colours
        upper = np.array([target[u, :2] for u, _ in INNER_LIP_PAIRS]) - origin
        lower = np.array([target[v, :2] for _, v in INNER_LIP_PAIRS]) - origin
        width = max(float(np.linalg.norm(upper[0] - upper[-1])), 1.0)
        xs = np.arange(shape[1], dtype=np.float64)
        y_up, y_lo = curve_height(upper, xs), curve_height(lower, xs)
        # the upper teeth's edge: the source's stomion line carried by the head (the skull)
        edge_up = curve_height(self.stomion @ head[:, :2].T + head[:, 2] - origin, xs) + 0.02 * width
        middle = (upper[0, 0] + upper[-1, 0]) / 2
        u = ((xs - middle) / (0.5 * width))[None, :]
        ys = np.arange(shape[0], dtype=np.float64)[:, None]
        opening = np.clip(y_lo - y_up, 0.0, None)[None, :]
        # a smile (mouth wider than the source's, the lips drawn back) lights the teeth and leaves dark
        # corridors at the corners; pursed speech keeps them in the lips' shadow (real clips: teeth at
        # 0.9-1.0 of the skin in a grin, 0.3-0.6 in speech, corners 0.25 of it in a grin)
        scale = max(float(np.hypot(head[0, 0], head[1, 0])), 1e-9)
        ratio = float(np.linalg.norm(target[61, :2] - target[291, :2])) / (scale * self.width)
        smile = float(np.clip((ratio - 1.0) / 0.25, 0.0, 1.0))
        lit = 0.75 + 0.25 * smile
        # cavity: on the lightness ramp a driving's interior is drawn with (`from_driving`), so a
        # drawn frame beside a laid-out one is the same mouth: dark under the upper teeth, lighter
        # down towards the tongue, darker into the corners (real open mouths' median, CAVITY_RHO)
        knots, colours = self.ramp
        depth = np.clip((ys - y_up[None]) / np.maximum(opening, 1.0), 0.0, 1.0)
        start = 0.5 - 0.1 * smile
        side = 1.0 - (0.75 + 0.2 * smile) * np.clip((np.abs(u) - start) / (0.95 - start), 0.0, 1.0) ** 1.2
        rho = np.interp(depth, (0.0, 1.0), CAVITY_RHO) * (0.6 + 0.4 * side)
        # never pure black (a hole, to the eye and to the judge): at least 8 levels, grey on a grey source
        fill = np.maximum(_on_ramp(rho, knots, colours), 8.0)
        if not self.teeth:
            return fill
        # the lower teeth ride on the jaw: their edge is the upper teeth's, less the overbite, dropped
        # by as much as the chin has dropped from where the head carries it (a smile shows them right
        # under the upper teeth, a dropped jaw opens a dark gap); the tongue rises behind them into it
        chin = self.chin @ head[:, :2].T + head[:, 2] - origin
        down = np.array([-head[1, 0], head[0, 0]]) / max(np.hypot(head[0, 0], head[1, 0]), 1e-9)
        drop = max(float((target[CHIN, :2] - origin - chin) @ down), 0.0)
        edge_lo = (edge_up - 0.04 * width + drop)[None, :]
        # A wide-open mouth (an O, a yawn: lips apart by half the mouth's width and more) rolls its
        # lower lip down further than the chin drops, and the lower teeth go with it: in real O mouths
        # they show as a sliver above the lower lip, under the tongue, not under the upper teeth
        # (there they left a flat slab of lip-coloured "inside" filling the opening).
        wide = float(np.clip((opening.max() / width - _WIDE_OPEN[0]) / (_WIDE_OPEN[1] - _WIDE_OPEN[0]), 0.0, 1.0))
        edge_lo = edge_lo + wide * np.maximum(y_lo[None, :] - 0.6 * _LOWER_CROWN * width - edge_lo, 0.0)
        rise = max(min(0.5 * drop, 0.12 * width), wide * 0.4 * float(np.median(edge_lo - edge_up[None, :])))
        dome = edge_lo - rise * np.clip(1.0 - u ** 2, 0.0, 1.0)
        # the tongue: rounded (lit on top in the middle, shaded to its sides), its top edge soft, as
        # the tongue's colour at that lightness (`from_driving`'s)
        soft = max(TONGUE_EDGE * width, 1.0)
        tongue = _smooth((ys - dome) / soft) * side
        tongue_rho = TONGUE_RHO[0] + (TONGUE_RHO[1] - TONGUE_RHO[0]) * np.clip(1.0 - u ** 2, 0.0, 1.0)
        fill = fill + (colours[2] * (tongue_rho / knots[2])[..., None] - fill) * tongue[..., None]
        if not teeth:
            return fill
        # lower teeth (in the lower lip's shadow, each its own) down to their roots; below them the
        # inside of the lip. Riding on a wide-open mouth's lower lip they are mostly under it: real O
        # mouths' lowest row measures 0.6-0.7 of the skin, the tongue's and the lip's lightness; drawn
        # whole, they were a grey crescent round the tongue
        low = _smooth(ys - edge_lo) * _smooth(edge_lo + _LOWER_CROWN * width - ys) * (1.0 - LOWER_TEETH_HIDDEN * wide)
        lower_shade = 0.8 * lit * side * _gaps(_from_gap(u, _LOWER_GAPS, 0.5 * width))
        fill = fill + (c["teeth"] * lower_shade[..., None] - fill) * low[..., None]
        below = _smooth(ys - edge_lo - _LOWER_CROWN * width)
        fill = fill + (colours[2] * (TONGUE_RHO[0] / knots[2] * side)[..., None] - fill) * below[..., None]
        # upper teeth down to their edge, gum above their roots; shaded under the upper lip
        crown_top = edge_up[None, :] - _CROWN * width
        # each tooth's rounded corners lift the edge where two teeth meet: the dark notches along the
        # edge are what reads as separate teeth rather than one slab
        from_gap = _from_gap(u, _UPPER_GAPS, 0.5 * width)
        edge = edge_up[None, :] - _corner_lift(from_gap, _CORNER * width)
        teeth = _smooth(edge - ys) * _smooth(ys - crown_top)
        gum = _smooth(crown_top - ys)
        lip_shadow = 0.88 + 0.12 * np.clip((ys - y_up[None, :]) / (0.06 * width), 0.0, 1.0)
        up_shade = lit * lip_shadow * side * _gaps(from_gap)
        fill = fill + (c["teeth"] * up_shade[..., None] - fill) * teeth[..., None]
        fill = fill + (c["gum"] * (lip_shadow * side)[..., None] - fill) * gum[..., None]
        return fill
