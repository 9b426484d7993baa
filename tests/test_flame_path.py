"""FLAME path across stages: the tracker's camera and the renderer's agree (synthetic FLAME-format head)."""

import numpy as np
import pytest
import torch

from reenact.config import load_config
from reenact.geometry import AlignOptions, FlameTopology, guidance_from_tracks
from reenact.tracking import make_tracker
from tests.synthetic_head import make_face_track, random_motion


@pytest.fixture(scope="module")
def flame_cfg(head_files):
    return load_config(overrides=[f"flame.model_file={head_files['model']}",
                                  f"flame.landmark_embedding={head_files['landmark_embedding']}",
                                  f"flame.mediapipe_embedding={head_files['mediapipe_embedding']}"])


def test_flame_guidance_maps_cover_the_tracked_face(test_head, flame_cfg):
    motion = random_motion(1, seed=3, max_yaw_deg=10)
    faces, clean = make_face_track(test_head, motion, noise_px=0.5, seed=3)
    tracker = make_tracker("flame", flame_cfg)
    head = tracker.track(faces)
    model = test_head.model

    def flame(shape, expression, pose):
        return model(shape=shape, expression=expression, global_rot=pose[:, :3], neck=pose[:, 3:6],
                     jaw=pose[:, 6:9], eyes=pose[:, 9:15]).vertices

    # the source driven by itself, drawn on its own 512 crop (as the pipeline does)
    n, batches = guidance_from_tracks(head, head, options=AlignOptions(mode="absolute"), flame=flame,
                                      topology=FlameTopology(torch.as_tensor(model.faces, dtype=torch.int64)),
                                      canvas_from_frame=faces.crop_transforms[0], size=512)
    depth = next(iter(batches)).to_uint8()["depth"][0, ..., 0]
    covered = depth > 0
    px = np.round(clean[0, :, :2]).astype(int)
    inside = covered[np.clip(px[:, 1], 0, 511), np.clip(px[:, 0], 0, 511)]
    assert inside.mean() > 0.97, inside.mean()   # every face landmark lands on the rendered head
    ys, xs = np.nonzero(covered)
    # and the head is where the landmarks are, not shifted or scaled (within a few px)
    lm_centre = clean[0, :, :2].mean(0)
    assert abs(xs.mean() - lm_centre[0]) < 25 and abs(ys.mean() - lm_centre[1]) < 40


@pytest.mark.slow
def test_cli_guidance_with_flame_on_a_real_portrait(flame_cfg, head_files, tmp_path, astronaut, capsys):
    """FLAME files present (the synthetic test head stands in): `reenact guidance` tracks with FLAME."""
    from reenact.cli import main
    from reenact.io.images import write_image
    from reenact.render.write import read_guidance

    write_image(tmp_path / "face.png", astronaut)
    sets = [f"flame.model_file={head_files['model']}", f"flame.landmark_embedding={head_files['landmark_embedding']}",
            "run.preset_seconds=0.4", f"paths.cache_dir={tmp_path / 'cache'}"]
    argv = ["guidance", "--source", str(tmp_path / "face.png"), "--driving", "preset:talk",
            "--out", str(tmp_path / "maps"), "-q"] + [x for s in sets for x in ("--set", s)]
    assert main(argv) == 0, capsys.readouterr().err
    maps, meta = read_guidance(tmp_path / "maps")
    assert maps["depth"].shape == (10, 512, 512, 3)
    assert meta["geometry"] == "flame" and meta["alignment"] == "absolute"
    covered = maps["depth"][0, ..., 0] > 0
    ys, xs = np.nonzero(covered)
    assert abs(xs.mean() - 256) < 60 and abs(ys.mean() - 256) < 80   # the head sits in the source crop
