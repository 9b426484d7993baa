"""FLAME forward pass, landmark embeddings and asset discovery, on the synthetic test head."""

import shutil

import numpy as np
import pytest
import torch

from reenact.errors import AssetError
from reenact.flame.assets import find_flame_files, flame_asset_report
from reenact.flame.head import load_flame_head
from reenact.flame.landmarks import (IBUG68_MIRROR, MEDIAPIPE_TO_IBUG68, flame_landmarks68, load_landmark_embedding,
                                     yaw_row)
from reenact.flame.model import FlameModel, flame_data_from_dict
from reenact.flame.pickle_safe import load_pickle
from reenact.faces.topology import load_canonical_face
from reenact.tracking.geometry import rotvec_to_matrix


def random_params(batch, seed=0, n_shape=100, n_exp=50):
    g = torch.Generator().manual_seed(seed)
    return dict(shape=torch.randn(batch, n_shape, generator=g), expression=torch.randn(batch, n_exp, generator=g),
                global_rot=0.4 * torch.randn(batch, 3, generator=g), neck=0.1 * torch.randn(batch, 3, generator=g),
                jaw=0.2 * torch.rand(batch, 3, generator=g), eyes=0.1 * torch.randn(batch, 6, generator=g))


def test_forward_is_batched_float32_and_matches_per_sample_calls(test_head):
    model = test_head.model
    params = random_params(4)
    out = model(**params)
    assert out.vertices.shape == (4, model.data.n_vertices, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (4, 5, 3)
    for i in range(4):
        single = model(**{k: v[i:i + 1] for k, v in params.items()})
        torch.testing.assert_close(single.vertices[0], out.vertices[i], atol=1e-6, rtol=0)


def test_rest_pose_returns_the_template_and_rotation_is_rigid(test_head):
    model = test_head.model
    torch.testing.assert_close(model().vertices[0], torch.as_tensor(model.data.v_template), atol=1e-7, rtol=0)
    rot = torch.tensor([[0.0, 0.5, 0.0]])
    posed = model(global_rot=rot).vertices[0].double()
    j0 = model().joints[0, 0].double()
    expected = (torch.as_tensor(model.data.v_template).double() - j0) @ torch.as_tensor(rotvec_to_matrix(rot.numpy()[0])).T + j0
    torch.testing.assert_close(posed, expected, atol=1e-6, rtol=0)


def test_expression_columns_start_at_300_and_counts_are_configurable(test_head):
    data = test_head.model.data
    small = FlameModel(data, n_shape=10, n_expression=5)
    e = torch.zeros(1, 5)
    e[0, 2] = 1.0
    moved = small(expression=e).vertices[0] - small().vertices[0]
    torch.testing.assert_close(moved, torch.as_tensor(data.shapedirs[:, :, 302]), atol=1e-6, rtol=0)
    with pytest.raises(AssetError, match="n_shape"):
        FlameModel(data, n_shape=301)


def test_restricted_model_poses_the_same_vertices_and_joints(test_head):
    ids = np.array([5, 900, 17, 2600, 1234])
    sub = test_head.model.restricted_to(ids)
    params = random_params(3, seed=1)
    full, part = test_head.model(**params), sub(**params)
    torch.testing.assert_close(part.vertices, full.vertices[:, ids], atol=2e-6, rtol=0)
    torch.testing.assert_close(part.joints, full.joints, atol=2e-6, rtol=0)


def test_jaw_opening_moves_the_chin_down_and_not_the_forehead(test_head):
    model, emb = test_head.model, test_head.landmarks
    rest = flame_landmarks68(model().vertices, model.faces, emb)[0]
    opened = flame_landmarks68(model(jaw=torch.tensor([[0.3, 0.0, 0.0]])).vertices, model.faces, emb)[0]
    assert opened[8, 1] < rest[8, 1] - 0.015          # chin drops by more than 15 mm
    torch.testing.assert_close(opened[17:27], rest[17:27], atol=1e-6, rtol=0)  # brows stay


def test_model_validation_names_the_bad_field(head_files):
    raw = load_pickle(head_files["model"])
    raw["shapedirs"] = raw["shapedirs"][:, :, :350]
    with pytest.raises(AssetError, match="shapedirs.*400"):
        flame_data_from_dict(raw, "broken.pkl")


def test_dynamic_contour_row_follows_deca_yaw_convention():
    yaw = np.radians([0.0, 10.0, 39.0, 60.0, -1.0, -20.0, -39.0, -70.0])
    rot = torch.as_tensor(rotvec_to_matrix(np.stack([np.zeros_like(yaw), yaw, np.zeros_like(yaw)], 1)))
    assert yaw_row(rot).tolist() == [0, 10, 39, 39, 40, 59, 78, 78]


def test_dynamic_landmarks_use_the_yaw_row_and_static_points_do_not_change(test_head):
    model, emb = test_head.model, test_head.landmarks
    rot = torch.tensor([[0.0, np.radians(25.0), 0.0]])
    verts = model(global_rot=rot).vertices
    dynamic = flame_landmarks68(verts, model.faces, emb, head_rotation=torch.as_tensor(rotvec_to_matrix(rot.numpy())))
    fixed = flame_landmarks68(verts, model.faces, emb)
    torch.testing.assert_close(dynamic[:, 17:], fixed[:, 17:])
    tri = verts[0][model.faces[torch.as_tensor(emb.dynamic_faces[25])]]
    expected = (torch.as_tensor(emb.dynamic_bary[25])[:, :, None] * tri).sum(1)
    torch.testing.assert_close(dynamic[0, :17], expected)


def test_deca_and_ringnet_embedding_files_agree(head_files):
    deca = load_landmark_embedding(head_files["landmark_embedding"])
    ringnet = load_landmark_embedding(head_files["ringnet_static"], head_files["ringnet_dynamic"])
    np.testing.assert_array_equal(deca.static_faces, ringnet.static_faces)
    np.testing.assert_array_equal(deca.dynamic_faces, ringnet.dynamic_faces)
    np.testing.assert_allclose(deca.dynamic_bary, ringnet.dynamic_bary, atol=1e-6)
    assert deca.full_faces.shape == (68,) and deca.dynamic_faces.shape == (79, 17)


def test_mediapipe_to_ibug68_mapping_is_mirror_consistent_and_anatomical():
    v = load_canonical_face()["vertices"]
    mirrored = v * np.array([-1.0, 1.0, 1.0])
    mirror_of = np.argmin(((v[:, None] - mirrored[None]) ** 2).sum(-1), axis=1)
    assert len(set(MEDIAPIPE_TO_IBUG68.tolist())) == 68
    np.testing.assert_array_equal(mirror_of[MEDIAPIPE_TO_IBUG68], MEDIAPIPE_TO_IBUG68[IBUG68_MIRROR])
    p = v[MEDIAPIPE_TO_IBUG68]
    assert np.argmin(p[:17, 1]) == 8                            # chin is the lowest contour point
    assert p[30, 2] == p[:, 2].max()                            # nose tip sticks out furthest
    assert p[36, 0] < p[39, 0] < p[42, 0] < p[45, 0]            # eye corners left to right in the image
    assert p[19, 1] > p[37, 1] > p[30, 1] > p[51, 1] > p[57, 1] > p[8, 1]  # brow > eye > nose > lips > chin


def test_assets_are_found_in_subfolders_and_reported(tmp_path, head_files):
    cfg = {"paths": {"flame_dir": str(tmp_path)}}
    report = {row.name: row for row in flame_asset_report(cfg)}
    assert not report["generic_model.pkl"].found and "flame.is.tue.mpg.de" in report["generic_model.pkl"].note
    assert not find_flame_files(cfg).complete
    (tmp_path / "FLAME2020").mkdir()
    shutil.copy(head_files["model"], tmp_path / "FLAME2020" / "generic_model.pkl")
    shutil.copy(head_files["ringnet_static"], tmp_path)
    shutil.copy(head_files["ringnet_dynamic"], tmp_path)
    files = find_flame_files(cfg)
    assert files.complete and files.model.parent.name == "FLAME2020" and files.landmark_embedding_dynamic is not None
    report = flame_asset_report(cfg)
    assert report[0].found and report[1].found and not report[2].found
    head = load_flame_head(cfg, n_shape=20, n_expression=10)
    assert head.model.n_shape == 20 and head.mediapipe is None


def test_missing_model_gives_a_clear_asset_error(tmp_path):
    with pytest.raises(AssetError, match="generic_model.pkl"):
        load_flame_head({"paths": {"flame_dir": str(tmp_path)}})
    with pytest.raises(AssetError, match="does not exist"):
        find_flame_files({"paths": {"flame_dir": str(tmp_path)}, "flame": {"model_file": str(tmp_path / "x.pkl")}})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_forward_on_cuda_matches_cpu(test_head):
    params = random_params(2, seed=3)
    cpu = test_head.model(**params).vertices
    gpu_model = FlameModel(test_head.model.data).cuda()
    gpu = gpu_model(**{k: v.cuda() for k, v in params.items()}).vertices.cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=0)


def test_report_shows_a_configured_path_that_is_missing(tmp_path):
    missing = tmp_path / "elsewhere" / "generic_model.pkl"
    report = flame_asset_report({"paths": {"flame_dir": str(tmp_path)}, "flame": {"model_file": str(missing)}})
    assert report[0].path == missing and not report[0].found
