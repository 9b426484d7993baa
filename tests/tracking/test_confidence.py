"""Per-frame confidence: occluded frames are flagged and the expression is held through them."""

from __future__ import annotations

import dataclasses
import logging

import cv2
import numpy as np
import pytest

from reenact.faces.topology import load_canonical_face, mirror_partners
from reenact.tracking.confidence import (covered_eyes, eye_cover, hold_covered_eyes, hold_through, hold_unreliable_frames,
                                        mouth_evidence, unreliable_frames, upper_face_share)
from reenact.tracking.geometry import FLIP_YZ
from reenact.tracking.flame_tracker import clamp_jaw
from reenact.tracking.types import HeadTrack
from tests.portrait_helpers import SHARED_DATA, shared_data


def test_jaw_clamps_follow_smirk():
    jaw = np.array([[-0.08, 0.3, -0.25], [0.2, -0.1, 0.05]])
    np.testing.assert_allclose(clamp_jaw(jaw, 0.2), [[0.0, 0.2, -0.2], [0.2, -0.1, 0.05]])


def test_hold_interpolates_between_good_frames_and_holds_the_ends():
    values = np.array([[0.0], [9.0], [9.0], [3.0], [9.0]])
    flagged = np.array([False, True, True, False, True])
    np.testing.assert_allclose(hold_through(values, flagged)[:, 0], [0, 1, 2, 3, 3])


def test_residual_outliers_and_filled_frames_are_flagged():
    residuals = np.array([2.0, 2.1, 1.9, 2.0, 6.5, 2.05, 1.95, 2.0])
    detected = np.ones(8, bool)
    detected[6] = False
    flagged = unreliable_frames(residuals, detected, None, threshold=3.0)
    assert np.flatnonzero(flagged).tolist() == [4, 6]
    # a small wobble is not an outlier, however tight the clip (the 1 px floor)
    assert not unreliable_frames(residuals.clip(max=2.6), np.ones(8, bool), None, 3.0).any()


# where a patch goes: the landmarks it centres on, its width (x the face's) and height (x its width)
COVER = {"mouth": ([13, 14, 61, 291], 0.6, 0.7), "eyes": ([33, 133, 362, 263], 1.1, 0.41), "eye": ([33, 133], 0.55, 0.75)}


def _occlude(frames, landmarks, first: int, last: int, fingers: bool = False, part: str = "mouth"):
    """Paste a hand-sized, skin-coloured, lightly textured patch over the mouth (or the eyes: `part`)
    of frames first..last; `fingers`: of the face's own cheek colour, with three dark creases
    between four fingers, along the part."""
    out = []
    rng = np.random.default_rng(0)
    anchors, across, high = COVER[part]
    for t, frame in enumerate(frames):
        frame = frame.copy()
        if first <= t <= last:
            centre = landmarks[t, anchors, :2].mean(0)
            width = (landmarks[t, :, 0].max() - landmarks[t, :, 0].min()) * across
            colour = (200, 160, 130)
            if fingers:
                cheeks = np.round(landmarks[t, [50, 280], :2]).astype(int)
                colour = 1.05 * np.median(frame[cheeks[:, 1], cheeks[:, 0]].astype(np.float64), 0)
            patch = np.full((int(width * high), int(width), 3), colour, np.float64)
            for k in range(1, 4) if fingers else ():
                y = int(patch.shape[0] * k / 4)
                patch[y - 1:y + 2] *= 0.8
            patch = cv2.GaussianBlur((patch + rng.normal(0, 8, patch.shape)).clip(0, 255).astype(np.uint8), (5, 5), 0)
            x0, y0 = int(centre[0] - width / 2), int(centre[1] - width * high / 2)
            region = frame[max(y0, 0):y0 + patch.shape[0], max(x0, 0):x0 + patch.shape[1]]
            region[:] = patch[:region.shape[0], :region.shape[1]]
        out.append(frame)
    return out


@pytest.mark.slow
@shared_data
def test_a_hand_over_the_mouth_is_flagged_and_the_expression_held(caplog):
    from reenact.faces import FaceOptions, detect_faces
    from reenact.io.video import iter_frames

    frames = list(iter_frames(SHARED_DATA / "driving" / "d0.mp4", max_frames=30))
    opts = FaceOptions(crop_rule="landmarks")
    clean = detect_faces(frames, 25.0, opts)
    covered = _occlude(frames, clean.landmarks, 10, 19)
    faces = detect_faces(covered, 25.0, opts)
    assert faces.detected.all()          # MediaPipe still reports a confident face: that is the problem
    mouth = mouth_evidence(faces)[0]
    # a stand-in fit whose expression follows MediaPipe (its blendshapes), as a landmark fit does
    n = len(faces)
    fit = HeadTrack("flame", {"expression": faces.blendshapes.copy(), "jaw": np.zeros((n, 3), np.float32)},
                    25.0, faces.image_size, 512, faces.crop_transforms, np.full(n, 2.0, np.float32), {})
    with caplog.at_level(logging.WARNING, logger="reenact"):
        held = hold_unreliable_frames(fit, faces, 3.0, mouth)
    assert np.flatnonzero(held.params["confidence"] == 0).tolist() == list(range(10, 20))
    assert "10, 11, 12, 13, 14, 15, 16, 17, 18, 19" in caplog.text
    before, after = faces.blendshapes[9], faces.blendshapes[20]
    np.testing.assert_allclose(held.params["expression"][14], before + (after - before) * 5 / 11, atol=1e-5)
    np.testing.assert_array_equal(held.params["expression"][:10], faces.blendshapes[:10])


@pytest.mark.slow
@shared_data
def test_the_flame_tracker_flags_a_covered_mouth_and_holds_its_expression(test_head, caplog):
    """The same occlusion through FlameTracker.track with the frames (the synthetic FLAME-format
    head fits the real face): the fitted expression and jaw are interpolated through the covered
    frames instead of following the invented closed mouth."""
    from reenact.faces import FaceOptions, detect_faces
    from reenact.io.video import iter_frames
    from reenact.tracking.flame_tracker import FlameFitSettings, FlameTracker

    frames = list(iter_frames(SHARED_DATA / "driving" / "d0.mp4", max_frames=30))
    opts = FaceOptions(crop_rule="landmarks")
    covered = _occlude(frames, detect_faces(frames, 25.0, opts).landmarks, 10, 19)
    faces = detect_faces(covered, 25.0, opts)
    with caplog.at_level(logging.WARNING, logger="reenact"):
        track = FlameTracker(test_head, FlameFitSettings(device="cpu")).track(faces, frames=lambda: iter(covered))
    flagged = np.flatnonzero(track.params["confidence"] == 0)
    assert set(range(10, 20)) <= set(flagged.tolist()) and len(flagged) <= 12
    good = np.flatnonzero(track.params["confidence"] == 1)
    before, after = good[good < 10].max(), good[good > 19].min()
    for key in ("expression", "jaw"):
        values = track.params[key]
        w = (14 - before) / (after - before)
        np.testing.assert_allclose(values[14], (1 - w) * values[before] + w * values[after], atol=1e-5)
    assert "expression held" in caplog.text


@pytest.mark.slow
@shared_data
def test_the_mesh_tracker_holds_the_expression_through_a_covered_mouth_and_leaves_clean_clips_alone(caplog):
    """The warp engine's tracker: MediaPipe invents a closed mouth under the patch; the pose-free
    landmarks (its expression) are interpolated through those frames instead. Clean clips, whose
    wide-open mouths raise the rigid residual, keep every frame as measured."""
    from reenact.faces import FaceOptions, detect_faces
    from reenact.io.video import iter_frames
    from reenact.tracking.mesh_tracker import MeshTracker

    frames = list(iter_frames(SHARED_DATA / "driving" / "d0.mp4", max_frames=30))
    opts = FaceOptions(crop_rule="landmarks")
    clean = detect_faces(frames, 25.0, opts)
    covered = _occlude(frames, clean.landmarks, 10, 19)
    faces = detect_faces(covered, 25.0, opts)
    plain = MeshTracker().track(dataclasses.replace(faces, mouth=None))    # no mouth signals, no frames: as measured
    with caplog.at_level(logging.WARNING, logger="reenact"):
        held = MeshTracker().track(faces)          # the face stage measured the mouth while it had the frames
    # a track without the signals (an older cache) measures them from the frames instead
    again = MeshTracker().track(dataclasses.replace(faces, mouth=None), frames=lambda: iter(covered))
    np.testing.assert_array_equal(again.params["confidence"], held.params["confidence"])
    flagged = np.flatnonzero(held.params["confidence"] == 0)
    assert set(range(10, 20)) <= set(flagged.tolist()) and len(flagged) <= 12
    assert "expression held" in caplog.text
    good = np.flatnonzero(held.params["confidence"] == 1)
    before, after = good[good < 10].max(), good[good > 19].min()
    w = (14 - before) / (after - before)
    canonical, measured = held.params["canonical"], plain.params["canonical"]
    np.testing.assert_allclose(canonical[14], (1 - w) * measured[before] + w * measured[after], atol=1e-5)
    np.testing.assert_array_equal(canonical[good], measured[good])
    for key in ("rotation", "translation", "scale"):           # the head still moves as measured
        np.testing.assert_array_equal(held.params[key], plain.params[key])
    # the covered frames' lips: measured shut (the invented mouth), held near the open neighbours
    gap = lambda c: float(np.linalg.norm(c[14] - c[13]))
    assert gap(canonical[14]) > gap(measured[14]) + 0.1

    for clip in ("d11", "d19"):   # their rigid residual flags 5 and 16 frames; the mouth check none
        frames = list(iter_frames(SHARED_DATA / "driving" / f"{clip}.mp4", max_frames=120))
        faces = detect_faces(frames, 25.0, opts)
        assert MeshTracker().track(faces).params["confidence"].all()


@pytest.mark.slow
@shared_data
def test_fingers_over_the_mouth_keep_its_edges_but_not_the_lips_colour():
    """Creases between fingers keep the mouth box full of edges, so the detail signal misses most
    of the covered frames on d18; the lips' colour (redder than the cheeks; a hand is not) does not."""
    from reenact.faces import FaceOptions, detect_faces
    from reenact.io.video import iter_frames

    frames = list(iter_frames(SHARED_DATA / "driving" / "d18.mp4", max_frames=30))
    opts = FaceOptions(crop_rule="landmarks")
    covered = _occlude(frames, detect_faces(frames, 25.0, opts).landmarks, 10, 19, fingers=True)
    faces = detect_faces(covered, 25.0, opts)
    detail, lips = mouth_evidence(faces)
    by_detail = unreliable_frames(None, faces.detected, faces.blendshapes, 0.0, detail)
    assert by_detail[10:20].sum() < 5
    flagged = unreliable_frames(None, faces.detected, faces.blendshapes, 0.0, detail, lips=lips)
    assert np.flatnonzero(flagged).tolist() == list(range(10, 20))
    # a greyscale clip has no lip colour to go by: the colour signal stays silent
    grey = [np.repeat(f.mean(-1, keepdims=True).astype(np.uint8), 3, -1) for f in frames]
    _, grey_lips = mouth_evidence(detect_faces(grey, 25.0, opts))
    assert not unreliable_frames(None, np.ones(30, bool), None, 0.0, lips=grey_lips).any()


def test_covered_eyes_need_one_eye_hidden_and_the_other_dimmed():
    eyes = np.ones((12, 2, 2))                  # (frame, eye, [detail, dark contrast]) at their medians
    eyes[2] = [[0.45, 0.8], [0.5, 0.85]]        # a blink: less detail, the lash line still dark
    eyes[4] = [[0.3, 0.3], [0.45, 0.7]]         # a hand: one box all hand, the other crossed by its edge
    eyes[5] = [[0.2, 0.2], [0.2, 0.25]]         # both wholly covered
    eyes[7] = [[0.2, 0.2], [1.0, 1.0]]          # one eye alone hidden (a lock of hair), the other clear
    eyes[9] = [[np.nan, np.nan], [0.2, 0.2]]    # one eye past the picture's edge: it says nothing
    eyes[10] = [[0.3, 0.6], [0.3, 0.6]]         # both dim, their lash lines dark: a squint in shade
    assert np.flatnonzero(covered_eyes(eyes)).tolist() == [4, 5]
    assert covered_eyes(None) is None and eye_cover(None) is None
    # the lock of hair's frame shows the other eye alone
    assert eye_cover(eyes)[1].tolist() == [-1] * 7 + [0] + [-1] * 4


def test_a_stretch_that_hides_one_eye_is_taken_whole_the_other_may_blink_in_it():
    eyes = np.ones((40, 2, 2))
    eyes[3:11, 1] = 0.25                        # a hand over the right eye for eight frames...
    eyes[6] = [[0.55, 0.9], [0.25, 0.25]]       # ...while the left one blinks (less detail)
    eyes[14:18] = [[0.45, 0.7], [0.2, 0.2]]     # a hand over both, one eye's box crossed by its edge
    eyes[15, 0] = 0.9                           # ...its edge off the box for a frame
    neither, alone = eye_cover(eyes)
    assert np.flatnonzero(alone == 1).tolist() == list(range(3, 11)) and not (alone == 0).any()
    assert np.flatnonzero(neither).tolist() == [14, 15, 16, 17]


def _one_eye_track(n: int = 20):
    """A still canonical face (with irises at the eyes' middles) that MediaPipe read under a hand over
    the right eye in frames 6-13: the hidden side's lids shut by 0.3 cm and the shown side's by 0.1
    (its pull on the shown eye), the shown eye blinking (0.5 cm) in frame 9 and looking right
    (0.2 cm) in frames 10-11."""
    from types import SimpleNamespace

    from reenact.faces.topology import contour

    mesh = load_canonical_face()["vertices"].astype(np.float64) @ FLIP_YZ
    irises = [np.repeat(mesh[list(contour(eye))].mean(0, keepdims=True), 5, 0) for eye in ("right_eye", "left_eye")]
    canonical = np.repeat(np.concatenate([mesh, *irises])[None], n, 0)           # 468-472 right, 473-477 left
    rest = canonical.copy()
    shown_lid, hidden_lid = 386, 159                                               # upper lids: left (x > 0), right
    canonical[6:14, hidden_lid, 1] += 0.3
    canonical[6:14, shown_lid, 1] += 0.1
    canonical[9, shown_lid, 1] += 0.5
    canonical[10:12, 473:478, 0] += 0.2
    eyes = np.ones((n, 2, 2))
    eyes[6:14, 1] = 0.2
    track = HeadTrack("mesh", {"canonical": canonical.astype(np.float32)}, 25.0, (512, 512), 512,
                      np.zeros((n, 2, 3), np.float32), np.ones(n, np.float32), {})
    return track, SimpleNamespace(eyes=eyes, cuts=None), rest, (shown_lid, hidden_lid)


def test_through_a_hand_over_one_eye_both_eyes_follow_the_one_shown(caplog):
    track, faces, rest, (shown_lid, hidden_lid) = _one_eye_track()
    assert mirror_partners()[shown_lid] == hidden_lid
    with caplog.at_level(logging.WARNING, logger="reenact"):
        held = hold_covered_eyes(track, faces).params["canonical"]
    assert "8 frame(s) show one eye only" in caplog.text and "6, 7, 8, 9, 10, 11, 12, 13" in caplog.text
    lids = held[:, [shown_lid, hidden_lid], 1] - rest[:, [shown_lid, hidden_lid], 1]
    # MediaPipe's squint and its pull on the shown eye are gone; the shown eye's blink shuts both
    np.testing.assert_allclose(lids[[6, 7, 8, 10, 13]], 0.0, atol=1e-5)
    np.testing.assert_allclose(lids[9], [0.5, 0.5], atol=1e-5)
    # both irises look right with the shown one
    np.testing.assert_allclose(held[10, 468:478, 0] - rest[10, 468:478, 0], 0.2, atol=1e-5)
    np.testing.assert_allclose(held[8, 468:478, 0] - rest[8, 468:478, 0], 0.0, atol=1e-5)
    # the lower face and the frames that show both eyes are MediaPipe's
    share = upper_face_share()
    np.testing.assert_array_equal(held[:, share == 0], track.params["canonical"][:, share == 0])
    np.testing.assert_array_equal(np.delete(held, range(6, 14), 0), np.delete(track.params["canonical"], range(6, 14), 0))
    # the share held: the brows, lids and irises wholly, the lips and chin not at all
    share = upper_face_share()
    assert share.shape == (478,) and (share[[105, 334, 159, 386, 468, 473]] == 1).all()
    assert (share[[13, 14, 61, 291, 152]] == 0).all() and 0 < share[4] < 1      # the nose's tip between


@pytest.mark.slow
@shared_data
def test_the_mesh_tracker_holds_brows_and_lids_through_a_hand_over_the_eyes_and_the_mouth_still_speaks(caplog):
    """MediaPipe guesses lids and brows under a hand over the eyes (on d11: a squint); the upper face
    of the pose-free landmarks is interpolated through those frames, the lips still follow."""
    from reenact.faces import FaceOptions, detect_faces
    from reenact.io.video import iter_frames
    from reenact.tracking.mesh_tracker import MeshTracker

    frames = list(iter_frames(SHARED_DATA / "driving" / "d11.mp4", max_frames=30))
    opts = FaceOptions(crop_rule="landmarks")
    clean = detect_faces(frames, 25.0, opts)
    assert not covered_eyes(clean.eyes).any()
    covered = _occlude(frames, clean.landmarks, 10, 19, fingers=True, part="eyes")
    faces = detect_faces(covered, 25.0, opts)
    assert faces.detected.all()          # MediaPipe still reports a confident face
    assert np.flatnonzero(covered_eyes(faces.eyes)).tolist() == list(range(10, 20))
    measured = MeshTracker().track(dataclasses.replace(faces, eyes=None)).params["canonical"]
    with caplog.at_level(logging.WARNING, logger="reenact"):
        held = MeshTracker().track(faces).params["canonical"]
    assert "show neither eye" in caplog.text and "10, 11, 12, 13, 14, 15, 16, 17, 18, 19" in caplog.text
    share = upper_face_share()
    upper, lower = share == 1, share == 0
    np.testing.assert_allclose(held[14][upper], (measured[9] + (measured[20] - measured[9]) * 5 / 11)[upper], atol=1e-5)
    np.testing.assert_array_equal(held[:, lower], measured[:, lower])
    np.testing.assert_array_equal(np.delete(held, range(10, 20), 0), np.delete(measured, range(10, 20), 0))
    # the eyes' opening (upper lid to lower, both eyes): MediaPipe's squint under the hand, held open
    opening = lambda c: (np.linalg.norm(c[:, 159] - c[:, 145], axis=-1) + np.linalg.norm(c[:, 386] - c[:, 374], axis=-1))
    around = opening(measured[[9, 20]]).mean()
    assert opening(measured[12:18]).mean() < 0.8 * around
    assert opening(held[12:18]).min() > 0.9 * opening(measured[[9, 20]]).min()


@pytest.mark.slow
@shared_data
def test_the_mesh_tracker_opens_both_eyes_under_a_hand_over_one_of_them(caplog):
    """Under a hand over one eye MediaPipe shuts that eye halfway and narrows the other (d11); both
    follow the eye shown, about the level of the frames around the hand."""
    from reenact.faces import FaceOptions, detect_faces
    from reenact.io.video import iter_frames
    from reenact.tracking.mesh_tracker import MeshTracker

    frames = list(iter_frames(SHARED_DATA / "driving" / "d11.mp4", max_frames=30))
    opts = FaceOptions(crop_rule="landmarks")
    clean = detect_faces(frames, 25.0, opts)
    assert (eye_cover(clean.eyes)[1] == -1).all()
    faces = detect_faces(_occlude(frames, clean.landmarks, 10, 19, fingers=True, part="eye"), 25.0, opts)
    neither, alone = eye_cover(faces.eyes)
    assert not neither.any() and np.flatnonzero(alone == 1).tolist() == list(range(10, 20))
    measured = MeshTracker().track(dataclasses.replace(faces, eyes=None)).params["canonical"]
    with caplog.at_level(logging.WARNING, logger="reenact"):
        held = MeshTracker().track(faces).params["canonical"]
    assert "show one eye only" in caplog.text and "10, 11, 12, 13, 14, 15, 16, 17, 18, 19" in caplog.text
    truth = MeshTracker().track(clean).params["canonical"]
    opening = lambda c: np.stack([np.linalg.norm(c[:, 159] - c[:, 145], axis=-1),      # right eye, hidden
                                  np.linalg.norm(c[:, 386] - c[:, 374], axis=-1)], 1)    # left eye, shown
    assert (opening(measured[12:18]).mean(0) < [0.6, 0.9] * opening(truth[12:18]).mean(0)).all()
    np.testing.assert_allclose(opening(held[12:18]).mean(0), opening(truth[12:18]).mean(0), rtol=0.1)
    share = upper_face_share()
    np.testing.assert_array_equal(held[:, share == 0], measured[:, share == 0])
