import numpy as np
import pytest

from reenact.eval import face_metrics as fm
from reenact.eval.frechet import FeatureStats, frechet_distance, stats_distance


def test_cosine_similarity_of_aligned_orthogonal_and_opposite_embeddings():
    e = np.array([0.3, -1.2, 2.0])
    assert fm.cosine_similarity(e, 5 * e) == pytest.approx(1.0)
    assert fm.cosine_similarity(e, -e) == pytest.approx(-1.0)
    assert fm.cosine_similarity([1, 0, 0], [0, 2, 0]) == 0.0
    assert fm.csim(e, np.stack([e, -e])) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        fm.cosine_similarity([0, 0], [1, 0])


def test_akd_is_the_mean_offset_in_pixels_of_a_256_px_frame():
    pts = np.random.default_rng(0).uniform(0, 512, (5, 68, 2))
    assert fm.akd(pts, pts + [3.0, 4.0], frame_side=512) == pytest.approx(5.0 * 256 / 512)
    assert fm.akd(pts, pts, frame_side=512) == 0.0


def test_aed_is_the_mean_absolute_coefficient_difference():
    a = np.zeros((4, 51))
    b = a.copy()
    b[:, 24] = 0.51                    # jaw opened by 0.51 in every frame
    assert fm.aed(a, b) == pytest.approx(0.51 / 51)


def test_apd_wraps_angle_differences():
    a = np.array([[179.0, 0.0, -10.0]])
    b = np.array([[-179.0, 3.0, 20.0]])
    assert fm.apd(a, b) == pytest.approx((2 + 3 + 30) / 3)


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (25, -10, 5), (-40, 20, -30), (10, 60, 80)])
def test_euler_angles_invert_rotation_from_euler(yaw, pitch, roll):
    r = fm.rotation_from_euler(yaw, pitch, roll)
    assert np.allclose(r @ r.T, np.eye(3))
    assert fm.euler_angles(r) == pytest.approx([yaw, pitch, roll], abs=1e-9)


def test_frechet_distance_of_diagonal_gaussians_is_analytic():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()   # 5 + 1 + 0 + 4
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected) == pytest.approx(10.0)
    assert frechet_distance(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0.0, abs=1e-9)


def test_feature_stats_merge_to_the_statistics_of_the_whole_set(tmp_path):
    rng = np.random.default_rng(5)
    feats = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    whole = FeatureStats.empty(6)
    whole.add(feats)
    parts = [FeatureStats.empty(6) for _ in range(3)]
    for i, p in enumerate(parts):
        p.add(feats[i::3])
        p.save(tmp_path / f"{i}.npz")
    merged = FeatureStats.load(tmp_path / "0.npz").merged(FeatureStats.load(tmp_path / "1.npz")).merged(
        FeatureStats.load(tmp_path / "2.npz"))
    mu, cov = merged.mean_cov()
    assert merged.count == 300
    assert np.allclose(mu, feats.mean(0)) and np.allclose(cov, np.cov(feats, rowvar=False))
    assert np.allclose(whole.mean_cov()[1], cov)


def test_sampled_gaussians_give_the_expected_frechet_distance():
    rng = np.random.default_rng(6)
    a, b = FeatureStats.empty(4), FeatureStats.empty(4)
    a.add(rng.normal(0.0, 1.0, (20000, 4)))
    b.add(rng.normal(1.0, 2.0, (20000, 4)))
    # |Δmu|² = 4, Σ(σ1 - σ2)² = 4
    assert stats_distance(a, b) == pytest.approx(8.0, abs=0.15)
