"""The reader's ceiling for jaw_r (tools/jaw_ceiling.py): MediaPipe's blendshape model fed landmarks
directly, and the perfect 2D transfer of a driving clip's motion onto a source."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from reenact.faces import detect_faces

_spec = importlib.util.spec_from_file_location("jaw_ceiling",
                                               Path(__file__).resolve().parents[2] / "tools" / "jaw_ceiling.py")
jaw_ceiling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(jaw_ceiling)


@pytest.fixture(scope="module")
def read(astronaut):
    found = detect_faces([astronaut], video=False)
    return found.landmarks[0][:, :2].astype(np.float64), found.blendshapes[0]


def test_the_model_fed_mediapipes_own_landmarks_reads_what_mediapipe_read(read):
    points, scores = read
    reader = jaw_ceiling.BlendshapeReader()
    assert np.abs(reader(points) - scores).max() < 1e-4
    # it reads pixels, not a normalised face: a larger picture of the same face reads the same
    assert np.abs(reader(2.0 * points + 30.0) - scores).max() < 1e-3


def test_the_ideal_transfer_adds_the_expression_and_leaves_the_head_motion_out(read):
    points, _ = read
    driving = points * 0.5 + (40.0, 10.0)            # another face: half as large, elsewhere
    lower = np.flatnonzero(points[:, 1] > points[13, 1] + 1.0)    # below the lips' middle
    opened = driving.copy()
    opened[lower, 1] += 3.0                          # that face drops its jaw 3 px
    turn = cv2.getRotationMatrix2D((100.0, 100.0), 12.0, 1.3)
    turned = np.c_[opened, np.ones(len(opened))] @ turn.T      # and its head turns and nears the camera
    moved = jaw_ceiling.ideal_transfer(points, np.stack([driving, opened, turned]), reference=0)
    assert np.abs(moved[0] - points).max() < 1e-9
    # twice the driving face's size: the source's jaw drops 6 px; the head's turn is left out
    # (the fit on the rigid points leaves a little of the jaw's drop in its rotation)
    expected = points.copy()
    expected[lower, 1] += 6.0
    assert np.abs(moved[1] - expected).max() < 0.5
    assert np.abs(moved[2] - moved[1]).max() < 1e-6
