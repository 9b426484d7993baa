"""A cheek a turn brings into view takes its fine detail from its mirror image (warp_reveal.py)."""

import cv2
import numpy as np
import pytest

from reenact.faces import detect_faces
from reenact.faces.topology import contour, face_triangles
from reenact.generate.warp import _backward_map
from reenact.generate.warp_affine import triangle_affines
from reenact.generate.warp_creases import largest_stretch
from reenact.generate.warp_reveal import BROWS, REVEAL_STRETCH, RevealedSkin

SKIN = np.array([200, 150, 130], np.float32)
SQUEEZE = 0.4     # the source's left cheek, as a turned head shows it: 0.4 of its width
TURN = 30.0       # degrees: what a squeeze to 0.4 stands for (cos 66 -> cos 36)
ENLARGE = 3       # the astronaut's face is 110 px wide: her landmarks three times as far apart
SIZE = 512 * ENLARGE


@pytest.fixture(scope="module")
def turned(astronaut):
    """A turned face: the astronaut's landmarks with everything left of the nose squeezed to
    SQUEEZE of its width (the source), and as they are (the target: the head turned back, that
    cheek 2.5 times as wide). The source is skin with vertical stripes 4 px apart (pores, grain),
    as fine on the squeezed side as on the other."""
    points = ENLARGE * detect_faces([astronaut], video=False).landmarks[0][:, :2].astype(np.float64)
    middle = points[1, 0]
    source_points = points.copy()
    left = points[:, 0] < middle
    source_points[left, 0] = middle + SQUEEZE * (points[left, 0] - middle)
    x = np.arange(SIZE, dtype=np.float32)
    stripes = 12.0 * np.sign(np.sin(2 * np.pi * x / 4 + 0.3))
    image = np.clip(SKIN[None, None] + stripes[None, :, None], 0, 255).astype(np.uint8).repeat(SIZE, 0)
    return image, source_points, points


def _render(image, source_points, target, mirrored: bool):
    """The face triangles' warp of `image` to `target` over the whole picture, with the
    revealed skin's detail drawn when `mirrored`; and the weight it used."""
    skin = RevealedSkin(image, source_points, face_triangles())
    order = np.arange(len(skin.tris))
    roi = (0, 0, SIZE, SIZE)
    affines = triangle_affines(target, source_points, skin.tris)
    map_x, map_y, moved, _ = _backward_map(target, source_points, skin.tris, (0, 0), (SIZE, SIZE))
    region = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    weight = skin.weight(affines, order, target, roi, TURN)
    if mirrored and weight is not None:
        def drawn(src, tris, origin, box):
            map_x, map_y = _backward_map(target, src, tris, origin, box)[:2]
            return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        skin.draw(region, weight * moved, target, order, roi, map_x, map_y, drawn)
    return region, weight


def _cheek(points: np.ndarray) -> tuple[slice, slice]:
    """A box on the left cheek of `points`: under the eye's outer corner, above the mouth's."""
    x0, x1 = points[234, 0] + 18, points[33, 0] - 6
    y0, y1 = points[33, 1] + 36, points[61, 1] - 18
    return slice(int(y0), int(y1)), slice(int(x0), int(x1))


def _stripe_contrast(region: np.ndarray, box) -> float:
    """Mean |horizontal second difference| of the green channel in `box`: the 4 px stripes'
    contrast (a stretched stripe is wide and smooth, and its second difference small)."""
    patch = region[box][..., 1].astype(np.float32)
    return float(np.abs(np.diff(patch, 2, axis=1)).mean())


def test_a_cheek_turned_into_view_keeps_its_fine_detail_from_its_mirror(turned):
    image, source_points, target = turned
    box = _cheek(target)
    assert box[1].stop - box[1].start >= 12 and box[0].stop - box[0].start >= 12
    stretched, weight = _render(image, source_points, target, mirrored=False)
    drawn, _ = _render(image, source_points, target, mirrored=True)
    source_contrast = _stripe_contrast(image, box)
    # stretched 2.5x the stripes are 10 px apart and their fine contrast mostly gone
    assert _stripe_contrast(stretched, box) < 0.35 * source_contrast
    assert weight[box].min() > 0.85
    # a head drawn nearly as turned as the source takes nothing (talking stretches slivers as much)
    affines = triangle_affines(target, source_points, face_triangles())
    skin = RevealedSkin(image, source_points, face_triangles())
    assert skin.weight(affines, np.arange(len(affines)), target, (0, 0, SIZE, SIZE), 7.0) is None
    # drawn with its mirror's detail, the cheek has the source's 4 px stripes again
    assert _stripe_contrast(drawn, box) > 0.7 * source_contrast
    # and its own colour: the smooth band is the stretched cheek's
    assert np.abs(drawn[box].astype(float).mean((0, 1)) - stretched[box].astype(float).mean((0, 1))).max() < 3.0


def test_a_mirror_cheek_under_hair_gives_no_detail(turned):
    image, source_points, target = turned
    covered = image.copy()
    # dark strands over the other cheek (from the eye's outer corner to the face's side), as hair
    # falling over it: far stronger detail than the skin's
    x0, x1 = int(source_points[263, 0]), int(source_points[454, 0]) + 30
    y0, y1 = int(source_points[263, 1]) - 30, int(source_points[291, 1]) + 30
    covered[y0:y1, x0:x1:5] = 40
    covered[y0:y1, x0 + 1:x1:5] = 60
    box = _cheek(target)
    stretched, weight = _render(covered, source_points, target, mirrored=False)
    drawn, _ = _render(covered, source_points, target, mirrored=True)
    assert weight[box].min() > 0.85                      # the cheek is stretched as before...
    assert np.abs(drawn[box].astype(int) - stretched[box]).max() <= 1    # ...but hair is not its detail


def test_the_unturned_side_and_the_features_keep_their_own_drawing(turned):
    image, source_points, target = turned
    stretched, weight = _render(image, source_points, target, mirrored=False)
    drawn, _ = _render(image, source_points, target, mirrored=True)
    right = np.zeros((SIZE, SIZE), bool)
    right[:, int(target[1, 0]) + 20:] = True
    assert np.array_equal(drawn[right], stretched[right])
    # the eyes, lips and brows are never mirrored (a face is least symmetric there)
    for ids in (list(contour("left_eye")) + list(contour("right_eye")), list(contour("lips_outer")), list(BROWS)):
        centre = np.round(target[ids].mean(0)).astype(int)
        assert weight[centre[1], centre[0]] < 0.05


def test_a_talking_face_or_one_turned_further_away_takes_nothing(turned):
    image, source_points, frontal = turned
    # a frontal face's jaw dropping stretches both sides of its chin alike: the mirror has no more
    skin = RevealedSkin(image, frontal, face_triangles())
    order = np.arange(len(skin.tris))
    talking = frontal.copy()
    talking[[14, 17, 152, 175, 199, 200, 18], 1] += 30.0
    affines = triangle_affines(talking, frontal, skin.tris)
    assert largest_stretch(affines)[skin.usable].max() > REVEAL_STRETCH[0]    # some skin is stretched
    assert skin.weight(affines, order, talking, (0, 0, SIZE, SIZE), TURN) is None
    # the turned face turned further towards its squeezed side: nothing is stretched to reveal
    skin = RevealedSkin(image, source_points, face_triangles())
    further = source_points.copy()
    middle = source_points[1, 0]
    further[:, 0] = np.where(further[:, 0] < middle, middle + 0.8 * (further[:, 0] - middle),
                             middle + 1.3 * (further[:, 0] - middle))
    affines = triangle_affines(further, source_points, skin.tris)
    assert skin.weight(affines, order, further, (0, 0, SIZE, SIZE), TURN) is None


def _yawed(points: np.ndarray, degrees: float) -> np.ndarray:
    """(N, 3) landmarks turned `degrees` of yaw about the point between the face's sides, at their
    depth (the warp engine's pivot), seen orthographically."""
    from scipy.spatial.transform import Rotation

    pivot = np.r_[points[[234, 454], :2].mean(0), points[[234, 454], 2].mean()]
    turn = Rotation.from_euler("y", degrees, degrees=True).as_matrix()
    return (points - pivot) @ turn.T + pivot


def test_the_engine_draws_a_cheek_turned_into_view_with_its_mirrors_detail(astronaut, monkeypatch):
    """A source turned 10 degrees, drawn turned 20 degrees the other way: the cheek it showed at a
    grazing angle comes into view. With the mirror's detail it has the skin's stripes; without,
    they are stretched into a smooth band."""
    from reenact.generate.warp import WarpEngine

    points = ENLARGE * detect_faces([astronaut], video=False).landmarks[0].astype(np.float64)
    source_points, target = _yawed(points, 10.0), _yawed(points, -20.0)
    x = np.arange(SIZE, dtype=np.float32)
    image = np.clip(SKIN[None, None] + 12.0 * np.sign(np.sin(2 * np.pi * x / 4 + 0.3))[None, :, None], 0, 255)
    image = image.astype(np.uint8).repeat(SIZE, 0)
    engine = WarpEngine(image, source_points)
    drawn = engine.render(target)
    assert abs(engine.last_turn) > 25.0       # drawn turned back all the way (the source is turned < 15)
    monkeypatch.setattr(engine.revealed, "weight", lambda *args: None)
    stretched = engine.render(target)
    # the cheek the turn brings into view: where the two drawings differ most
    differs = np.abs(drawn.astype(int) - stretched).max(-1) > 0
    assert differs.sum() > 2000
    ys, xs = np.nonzero(differs)
    box = (slice(int(np.percentile(ys, 35)), int(np.percentile(ys, 65))),
           slice(int(np.percentile(xs, 35)), int(np.percentile(xs, 65))))
    assert _stripe_contrast(drawn, box) > 2.0 * _stripe_contrast(stretched, box)
    # which is the side the source squeezed: it lay closer to the nose there than on the other side
    side = np.sign(np.mean(xs) - target[1, 0])
    near, far = (454, 234) if side > 0 else (234, 454)
    assert abs(source_points[near, 0] - source_points[1, 0]) < abs(source_points[far, 0] - source_points[1, 0])


def test_the_mirrors_detail_is_no_stronger_than_this_sides_own_source(turned):
    """A statue's dark patches on one cheek are not the other's: where the side a turn reveals is
    smooth in the source, the mirror's stripes come in no stronger than OWN_DETAIL times the
    skin's floor, not at their own strength."""
    image, source_points, target = turned
    smooth = image.copy()
    left = slice(0, int(source_points[1, 0]) - 10)
    smooth[:, left] = SKIN.astype(np.uint8)                 # the squeezed cheek shows no detail
    box = _cheek(target)
    striped, _ = _render(image, source_points, target, mirrored=True)
    drawn, weight = _render(smooth, source_points, target, mirrored=True)
    assert weight[box].min() > 0.85
    # the face's skin (its median) is the right side's stripes: the floor lets in 0.75 of them
    print("CC", _stripe_contrast(drawn, box) / _stripe_contrast(striped, box))
    assert 0.5 * _stripe_contrast(striped, box) < _stripe_contrast(drawn, box) < 0.85 * _stripe_contrast(striped, box)
