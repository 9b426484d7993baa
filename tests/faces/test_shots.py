"""Cuts in the picture (faces/shots.py): found where the scene changes, not where the camera moves."""

from __future__ import annotations

import cv2
import numpy as np

from reenact.faces.shots import each_shot, picture_signature, shot_ids, shot_slices, shot_starts
from reenact.schema import FaceOptions


def _camera(image: np.ndarray, k: int, zoom: float = 1.0, shake: float = 0.0) -> np.ndarray:
    """Frame k of a camera on `image`: panning 3 px a frame, zooming by `zoom` a frame, shaking."""
    h, w = image.shape[:2]
    z = zoom ** k
    dx = 3.0 * k + shake * (-1) ** k
    m = np.float32([[z, 0, (1 - z) * w / 2 - dx], [0, z, (1 - z) * h / 2 + shake * ((k % 3) - 1)]])
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def test_a_cut_to_another_scene_starts_a_shot_and_a_moving_camera_does_not(astronaut):
    import skimage.data

    other = cv2.resize(skimage.data.coffee(), astronaut.shape[1::-1])
    frames = ([_camera(astronaut, k, zoom=1.01) for k in range(12)]            # a pan and a zoom
              + [_camera(other, k, shake=12.0) for k in range(12)]             # a cut, then a shaking hand
              + [_camera(astronaut, k, shake=12.0) for k in range(6)])         # and back
    starts = shot_starts(np.stack([picture_signature(f) for f in frames]), FaceOptions().cut_threshold)
    np.testing.assert_array_equal(np.flatnonzero(starts), [12, 24])
    assert shot_ids(starts).tolist() == [0] * 12 + [1] * 12 + [2] * 6
    assert not shot_starts(np.stack([picture_signature(f) for f in frames]), 1.0).any()   # 1 = never


def test_smoothing_stops_at_a_cut():
    values = np.r_[np.zeros(10), np.ones(10)][:, None]
    shots = shot_ids(np.r_[np.zeros(10, bool), True, np.zeros(9, bool)])
    assert [(s.start, s.stop) for s in shot_slices(shots, 20)] == [(0, 10), (10, 20)]
    blur = lambda x: cv2.GaussianBlur(x.astype(np.float64), (1, 9), 0, borderType=cv2.BORDER_REPLICATE)  # noqa: E731
    np.testing.assert_array_equal(each_shot(blur, values, shots), values)     # each shot is flat: no leak
    assert 0.1 < blur(values)[9, 0] < 0.5                                      # across the cut it would


def test_the_face_stage_finds_the_cut_and_the_tracker_keeps_each_shot_apart(astronaut):
    """The same face, then a cut to a greyscale print of it pasted 40 px lower: the face stage
    reports the cut, the tracker's shot ids follow it, its time smoothing of the pose does not
    drag the first shot's last frames towards the second shot's position, and its mouth check
    compares each shot's lips with that shot's own."""
    from reenact.faces import detect_faces
    from reenact.schema import MeshSettings
    from reenact.tracking.mesh_tracker import MeshTracker

    grey = np.roll(np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[..., None], 3, -1), 40, axis=0)
    frames = [astronaut] * 6 + [grey] * 6
    faces = detect_faces(frames, fps=25.0)
    np.testing.assert_array_equal(np.flatnonzero(faces.cuts), [6])
    head = MeshTracker(MeshSettings(pose_sigma=2.0)).track(faces)
    assert head.params["shot"].tolist() == [0] * 6 + [1] * 6
    assert head.params["confidence"].all()           # grey lips are that shot's normal, not a covered mouth
    y = head.params["translation"][:, 1]
    assert np.ptp(y[:6]) < 0.5 and np.ptp(y[6:]) < 0.5               # crop px: each shot holds still
    assert not detect_faces([astronaut], video=False).cuts                  # a still image has no shots


def test_a_face_found_elsewhere_in_the_same_picture_starts_a_shot(astronaut):
    """A second camera with the same colours (the histogram cannot see the cut) or another face of a
    group: the tracked face lies more than its own size from the previous frame's."""
    from reenact.faces import detect_faces

    grey = np.full_like(astronaut, 127)
    left, right = np.concatenate([astronaut, grey], 1), np.concatenate([grey, astronaut], 1)
    frames = [left] * 6 + [right] * 6
    assert not shot_starts(np.stack([picture_signature(f) for f in frames]), FaceOptions().cut_threshold).any()
    np.testing.assert_array_equal(np.flatnonzero(detect_faces(frames, fps=25.0).cuts), [6])
    assert not detect_faces(frames, fps=25.0, options=FaceOptions(cut_threshold=1.0)).cuts.any()   # no shots
