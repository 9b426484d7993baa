"""Issue 12: when the maps feed MagicPortrait (absolute alignment), a driving camera that zooms
and pans moves nothing; the rendered face stays where the source's is (synthetic FLAME head)."""

from __future__ import annotations

import numpy as np
import torch

from reenact.geometry.align import AlignOptions
from reenact.geometry.guidance import FlameTopology, guidance_from_tracks
from reenact.tracking.types import HeadTrack


def _track(n: int, cam: np.ndarray, crop: np.ndarray, rot: np.ndarray) -> HeadTrack:
    params = {"shape": np.zeros(100, np.float32), "expression": np.zeros((n, 50), np.float32),
              "jaw": np.zeros((n, 3), np.float32), "global_rot": rot.astype(np.float32),
              "neck": np.zeros((n, 3), np.float32), "eyes": np.zeros((n, 6), np.float32), "cam": cam.astype(np.float32)}
    return HeadTrack("flame", params, 25.0, (512, 512), 512, crop.astype(np.float32), np.ones(n, np.float32), {})


def test_a_zooming_driving_camera_leaves_the_face_where_the_source_is(test_head):
    n = 6
    zoom = np.linspace(1.0, 1.5, n)                       # the driving camera zooms 1.5x and pans
    drv_cam = np.stack([7.0 * zoom, np.linspace(0, 0.03, n), np.linspace(0, -0.02, n)], 1)
    drv_crop = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (n, 1, 1))
    rot = np.zeros((n, 3))
    rot[:, 1] = np.radians(np.linspace(-8, 8, n))       # and the head turns a little
    src = _track(1, np.array([[7.0, 0.0, 0.01]]), np.array([[[1.0, 0, 0], [0, 1.0, 0]]]), np.zeros((1, 3)))
    model = test_head.model
    topology = FlameTopology(torch.as_tensor(np.asarray(model.data.faces), dtype=torch.int64))

    def flame(shape, expression, pose):
        return model(shape=shape, expression=expression, global_rot=pose[:, :3], jaw=pose[:, 6:9]).vertices

    def centres(driving):
        _, batches = guidance_from_tracks(src, driving, flame=flame, topology=topology, size=512,
                                          options=AlignOptions(mode="absolute"))
        out = []
        for batch in batches:
            for mask in batch.mask:
                rows, cols = np.nonzero(mask.numpy())
                out.append((cols.mean(), rows.mean()))
        return np.array(out)

    moving = centres(_track(n, drv_cam, drv_crop, rot))
    turning_only = centres(_track(n, np.tile([7.0, 0.0, 0.01], (n, 1)), drv_crop, rot))
    still = centres(_track(1, np.array([[7.0, 0.0, 0.01]]), drv_crop[:1], np.zeros((1, 3))))
    # zoom and pan change nothing at all; the turn moves the face a little, as in the official
    # tool (rotation about FLAME's root joint, near the neck), within the 10 px
    np.testing.assert_allclose(moving, turning_only, atol=1e-6)
    assert np.linalg.norm(moving - still[0], axis=1).max() < 10.0
    # the zoom is not transferred: the face keeps its size
    sizes = [batch.mask.sum(dim=(1, 2)) for batch in guidance_from_tracks(
        src, _track(n, drv_cam, drv_crop, np.zeros((n, 3))), flame=flame, topology=topology, size=512,
        options=AlignOptions(mode="absolute"))[1]]
    sizes = torch.cat(sizes).numpy()
    assert sizes.max() / sizes.min() < 1.01
