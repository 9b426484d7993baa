"""`reenact track` and `reenact guidance`: the intermediate stages as commands."""

import numpy as np
import pytest

from portrait_helpers import SHARED_DATA, shared_data, similarity, warp, write_test_video
from reenact.cli import main
from reenact.io.images import write_image
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
    # pose x pose-free landmarks gives back the landmarks in the crop (the HeadTrack contract)
    from scipy.spatial.transform import Rotation

    from reenact.faces import detect_in_file

    p = track.params
    rot = Rotation.from_rotvec(p["rotation"]).as_matrix()
    rebuilt = p["scale"][:, None, None] * np.einsum("tij,tnj->tni", rot, p["canonical"]) + p["translation"][:, None]
    crop_landmarks = detect_in_file(inputs / "drive.mp4").landmarks_in_crop()
    assert np.abs(rebuilt[..., :2] - crop_landmarks[..., :2]).max() < 0.5
    # the driving's in-plane roll, 5 sin(t/2) degrees, is the track's rotation about the view axis
    roll = -np.degrees(Rotation.from_rotvec(p["rotation"]).as_euler("YXZ")[:, 2])
    assert np.corrcoef(roll, 5 * np.sin(np.arange(10) / 2))[0, 1] > 0.95
    assert main(["track", "--source", str(inputs / "face.png"), "-o", str(tmp_path / "s.npz"), "-q"]) == 0
    assert len(HeadTrack.load(tmp_path / "s.npz")) == 1


def test_guidance_command_writes_three_map_folders(inputs, tmp_path, capsys):
    code = main(["guidance", "--source", str(inputs / "face.png"), "--driving", str(inputs / "drive.mp4"),
                 "--out", str(tmp_path / "maps"), "--preview", str(tmp_path / "grid.mp4"), "-q"])
    assert code == 0, capsys.readouterr().err
    maps, meta = read_guidance(tmp_path / "maps")
    assert {k: v.shape for k, v in maps.items()} == {k: (10, 512, 512, 3) for k in ("depth", "normal", "render")}
    covered = maps["depth"][0, ..., 0] > 0
    ys, xs = np.nonzero(covered)
    # the face sits in the middle of the source's crop, as in the official 512 crops
    assert abs(xs.mean() - 256) < 40 and abs(ys.mean() - 256) < 60 and 0.1 < covered.mean() < 0.6
    assert (tmp_path / "grid.mp4").stat().st_size > 1000
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
