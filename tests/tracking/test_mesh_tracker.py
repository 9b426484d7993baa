"""The FLAME-free MediaPipe-mesh tracker: similarity pose plus pose-free canonical landmarks."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from reenact.errors import NoFaceError
from reenact.faces.types import FaceTrack
from reenact.tracking import HeadTrack, track
from reenact.tracking.geometry import rotation_angle_deg, rotvec_to_matrix
from reenact.tracking.mesh_tracker import MeshSettings, MeshTracker, canonical_reference


def canonical_with_expression(mouth_open: np.ndarray) -> np.ndarray:
    """(T, 478, 3) canonical faces (image axes, cm): the lower face drops by mouth_open cm; irises
    at the eye centres."""
    ref, _ = canonical_reference()
    faces = np.repeat(ref[None], len(mouth_open), axis=0)
    below_mouth = 1 / (1 + np.exp(-(ref[:, 1] - 4.2) / 0.3))        # y grows downward in image axes
    faces[:, :, 1] += mouth_open[:, None] * below_mouth[None]
    eyes = [ref[[33, 133, 159, 145]].mean(0), ref[[362, 263, 386, 374]].mean(0)]
    iris = []
    for centre in eyes:
        iris += [centre, centre + [0.5, 0, 0], centre + [0, -0.5, 0], centre + [-0.5, 0, 0], centre + [0, 0.5, 0]]
    iris = np.repeat(np.asarray(iris)[None], len(mouth_open), axis=0)
    return np.concatenate([faces, iris], axis=1)


def posed_face_track(canonical: np.ndarray, rotvec: np.ndarray, scale: np.ndarray, trans: np.ndarray,
                     noise_px: float, seed: int) -> FaceTrack:
    rng = np.random.default_rng(seed)
    crop = scale[:, None, None] * np.einsum("tij,tnj->tni", rotvec_to_matrix(rotvec), canonical) + trans[:, None]
    crop = crop + rng.normal(0, noise_px, crop.shape)
    n = len(canonical)
    ident = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (n, 1, 1))
    return FaceTrack(landmarks=crop.astype(np.float32), blendshapes=np.zeros((n, 52), np.float32),
                     transforms=np.zeros((n, 4, 4), np.float32), boxes=np.zeros((n, 4), np.float32),
                     crop_transforms=ident.astype(np.float32), detected=np.ones(n, bool),
                     image_size=(512, 512), crop_size=512, fps=30.0)


def moving_pose(n: int, seed: int):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    euler = np.stack([np.radians(15) * np.sin(t / 9 + rng.uniform(0, 6)),      # pitch
                      np.radians(40) * np.sin(t / 7 + rng.uniform(0, 6)),      # yaw
                      np.radians(12) * np.sin(t / 11 + rng.uniform(0, 6))], 1)  # roll
    rotvec = Rotation.from_euler("XYZ", euler).as_rotvec()
    scale = 12 + np.sin(t / 13)
    trans = np.stack([256 + 10 * np.sin(t / 10), 250 + 8 * np.cos(t / 12), 5 * np.sin(t / 8)], 1)
    return rotvec, scale, trans


def test_pose_and_pose_free_landmarks_are_recovered():
    n = 60
    mouth = 0.6 * (1 + np.sin(np.arange(n) / 5))
    rotvec, scale, trans = moving_pose(n, seed=0)
    canonical = canonical_with_expression(mouth)
    face_track = posed_face_track(canonical, rotvec, scale, trans, noise_px=1.0, seed=0)
    result = MeshTracker(MeshSettings(pose_sigma=0.0)).track(face_track)
    rot_err = rotation_angle_deg(rotvec_to_matrix(result.params["rotation"]), rotvec_to_matrix(rotvec))
    print(f"mesh: rotation error median {np.median(rot_err):.2f} deg, max {rot_err.max():.2f}")
    assert np.median(rot_err) < 0.3 and rot_err.max() < 0.6
    np.testing.assert_allclose(result.params["scale"], scale, rtol=0.01)
    np.testing.assert_allclose(result.params["translation"][:, :2], trans[:, :2], atol=1.0)
    # the expression survives in canonical space, independent of the head pose
    chin = result.params["canonical"][:, 152, 1] - result.params["canonical"][:, 10, 1]
    truth = canonical[:, 152, 1] - canonical[:, 10, 1]
    assert np.corrcoef(chin, truth)[0, 1] > 0.97
    assert np.abs(chin - truth).max() < 0.5   # cm; 1 px noise is about 0.1 cm here
    # the rigid-fit residual measures the landmark noise: 1 px per axis is sqrt(3) px in 3D
    assert np.median(result.residuals) == pytest.approx(np.sqrt(3) * 1.0, rel=0.1)


def test_still_head_gives_still_pose():
    n = 40
    one = moving_pose(1, seed=3)
    rotvec, scale, trans = (np.repeat(x, n, axis=0) for x in one)
    face_track = posed_face_track(canonical_with_expression(np.zeros(n)), rotvec, scale, trans, noise_px=1.0, seed=3)
    result = MeshTracker().track(face_track)
    rot = rotvec_to_matrix(result.params["rotation"])
    turn = rotation_angle_deg(rot[1:], rot[:-1])
    move = np.linalg.norm(np.diff(result.params["translation"][:, :2], axis=0), axis=1)
    print(f"mesh still: rotation jitter {turn.mean():.3f} deg, translation jitter {move.mean():.3f} px")
    assert turn.mean() < 0.1 and turn.max() < 0.2     # degrees
    assert move.mean() < 0.1 and move.max() < 0.25    # px, against about 1.4 px of landmark jitter


def test_missing_frames_are_interpolated_and_all_missing_is_no_face():
    n = 12
    rotvec, scale, trans = moving_pose(n, seed=4)
    face_track = posed_face_track(canonical_with_expression(np.zeros(n)), rotvec, scale, trans, noise_px=0.5, seed=4)
    face_track.landmarks[5] = np.nan
    result = MeshTracker(MeshSettings(pose_sigma=0.0)).track(face_track)
    assert all(np.isfinite(v).all() for v in result.params.values())
    assert rotation_angle_deg(rotvec_to_matrix(result.params["rotation"][5]), rotvec_to_matrix(rotvec[5])) < 3.0
    face_track.landmarks[:] = np.nan
    with pytest.raises(NoFaceError):
        MeshTracker().track(face_track)


def test_mesh_track_round_trips_with_the_config_settings(tmp_path):
    from reenact.config import load_config

    n = 6
    rotvec, scale, trans = moving_pose(n, seed=5)
    face_track = posed_face_track(canonical_with_expression(np.zeros(n)), rotvec, scale, trans, noise_px=0.5, seed=5)
    result = track(face_track, "mesh", load_config(overrides=["tracking.mesh.pose_sigma=0.5"]))
    assert result.backend == "mesh" and result.params["canonical"].shape == (n, 478, 3)
    result.save(tmp_path / "m.npz")
    back = HeadTrack.load(tmp_path / "m.npz")
    for k, v in result.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    np.testing.assert_array_equal(back.residuals, result.residuals)


def test_tracks_give_a_typed_view_of_their_geometry():
    from reenact.errors import InputError
    from reenact.tracking.types import MeshParams

    n = 3
    rotvec, scale, trans = moving_pose(n, seed=6)
    head = MeshTracker().track(posed_face_track(canonical_with_expression(np.zeros(n)), rotvec, scale, trans, noise_px=0.5, seed=6))
    view = head.typed()
    assert isinstance(view, MeshParams) and view.canonical.shape == (n, 478, 3) and view.scale.shape == (n,)
    del head.params["scale"]
    with pytest.raises(InputError, match="lacks its 'scale' parameters"):
        head.typed()


def test_working_a_block_at_a_time_changes_nothing(monkeypatch):
    """Long clips are tracked a block of frames (pose) or points (shape) at a time so that no
    float64 copy of the whole clip's landmarks exists (issue 15); the results must be the same to
    the bit, gaps filled across block edges included."""
    import reenact.tracking.mesh_tracker as mesh_tracker

    n = 40
    rotvec, scale, trans = moving_pose(n, seed=3)
    face_track = posed_face_track(canonical_with_expression(0.5 * (1 + np.sin(np.arange(n) / 4))), rotvec, scale,
                                  trans, noise_px=0.7, seed=3)
    face_track.landmarks[[0, 6, 7, 8, 20, 39]] = np.nan          # gaps at both ends and across block edges
    whole = MeshTracker().track(face_track)
    monkeypatch.setattr(mesh_tracker, "FRAME_BLOCK", 7)
    monkeypatch.setattr(mesh_tracker, "POINT_BLOCK", 5)
    blocks = MeshTracker().track(face_track)
    assert whole.params.keys() == blocks.params.keys()
    for name in whole.params:
        np.testing.assert_array_equal(blocks.params[name], whole.params[name])
    np.testing.assert_array_equal(blocks.residuals, whole.residuals)
    assert np.isfinite(blocks.params["canonical"]).all() and blocks.meta["valid_frames"] == str(n - 6)


def test_the_half_of_a_face_past_the_pictures_edge_moves_as_its_mirror_image():
    """A pan pushed the driving's face half out of the picture: MediaPipe guessed the half it could
    not see, and its guess followed the expression poorly (d0-pan's grin 10 % narrower than d0's).
    Each point past the edge now moves as its partner across the face's middle moves."""
    from reenact.faces.visibility import seen_share
    from reenact.tracking.completion import complete_from_mirror

    n = 40
    grin = 0.6 * np.sin(np.linspace(0, 3 * np.pi, n)) ** 2                # cm, each corner outward
    true = canonical_with_expression(np.zeros(n))
    corners = [61, 291]
    true[:, corners, 0] += grin[:, None] * np.sign(true[0, corners, 0])[None]
    scale, shift = 20.0, np.array([512.0, 256.0, 0.0])                    # the face's middle on the right edge
    hidden = true[0, :, 0] * scale + shift[0] > 512
    observed = true.copy()
    observed[:, hidden] = true[:1, hidden]                                 # the guessed half: no grin
    faces = posed_face_track(observed, np.zeros((n, 3)), np.full(n, scale), np.tile(shift, (n, 1)), 0.0, 0)
    canonical = MeshTracker(MeshSettings(pose_sigma=0.0, canonical_sigma=0.0)).track(faces).params["canonical"]
    cut, seen_corner = [c for c in corners if hidden[c]], [c for c in corners if not hidden[c]]
    assert len(cut) == 1 and len(seen_corner) == 1
    width = canonical[:, cut[0], 0] - canonical[:, seen_corner[0], 0]
    true_width = true[:, cut[0], 0] - true[:, seen_corner[0], 0]
    assert np.corrcoef(width, true_width)[0, 1] > 0.99
    assert np.ptp(width) == pytest.approx(np.ptp(true_width), rel=0.1)    # was half of it: one corner moved

    # a face cut only while it grins (a pan at the middle of a clip that smiles there): the cut
    # corner's rest comes from the neutral frames that show it, and its partner's from the same
    # frames, not from all of the partner's (a median half way into the grin: the cut half stayed
    # nearly shut, d0-pan's cut lips 0.33 cm apart against 1.41 cm on d0)
    neutral = 12
    grin_late = np.r_[np.zeros(neutral), 0.6 * np.sin(np.linspace(0, 2 * np.pi, n - neutral)) ** 2]
    true = canonical_with_expression(np.zeros(n))
    true[:, corners, 0] += grin_late[:, None] * np.sign(true[0, corners, 0])[None]
    shifts = np.tile(shift, (n, 1))
    shifts[:neutral, 0] = 256.0                                            # the face in the picture
    observed = true.copy()
    observed[neutral:, hidden] = true[:1, hidden]
    faces = posed_face_track(observed, np.zeros((n, 3)), np.full(n, scale), shifts, 0.0, 0)
    canonical = MeshTracker(MeshSettings(pose_sigma=0.0, canonical_sigma=0.0)).track(faces).params["canonical"]
    width = canonical[:, cut[0], 0] - canonical[:, seen_corner[0], 0]
    true_width = true[:, cut[0], 0] - true[:, seen_corner[0], 0]
    assert np.abs(width - true_width)[neutral:].max() < 0.02                # cm; 0.096 off before

    # a half face puts the pose a little off: the whole face sits 0.3 cm to one side in the canonical
    # frame. The cut half is mirrored across the middle the seen midline shows, not the canonical
    # one (which squeezed the cut half by twice the shift: d18-pan's chin folded onto its neighbour)
    from reenact.faces.topology import mirror_partners

    cut_from = 14                                                          # the last 6 of 20 frames
    true = canonical_with_expression(np.zeros(20))
    true[cut_from:, :, 0] += 0.3
    seen = np.ones((20, 478))
    cut_half = true[0, :, 0] > 0.5
    seen[cut_from:, cut_half] = 0.0
    guessed = true.copy()
    guessed[cut_from:, cut_half] = true[0, cut_half]                       # MediaPipe's unshifted guess
    completed = complete_from_mirror(guessed, seen)
    partner = mirror_partners()
    pairs = np.flatnonzero(cut_half[:468] & (true[0, partner, 0] < -0.5))
    width = completed[cut_from:, pairs, 0] - completed[cut_from:, partner[pairs], 0]
    true_width = true[cut_from:, pairs, 0] - true[cut_from:, partner[pairs], 0]
    assert np.abs(width - true_width).max() < 0.02                         # 0.6 before

    # a face wholly in the picture is left as it was
    inside = np.zeros((3, 478, 2)) + [256.0, 256.0]
    inside[:, :468] += true[:3, :468, :2] * scale
    seen = seen_share(inside, (512, 512))
    assert seen.min() == 1.0
    np.testing.assert_array_equal(complete_from_mirror(true[:3].copy(), seen), true[:3])


def test_a_face_the_pictures_edge_cuts_keeps_the_turn_of_the_frames_around_it():
    """MediaPipe reads a face the frame's edge cuts as turned away from the edge (d11 panned half a
    frame: yaw off by a median 5.3 degrees, up to 11). Where the picture shows less of the face's
    rigid points than CUT_COVER[1], yaw and roll are drawn towards the frames around it that show it
    all; pitch, and the frames that show the whole face, are the face's own."""
    from reenact.tracking.completion import pose_trust
    from reenact.faces.landmarker import blendshape_names
    from reenact.faces.visibility import seen_share

    n = 60
    t = np.arange(n)
    true_euler = np.stack([np.radians(6) * np.sin(t / 5), np.radians(3) * np.sin(t / 17), np.zeros(n)], 1)
    scale = np.full(n, 20.0)
    trans = np.tile([256.0, 256.0, 0.0], (n, 1))
    cut = (t >= 20) & (t < 40)
    trans[cut, 0] = 515.0                                                  # the face half past the right edge
    read_euler = true_euler.copy()
    read_euler[cut, 1] += np.radians(8.0)                                  # ... and read as turned away
    read_euler[cut, 2] += np.radians(3.0)
    faces = posed_face_track(canonical_with_expression(np.zeros(n)), Rotation.from_euler("XYZ", read_euler).as_rotvec(),
                             scale, trans, 0.0, 0)
    _, weights = canonical_reference()
    trust = pose_trust(seen_share(faces.landmarks, faces.image_size), weights)
    assert trust[~cut].min() == 1.0 and trust[cut].max() == 0.0            # half the face: under CUT_COVER[0]

    jaw_open = blendshape_names().index("jawOpen")
    faces.blendshapes[:, jaw_open] = np.linspace(0.0, 0.5, n)
    params = MeshTracker(MeshSettings(pose_sigma=0.0)).track(faces).params
    rotation = params["rotation"]
    # so does MediaPipe's jawOpen of each frame (a reference is taken where the jaw is shut)
    np.testing.assert_allclose(params["jaw_open"], np.linspace(0.0, 0.5, n), atol=1e-6)
    # the share of the face in the picture goes with the track (the reference is chosen from it)
    assert params["in_picture"][~cut].min() == 1.0 and params["in_picture"][cut].max() < 0.7
    euler = Rotation.from_rotvec(rotation).as_euler("XYZ")
    yaw_err = np.degrees(np.abs(euler[:, 1] - true_euler[:, 1]))
    roll_err = np.degrees(np.abs(euler[:, 2] - true_euler[:, 2]))
    pitch_err = np.degrees(np.abs(euler[:, 0] - true_euler[:, 0]))
    print(f"cut frames: yaw error max {yaw_err[cut].max():.2f}, roll {roll_err[cut].max():.2f} deg")
    assert yaw_err[cut].max() < 1.5 and roll_err[cut].max() < 0.5          # 8 and 3 as read
    assert yaw_err[~cut].max() < 0.05 and pitch_err.max() < 0.5            # the rest as read (pitch: Euler coupling)


def test_a_mouth_the_bottom_edge_cuts_moves_with_the_blendshapes():
    """A camera tilted up cut the driving's mouth and chin at the bottom of the picture (d11-tilt):
    no half is seen to mirror, and MediaPipe's guess for the hidden chin follows the jaw poorly. The
    lower face's hidden points take their prediction from the mouth blendshapes instead, fitted on
    the frames that show them."""
    from reenact.faces.landmarker import blendshape_names
    from reenact.tracking.completion import MIN_FIT_FRAMES, complete_from_blendshapes, lower_face

    n = 90
    t = np.arange(n)
    mouth = 0.8 * np.sin(t / 4.0) ** 2                                    # cm the lower face drops
    true = canonical_with_expression(mouth)
    blend = np.zeros((n, 52))
    names = blendshape_names()
    blend[:, names.index("jawOpen")] = mouth / 0.8 + np.random.default_rng(0).normal(0, 0.03, n)
    cut = t >= 40                                                         # the lower face below the edge
    hidden = np.flatnonzero(lower_face() & (true[0, :468, 1] > true[0, 13, 1]))   # the lower lip and below
    seen = np.ones((n, 478))
    seen[np.ix_(cut, hidden)] = 0.0
    guessed = true.copy()
    guessed[np.ix_(cut, hidden)] = true[0, hidden]                        # MediaPipe's guess: a closed mouth
    completed = complete_from_blendshapes(guessed.copy(), seen, blend)
    chin = completed[cut, 152, 1] - completed[cut, 6, 1]
    truth = true[cut, 152, 1] - true[cut, 6, 1]
    assert np.corrcoef(chin, truth)[0, 1] > 0.95                          # guessed: flat, no correlation
    assert np.abs(chin - truth).max() < 0.15                              # cm, of a 0.8 cm drop
    np.testing.assert_array_equal(completed[~cut], guessed[~cut])         # frames that show it: their own
    # too few frames to fit from, or no blendshapes: left as guessed
    few = seen.copy()
    few[MIN_FIT_FRAMES - 1:, hidden] = 0.0
    np.testing.assert_array_equal(complete_from_blendshapes(guessed.copy(), few, blend), guessed)
    np.testing.assert_array_equal(complete_from_blendshapes(guessed.copy(), seen, None), guessed)


def test_a_chin_seen_only_while_the_mouth_is_shut_still_drops_with_the_jaw():
    """d18 tilted: the chin is in the picture only before and after the yawn. Fitted on those
    frames alone, jawOpen's coefficient had nothing to go on and the ridge took it to none: the
    chin stayed up while the lips parted. It is pulled towards the jaw's turn instead."""
    from reenact.faces.landmarker import blendshape_names
    from reenact.tracking.completion import complete_from_blendshapes, lower_face

    n = 90
    t = np.arange(n)
    jaw_open = np.where(t >= 30, 0.8 * np.sin((t - 30) / 60.0 * np.pi) ** 2, 0.0)
    mouth = 2.2 * jaw_open                                                # cm the lower face drops (d18: 1.95 at 0.86)
    true = canonical_with_expression(mouth)
    blend = np.zeros((n, 52))
    blend[:, blendshape_names().index("jawOpen")] = jaw_open + np.random.default_rng(1).normal(0, 0.01, n)
    hidden = np.flatnonzero(lower_face() & (true[0, :468, 1] > true[0, 17, 1]))   # below the lower lip
    seen = np.ones((n, 478))
    seen[np.ix_(t >= 30, hidden)] = 0.0
    guessed = true.copy()
    guessed[np.ix_(t >= 30, hidden)] = true[0, hidden]                    # MediaPipe's guess: a shut jaw
    completed = complete_from_blendshapes(guessed.copy(), seen, blend)
    drop = completed[:, 152, 1] - true[0, 152, 1]
    truth = true[:, 152, 1] - true[0, 152, 1]
    widest = int(np.argmax(truth))
    # measured: 0.95 of the 1.76 cm drop (fitted towards none: -0.02)
    assert 0.7 < drop[widest] / truth[widest] < 1.3, (drop[widest], truth[widest])
    assert np.corrcoef(drop[30:], truth[30:])[0, 1] > 0.95
    assert abs(completed[widest, 13, 1] - true[widest, 13, 1]) < 1e-6       # the upper lip: as seen


def test_a_cut_face_trusts_its_outline_near_the_edge_less(monkeypatch):
    """d18 panned half a frame: with 44 % of the face past the picture's edge, MediaPipe put the chin,
    10 px inside the picture, 9 px lower than on the uncut clip, and the yawn it drove pushed a
    collar aside. The outline of a cut face lies fully in the picture only from further in
    (visibility.CUT_MARGIN), and the rest of the way it takes the mirror's and the blendshapes'
    completion."""
    import reenact.tracking.mesh_tracker as mesh_tracker
    from reenact.faces.landmarker import blendshape_names

    n = 60
    t = np.arange(n)
    mouth = 0.5 * (1 + np.sin(t / 4))
    canonical = canonical_with_expression(mouth)
    scale = 20.0
    ref, _ = canonical_reference()
    width = scale * np.ptp(ref[:, 0])
    trans = np.tile([256.0, 240.0, 0.0], (n, 1))
    cut = (t >= 30) & (t < 42)
    trans[cut, 0] = 512 - 0.05 * width                       # the face's middle just inside the right edge
    observed = canonical.copy()
    misread = 0.6                                            # cm, the chin read low where the face is cut
    observed[cut, 152, 1] += misread
    faces = posed_face_track(observed, np.zeros((n, 3)), np.full(n, scale), trans, 0.0, 0)
    blend = np.zeros((n, 52), np.float32)
    blend[:, blendshape_names().index("jawOpen")] = mouth
    faces = FaceTrack(**{**faces.__dict__, "blendshapes": blend})
    chin = faces.landmarks[cut, 152, 0]
    assert (chin < 512).all() and (512 - chin).min() > 0.04 * width     # inside, past the plain margin

    def chin_error(margin: float) -> float:
        monkeypatch.setattr(mesh_tracker, "CUT_MARGIN", margin)
        got = MeshTracker(MeshSettings(pose_sigma=0.0, canonical_sigma=0.0)).track(faces).params["canonical"]
        return float(np.abs(got[cut, 152, 1] - canonical[cut, 152, 1]).mean())

    from reenact.faces.visibility import CUT_MARGIN
    assert chin_error(0.0) > 0.95 * misread                  # trusted as read
    assert chin_error(CUT_MARGIN) < 0.75 * misread
