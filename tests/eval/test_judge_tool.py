"""The warp judge's own measures (tools/judge.py): new pure-black pixels, straight-line seams, the
mouth's and chin's errors."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from reenact.faces import detect_faces
from reenact.generate.warp import WarpEngine

_spec = importlib.util.spec_from_file_location("judge", Path(__file__).resolve().parents[2] / "tools" / "judge.py")
judge = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("judge", judge)      # its dataclasses look their module up
_spec.loader.exec_module(judge)


@pytest.fixture(scope="module")
def portrait(astronaut):
    pts = detect_faces([astronaut], video=False).landmarks[0].astype(np.float64)
    return astronaut, pts, float(np.linalg.norm(pts[468, :2] - pts[473, :2]))


def test_new_black_counts_holes_but_not_the_sources_own_black_moved_a_little(portrait):
    image, pts, iod = portrait
    source = image.copy()
    x, y = np.round(pts[1, :2]).astype(int)           # the nose tip: skin, far from anything black
    source[y:y + 4, x - 10:x + 10] = 0                # a black line of the source's own (a lash line)
    moved = source.copy()
    moved[y:y + 3, x - 10:x + 10] = source[y + 4:y + 7, x - 10:x + 10]
    moved[y + 4:y + 7, x - 10:x + 10] = 0             # ... moved 3 px down with the lids (0.07 IOD here)
    assert judge.new_black(moved, source, iod).sum() == 0
    further = source.copy()
    further[y + 12:y + 16, x - 10:x + 10] = 0         # 12 px (0.28 IOD) from any black of the source
    assert judge.new_black(further, source, iod).sum() == 80
    # the same 12 px as the face's own motion (the landmarks moved with it, as in a head turn):
    # the source's lash line carried along, not new; a hole in a moved face still is
    carried = pts.copy()
    carried[:, 1] += 12
    assert judge.new_black(further, source, iod, carried, pts).sum() == 0
    torn = further.copy()
    torn[y + 40:y + 44, x - 3:x + 3] = 0                          # on the upper lip, nothing black behind it
    assert judge.new_black(torn, source, iod, carried, pts).sum() == 24
    hole = source.copy()
    cx, cy = np.round(pts[50, :2]).astype(int)                   # on the cheek
    hole[cy:cy + 6, cx:cx + 6] = 0                                # a torn triangle
    assert judge.new_black(hole, source, iod).sum() == 36
    # a pupil the gaze carried 0.3 IOD across a bright iris is inside the output's iris: not new;
    # the same black just outside that iris still counts
    gaze = image.copy()
    ix, iy = np.round(pts[468, :2]).astype(int)
    gaze[iy - 2:iy + 2, ix - 2:ix + 3] = 0
    looked = pts.copy()
    assert judge.new_black(gaze, image, iod, looked).sum() == 0
    radius = np.linalg.norm(pts[469:473, :2] - pts[468, :2], axis=1).mean()
    looked[468:473, 0] -= 2 * radius + 4                          # the iris moved off that spot
    assert judge.new_black(gaze, image, iod).sum() == 20                 # all 4x5 pixels: iris is bright here
    assert judge.new_black(gaze, image, iod, looked).sum() == 20


def test_a_pasted_patch_is_a_seam_and_a_warped_head_turn_is_not(portrait):
    image, pts, iod = portrait
    x0, y0 = pts[:, :2].min(0).astype(int)
    x1, y1 = pts[:, :2].max(0).astype(int)
    shift = int(0.25 * iod)
    pasted = image.copy()
    pasted[y0:y1, x0:x1] = image[y0 + shift:y1 + shift, x0:x1]    # the face box cut out and moved
    assert len(judge.seam_lines(pasted, image, iod)) > 0
    target = pts.copy()
    target[:, :2] = (pts[:, :2] - pts[1, :2]) @ np.array([[0.99, -0.105], [0.105, 0.99]]).T + pts[1, :2] + (4, -3)
    warped = WarpEngine(image, pts).render(target)                # a 6-degree roll and a small move
    assert len(judge.seam_lines(warped, image, iod, target[judge.FACE_OVAL, :2])) == 0


def test_an_edge_the_face_carried_far_is_not_a_seam_but_a_cut_still_is(portrait):
    image, pts, iod = portrait
    source = image.copy()
    x, y = np.round(pts[9, :2]).astype(int)                      # between the brows: a straight dark bar
    half = int(0.4 * iod)
    source[y - 3:y + 3, x - half:x + half] = 40
    carried = image.copy()
    drop = int(0.3 * iod)                                         # twice the judge's 0.15 reach
    carried[y - 3 + drop:y + 3 + drop, x - half:x + half] = 40    # ... the face moved it down
    moved = pts.copy()
    moved[:, 1] += drop
    assert len(judge.seam_lines(carried, source, iod)) > 0        # proximity alone calls it a cut
    assert len(judge.seam_lines(carried, source, iod, None, moved, pts)) == 0
    # a face box cut out and pasted lower is a cut whatever the landmarks say
    x0, y0 = pts[:, :2].min(0).astype(int)
    x1, y1 = pts[:, :2].max(0).astype(int)
    pasted = image.copy()
    pasted[y0 + drop:y1 + drop, x0:x1] = image[y0:y1, x0:x1]
    assert len(judge.seam_lines(pasted, image, iod, None, moved, pts)) > 0


def test_an_edge_the_picture_moved_beyond_the_landmarks_is_not_a_seam_but_a_cut_there_is(portrait):
    """Hair beyond the face oval has no landmark: a turn moves its edge further than the face's
    nearest landmark says. The picture's own motion (optical flow) brings it from the source's edge;
    a block cut out and pasted there still jumps where neither side came from an edge."""
    image, pts, iod = portrait
    source = image.copy()
    x = int(pts[:, 0].max() + 0.8 * iod)                          # right of the face, clear of its landmarks
    y0, y1 = int(pts[:, 1].min()), int(pts[:, 1].min() + 1.2 * iod)
    source[y0:y1, x:x + 6] = 30                                   # a straight dark edge (a lock of hair)
    shift = 0.4 * iod                                             # moved 0.4 IOD sideways, smoothly
    ys, xs = np.mgrid[:source.shape[0], :source.shape[1]].astype(np.float32)
    bump = np.exp(-(((xs - x) / (1.5 * iod)) ** 2 + ((ys - (y0 + y1) / 2) / (1.5 * iod)) ** 2))
    import cv2
    moved = cv2.remap(source, xs - np.float32(shift) * bump, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    assert len(judge.seam_lines(moved, source, iod, None, pts, pts)) == 0
    pasted = source.copy()                                        # the edge's box cut out and pasted aside
    bx0, bx1 = x - int(0.5 * iod), x + int(0.5 * iod)
    pasted[y0:y1, bx0 + int(shift):bx1 + int(shift)] = source[y0:y1, bx0:bx1]
    assert len(judge.seam_lines(pasted, source, iod, None, pts, pts)) > 0


def test_a_recut_clip_is_judged_shot_by_shot():
    """After a cut to another clip the driving's resting pose and jaw are another person's: the
    judge compares each shot less its own median, so a source that keeps its own rest is right."""
    t = np.arange(20)
    motion = np.sin(t / 2.0)
    driving = motion + np.where(t >= 10, 5.0, 0.0)             # the step is the other person, not motion
    ok, shot = np.ones(20, bool), (t >= 10).astype(int)
    np.testing.assert_allclose(judge.within_shots(driving, ok, shot), judge.within_shots(motion, ok, shot), atol=1e-12)
    assert judge.pearson(motion, driving) < 0.5                 # judged as one shot the step swamps the motion


def test_gaze_amplitude_is_the_irises_share_of_the_drivings_look(portrait):
    """`gaze` is the slope of the output's iris offset (in eye widths) on the driving's: an iris
    moved half as far reads 0.5, whatever the face's size or place."""
    _, pts, _ = portrait
    width = np.linalg.norm(pts[33, :2] - pts[133, :2])
    look = 0.2 * np.sin(np.arange(30) / 3.0)                      # eye widths
    driving = np.repeat(pts[None, :, :2], 30, 0)
    driving[:, 468:478, 0] += look[:, None] * width
    output = 2.0 * np.repeat(pts[None, :, :2], 30, 0) + 40.0      # another size and place
    output[:, 468:478, 0] += 0.5 * look[:, None] * 2.0 * width
    d, o = judge.gaze_offsets(driving), judge.gaze_offsets(output)
    np.testing.assert_allclose(d - d.mean(), look - look.mean(), atol=0.02)   # the eyes' axes are not level
    assert judge.slope(o, d) == pytest.approx(0.5, abs=0.02)
    assert judge.slope(o, np.full(30, 0.1)) is None          # a driving that does not look around


def test_lip_gap_is_the_inner_lips_opening_in_inter_ocular_distances(portrait):
    """`lips_r` correlates the inner-lip gap (in inter-ocular distances, so any size or place
    reads alike): a lower lip dropped by 0.3 inter-ocular distances reads 0.3 more."""
    _, pts, _ = portrait
    iod = np.linalg.norm(pts[468, :2] - pts[473, :2])
    drop = 0.15 * (1 + np.sin(np.arange(30) / 3.0))              # inter-ocular distances
    driving = np.repeat(pts[None, :, :2], 30, 0)
    driving[:, 14, 1] += drop * iod
    output = 1.5 * driving + 25.0                                 # the same mouth at another size and place
    rest = judge.lip_gap(pts[None, :, :2])[0]
    np.testing.assert_allclose(judge.lip_gap(driving) - rest, drop, atol=0.01)
    np.testing.assert_allclose(judge.lip_gap(output), judge.lip_gap(driving), atol=1e-9)
    assert judge.pearson(judge.lip_gap(output), judge.lip_gap(driving)) == pytest.approx(1.0)


def test_the_chin_band_lies_between_the_lower_lip_and_the_chin(portrait):
    """`chin` measures self-reenactment under the lower lip, where an open source's stretched lip
    was once drawn down the chin: the band starts at the lip's contour and stops short of the chin."""
    image, pts, _ = portrait
    mask = judge.chin_mask(pts, image.shape)
    rows, cols = np.nonzero(mask)
    lip, chin = pts[17, 1], pts[152, 1]
    assert mask.sum() > 100
    assert rows.min() >= pts[[61, 291, 17], 1].min() - 1 and rows.max() <= lip + 0.6 * (chin - lip) + 1
    assert not mask[int(round(pts[14, 1])), int(round(pts[14, 0]))]        # not the lips' own opening
    assert mask[int(round(lip + 0.3 * (chin - lip))), int(round(pts[17, 0]))]
    sideways = 0.6 * abs(pts[152, 0] - pts[17, 0]) + 1     # the band slides towards the chin
    assert cols.min() >= pts[61, 0] - sideways and cols.max() <= pts[291, 0] + sideways


def test_the_selfopen_and_selfblink_sources_are_the_clips_most_open_mouth_and_most_closed_eyes(portrait, tmp_path):
    """`selfopen` reenacts a clip from its own most open mouth, `selfblink` from its most closed
    eyes: here the astronaut's jaw drops by 0, 6, 18, 10 and 3 px in turn while her lids close to
    1, 0.7, 1, 0.05 and 0.5 of their opening; the third and the fourth frame are written out."""
    from portrait_helpers import write_test_video
    from reenact.faces.topology import contour
    from reenact.io.images import read_image

    image, pts, _ = portrait
    engine = WarpEngine(image, pts)
    top, chin = pts[13, 1], pts[152, 1]
    below = np.clip((pts[:, 1] - top) / (chin - top), 0, 1)

    def posed(drop: float, lids: float) -> np.ndarray:
        out = pts.copy()
        out[:, 1] += drop * below
        out[14, 1] = out[13, 1] + 0.6 * drop          # the inner lips part as the jaw drops
        for eye, (a, b) in (("right_eye", (33, 133)), ("left_eye", (263, 362))):
            ring = list(contour(eye))
            middle = pts[[a, b], 1].mean()
            out[ring, 1] = middle + lids * (pts[ring, 1] - middle)
        return out

    poses = ((0.0, 1.0), (6.0, 0.7), (18.0, 1.0), (10.0, 0.05), (3.0, 0.5))
    clip = write_test_video(tmp_path / "talk.mp4", [engine.render(posed(*p)) for p in poses for _ in range(3)])
    for most, pose in (("mouth", 2), ("blink", 3)):
        written = tmp_path / f"{most}.png"
        assert judge.write_frame_where(clip, written, most) // 3 == pose
        assert np.abs(read_image(written).astype(int) - engine.render(posed(*poses[pose]))).mean() < 3


def test_eye_dark_counts_new_dark_in_the_eye_regions_only(portrait):
    """`eye_dark`: a closed eye torn open into dark slits adds near-black pixels around the eyes;
    the same paint on the cheek is not counted, nor is the source itself."""
    import cv2

    image, pts, _ = portrait
    eyes = judge.eye_regions(pts, image.shape)
    torn, cheek = image.copy(), image.copy()
    for centre in (468, 473):
        x, y = np.round(pts[centre, :2]).astype(int)
        cv2.ellipse(torn, (x, y), (6, 3), 0, 0, 360, (30, 20, 15), -1)
    x, y = np.round(pts[205, :2]).astype(int)
    cv2.ellipse(cheek, (x, y), (6, 3), 0, 0, 360, (30, 20, 15), -1)
    base = judge.dark_share(image, eyes)
    assert judge.dark_share(torn, eyes) - base > 0.02
    assert judge.dark_share(cheek, eyes) == base


def test_black_moved_with_the_picture_is_explained_by_its_flow_and_a_hole_is_not(portrait):
    import cv2

    image, pts, iod = portrait
    source = image.copy()
    x, y = np.round(pts[10, :2] - (0, 0.6 * iod)).astype(int)        # above the forehead: hair
    source[y - 6:y + 6, x - 15:x + 15] = 0                            # a shadow in it
    # the hair, shadow and all, moved 0.4 inter-ocular distances (a turn moves hair the landmarks
    # do not follow): its black is the source's own
    shift = np.float64([[1, 0, 0.4 * iod], [0, 1, 0]])
    moved = cv2.warpAffine(source, shift, source.shape[1::-1], flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    black = judge.new_black(moved, source, iod)
    assert black.sum() > 20                                           # new to the landmark-only rule ...
    assert judge.unexplained_black(moved, source, black, iod).sum() == 0   # ... explained by the flow
    hole = source.copy()
    cx, cy = np.round(pts[50, :2]).astype(int)                       # a torn triangle on the cheek
    hole[cy:cy + 6, cx:cx + 6] = 0
    black = judge.new_black(hole, source, iod)
    assert judge.unexplained_black(hole, source, black, iod).sum() == 36


def test_the_output_is_read_around_the_face_in_its_own_pixels(portrait, tmp_path):
    """A clip of the astronaut in a canvas three times her picture's size is read from a square
    around her face: her landmarks come back in the canvas's pixels, as the source's are."""
    import cv2

    from reenact.io.writer import write_video

    image, pts, iod = portrait
    h, w = image.shape[:2]
    canvas = cv2.copyMakeBorder(image, h, h, w, w, cv2.BORDER_CONSTANT, value=(90, 100, 110))
    clip = write_video(tmp_path / "padded.mp4", [canvas] * 3, fps=25)
    read = judge.read_around_face(clip, pts + (w, h, 0), canvas.shape[:2])
    assert read.detected.all()
    err = np.linalg.norm(read.landmarks[:, :, :2] - (pts[:, :2] + (w, h)), axis=2).mean(1) / iod
    assert (err < 0.02).all(), err                  # the encoder's loss and MediaPipe's video mode
    # a portrait that fills its picture is read whole
    whole = judge.read_around_face(write_video(tmp_path / "plain.mp4", [image] * 3, fps=25), pts, image.shape[:2])
    assert np.linalg.norm(whole.landmarks[0, :, :2] - pts[:, :2], axis=1).mean() / iod < 0.02


def test_a_camera_motion_variant_is_judged_against_the_face_of_its_plain_clip(tmp_path):
    """A pan pushes the face half out of the picture, where MediaPipe misreads its expression; the
    camera moved, not the face, so the plain clip is the truth for zoom, pan, shake, cut and tilt, and
    only for them (a flipped or mouth-open clip is another driving face)."""
    data, variants = _variant_tree(tmp_path, ("zoom", "pan", "shake", "cut", "tilt", "open", "flip"))
    truth = {p.group: p.truth for p in judge.pairs(data, variants, [])}
    camera = ("zoom", "pan", "shake", "cut", "tilt")
    assert {g: truth[g] for g in camera} == dict.fromkeys(camera, data / "driving" / "d0.mp4")
    assert truth["plain"] is truth["open"] is truth["flip"] is truth["self"] is None


def test_the_full_judge_runs_every_portrait_on_every_variant_against_its_own_plain_pair(tmp_path):
    """Issue 11's figures hold for every shared portrait: `full` judges each variant with each
    portrait, and a camera variant's plain pair (its truth) is that portrait's own."""
    data, variants = _variant_tree(tmp_path, ("zoom", "open"))
    few = {p.name: p for p in judge.pairs(data, variants, []) if p.group in ("zoom", "open")}
    full = {p.name: p for p in judge.pairs(data, variants, [], full=True) if p.group in ("zoom", "open")}
    assert len(few) == 2
    assert sorted(full) == sorted(f"{s}_d0-{k}" for s in ("s1", "s2", "s3") for k in ("zoom", "open"))
    assert {full[f"{s}_d0-zoom"].base for s in ("s1", "s2", "s3")} == {"s1_d0", "s2_d0", "s3_d0"}


def _variant_tree(tmp_path, kinds):
    """Empty stand-ins for ../shared/data (three portraits, clip d0) and d0's `kinds` of variants,
    with the self-reenactment stills the judge would otherwise write from the clip."""
    data, variants = tmp_path / "data", tmp_path / "variants"
    for folder in (data / "source", data / "driving", variants / "driving", variants / "source"):
        folder.mkdir(parents=True)
    for name in ("s1.jpg", "s2.jpg", "s3.jpg"):
        (data / "source" / name).touch()
    (data / "driving" / "d0.mp4").touch()
    for kind in kinds:
        (variants / "driving" / f"d0-{kind}.mp4").touch()
    for tag in ("frame0", "mouthopen", "blink"):
        (variants / "source" / f"d0-{tag}.png").touch()
    return data, variants
