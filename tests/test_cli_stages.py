"""`reenact track` and `reenact guidance`: the intermediate stages as commands."""

import cv2
import numpy as np
import pytest

from portrait_helpers import SHARED_DATA, shared_data, similarity, warp, write_test_video
from reenact.cli import main
from reenact.io.images import write_image
from reenact.io.video import iter_frames, probe_video
from reenact.render.write import read_guidance
from reenact.tracking.types import HeadTrack


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("stages")
    write_image(d / "face.png", astronaut)
    frames = [warp(astronaut, similarity(5 * np.sin(t / 2), 1.0, 2 * t, 0)) for t in range(10)]
    write_test_video(d / "drive.mp4", frames)
    return d


def test_track_command_writes_a_reloadable_mesh_track(inputs, tmp_path):
    assert main(["track", "--driving", str(inputs / "drive.mp4"), "-o", str(tmp_path / "t.npz"), "-q",
                 "--backend", "mesh"]) == 0
    track = HeadTrack.load(tmp_path / "t.npz")
    assert track.backend == "mesh" and len(track) == 10 and track.fps == pytest.approx(25)
    assert track.params["canonical"].shape == (10, 478, 3)
    from scipy.spatial.transform import Rotation

    p = track.params
    # the driving is one still face moved rigidly: all the motion is in the pose, and the pose-free
    # face (about 15 x 17 cm) stays the same to a few mm; the crop follows the head at one size
    mesh = p["canonical"][:, :468]
    assert np.linalg.norm(mesh - mesh.mean(0), axis=-1).max() < 0.6
    assert np.ptp(p["scale"]) < 0.01 * p["scale"].mean()
    # the driving's in-plane roll, 5 sin(t/2) degrees, is the track's rotation about the view axis
    roll = -np.degrees(Rotation.from_rotvec(p["rotation"]).as_euler("YXZ")[:, 2])
    assert np.corrcoef(roll, 5 * np.sin(np.arange(10) / 2))[0, 1] > 0.95
    assert main(["track", "--source", str(inputs / "face.png"), "-o", str(tmp_path / "s.npz"), "-q"]) == 0
    assert len(HeadTrack.load(tmp_path / "s.npz")) == 1


@pytest.mark.slow
def test_guidance_command_writes_three_map_folders(inputs, tmp_path, capsys):
    # head_motion=follow: the driving's sideways drift shows in the maps too, so each preview row
    # is visibly its own frame (anchored, the default, keeps only its 5° roll)
    code = main(["guidance", "--source", str(inputs / "face.png"), "--driving", str(inputs / "drive.mp4"),
                 "--out", str(tmp_path / "maps"), "--preview", str(tmp_path / "grid.mp4"), "-q",
                 "--set", "align.head_motion=follow"])
    assert code == 0, capsys.readouterr().err
    maps, meta = read_guidance(tmp_path / "maps")
    assert {k: v.shape for k, v in maps.items()} == {k: (10, 512, 512, 3) for k in ("depth", "normal", "render")}
    covered = maps["depth"][0, ..., 0] > 0
    ys, xs = np.nonzero(covered)
    # the face sits in the middle of the source's crop, as in the official 512 crops
    assert abs(xs.mean() - 256) < 40 and abs(ys.mean() - 256) < 60 and 0.1 < covered.mean() < 0.6
    # the preview: source | driving | depth | normal | render, 256 px tall, each row its own frame
    info = probe_video(tmp_path / "grid.mp4")
    assert (info.frame_count, info.width, info.height) == (10, 5 * 256, 256)
    grid = np.stack(list(iter_frames(tmp_path / "grid.mp4"))).astype(float)
    below_label = slice(40, 256)
    for k, other in ((0, 9), (9, 0)):
        depth = cv2.resize(maps["depth"][k], (256, 256), interpolation=cv2.INTER_AREA).astype(float)
        panel = grid[k, below_label, 512:768]
        assert np.abs(panel - depth[below_label]).mean() < 2.0
        other_depth = cv2.resize(maps["depth"][other], (256, 256), interpolation=cv2.INTER_AREA).astype(float)
        assert np.abs(panel - other_depth[below_label]).mean() > 10.0
    code = main(["guidance", "--source", str(inputs / "face.png"), "--driving", str(inputs / "drive.mp4"),
                 "--out", str(tmp_path / "maps2"), "--absolute", "-q"])
    assert code == 0, capsys.readouterr().err          # the mesh's absolute mode: rotation as it is
    maps2, _ = read_guidance(tmp_path / "maps2")
    assert maps2["depth"].shape == (10, 512, 512, 3)


@shared_data
@pytest.mark.slow
def test_track_command_on_shared_clips(tmp_path):
    for clip in sorted((SHARED_DATA / "driving").glob("*.mp4"))[:2]:
        out = tmp_path / f"{clip.stem}.npz"
        assert main(["track", "--driving", str(clip), "-o", str(out), "-q", "--backend", "mesh", "--max-frames", "60"]) == 0
        track = HeadTrack.load(out)
        assert len(track) == 60 and np.isfinite(track.params["canonical"]).all()
        assert np.median(track.residuals) < 0.05 * track.crop_size  # rigid-fit residual: a few px of 512
