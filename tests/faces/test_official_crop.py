"""MagicPortrait's crop rule (crop_process.py, guidance-maps.md §1.1) and the already-cropped source."""

from __future__ import annotations

import numpy as np
import pytest

from reenact.errors import InputError
from reenact.faces.crop import crop_transforms, detector_box_from_landmarks, is_already_cropped, official_boxes
from reenact.faces.detect import FaceOptions, _crop_boxes, for_magicportrait


def _official_corner_map(box):
    """The official warp written from its definition: the square cx ± 0.75 L, cy ± 0.75 L (L = box
    width; height ignored) onto (80, 80)-(432, 432) of 512 (Procrustes of two axis-aligned squares)."""
    x1, y1, x2, y2 = box
    L = x2 - x1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    src = np.array([[cx - 0.75 * L, cy - 0.75 * L], [cx - 0.75 * L, cy + 0.75 * L],
                    [cx + 0.75 * L, cy + 0.75 * L], [cx + 0.75 * L, cy - 0.75 * L]])
    dst = np.array([[80, 80], [80, 432], [432, 432], [432, 80]], float)
    return src, dst


@pytest.mark.parametrize("box", [(300.0, 200.0, 500.0, 460.0), (41.5, 97.0, 129.0, 230.0)])
def test_official_crop_rule_within_3_px_on_a_synthetic_face_box(box):
    transform = crop_transforms(official_boxes(np.array([box])), 512)[0].astype(np.float64)
    src, dst = _official_corner_map(box)
    mapped = src @ transform[:, :2].T + transform[:, 2]
    assert np.abs(mapped - dst).max() < 3.0
    np.testing.assert_allclose(mapped, dst, atol=1e-3)   # in fact exact
    width_on_canvas = (box[2] - box[0]) * transform[0, 0]
    assert 512 / width_on_canvas == pytest.approx(2.18, abs=0.01)


def test_a_video_keeps_the_first_frames_box():
    boxes = np.array([[300, 200, 500, 460], [340, 220, 560, 480], [200, 100, 420, 380]], float)
    out = official_boxes(boxes)
    assert (out == out[0]).all() and out[0, :2].tolist() == [400.0, 330.0]


def test_landmark_extent_stands_in_for_the_detector_box():
    rng = np.random.default_rng(0)
    pts = rng.uniform([100, 150], [300, 420], (2, 478, 2))
    box = detector_box_from_landmarks(pts)
    np.testing.assert_allclose(box[0], [*pts[0].min(0), *pts[0].max(0)])


def _face(size: int, width_fraction: float, centre=(0.5, 0.5)) -> np.ndarray:
    """478 'landmarks' spanning a face box of the given width, centred as asked."""
    w = size * width_fraction
    cx, cy = centre[0] * size, centre[1] * size
    t = np.linspace(0, 2 * np.pi, 478)
    return np.stack([cx + w / 2 * np.cos(t), cy + w * 0.6 * np.sin(t), np.zeros(478)], 1)[None]


def test_an_already_cropped_512_face_is_used_as_is():
    opts = FaceOptions(crop_rule="official")
    # the official crop of a face: its width is 1 / 2.18 of the canvas, centred
    face = _face(512, 352 / 512 / 1.5)
    boxes = _crop_boxes(face, opts, video=False, image_size=(512, 512))
    np.testing.assert_allclose(boxes[0], [256, 256, 512])
    assert crop_transforms(boxes, 512)[0].tolist() == [[1, 0, 0], [0, 1, 0]]
    # a face that is not framed that way is cropped by the rule, unless told otherwise
    small = _face(512, 0.25, (0.4, 0.45))
    boxes = _crop_boxes(small, opts, video=False, image_size=(512, 512))
    assert not is_already_cropped(boxes[0], (512, 512)) and boxes[0, 2] < 300
    forced = _crop_boxes(small, FaceOptions(crop_rule="official", source_is_cropped="yes"), False, (512, 512))
    np.testing.assert_allclose(forced[0], [256, 256, 512])


def test_auto_rule_is_official_only_when_the_maps_feed_magicportrait():
    assert for_magicportrait(FaceOptions(), True).crop_rule == "official"
    assert for_magicportrait(FaceOptions(), False).crop_rule == "landmarks"
    assert for_magicportrait(FaceOptions(crop_rule="landmarks"), True).crop_rule == "landmarks"
    with pytest.raises(InputError, match="crop_rule"):
        _crop_boxes(_face(512, 0.3), FaceOptions(crop_rule="tight"), False, (512, 512))
