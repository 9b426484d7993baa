import numpy as np
import pytest
from skimage.metrics import structural_similarity

from reenact.eval import pixel_metrics as pm


def test_identical_frames_give_l1_0_ssim_1_and_psnr_at_its_cap(astronaut):
    assert pm.l1(astronaut, astronaut.copy()) == 0.0
    assert pm.ssim(astronaut, astronaut.copy()) == pytest.approx(1.0, abs=1e-12)
    assert pm.psnr(astronaut, astronaut.copy()) == pm.PSNR_CAP_DB == 100.0
    assert pm.psnr(astronaut, astronaut, cap=60.0) == 60.0


def test_a_known_shift_of_a_ramp_gives_the_analytic_l1_and_psnr():
    ramp = np.tile(2.0 * np.arange(120), (64, 1))          # grey level 2x at column x
    shift = 3
    a, b = ramp[:, shift:], ramp[:, :-shift]                # b(x) = a(x) - 6 everywhere
    assert pm.l1(a, b) == pytest.approx(2.0 * shift)
    assert pm.mse(a, b) == pytest.approx((2.0 * shift) ** 2)
    assert pm.psnr(a, b) == pytest.approx(10 * np.log10(255.0 ** 2 / 36.0))   # 32.55 dB


def test_gaussian_noise_of_sigma_gives_psnr_20_log10_255_over_sigma():
    rng = np.random.default_rng(1)
    clean = np.full((384, 384, 3), 128.0)
    for sigma in (2.0, 8.0, 25.0):
        noisy = clean + rng.normal(0.0, sigma, clean.shape)
        assert pm.psnr(clean, noisy) == pytest.approx(10 * np.log10(255.0 ** 2 / sigma ** 2), abs=0.02)
        assert pm.l1(clean, noisy) == pytest.approx(sigma * np.sqrt(2 / np.pi), rel=0.01)   # E|N(0, s²)|


def test_ssim_of_two_flat_frames_is_the_luminance_term():
    a, b = np.full((40, 40), 100.0), np.full((40, 40), 110.0)
    c1 = (0.01 * 255) ** 2
    assert pm.ssim(a, b) == pytest.approx((2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1), abs=1e-12)


def test_ssim_matches_scikit_image_on_a_noisy_portrait(astronaut):
    rng = np.random.default_rng(2)
    noisy = np.clip(astronaut + rng.normal(0, 20, astronaut.shape), 0, 255).astype(np.uint8)
    ours = pm.ssim(astronaut, noisy)
    ref = structural_similarity(astronaut, noisy, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                data_range=255, channel_axis=2)
    assert ours == pytest.approx(ref, abs=1e-9) and 0.3 < ours < 0.6


def test_mismatched_frames_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        pm.l1(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))


def test_bg_rmse_is_0_when_only_the_face_region_changed(astronaut):
    landmarks = np.array([[180, 80], [270, 80], [180, 180], [270, 180]], float)
    mask = pm.head_mask(astronaut.shape[:2], landmarks, scale=1.8)
    changed = astronaut.copy()
    changed[mask] = 255 - changed[mask]
    assert pm.bg_rmse(changed, astronaut, mask) == 0.0
    assert pm.l1(changed, astronaut) > 5        # the face region did change


def test_bg_rmse_measures_background_noise_and_ignores_the_face(astronaut):
    landmarks = np.array([[180, 80], [270, 180]], float)
    mask = pm.head_mask(astronaut.shape[:2], landmarks, scale=1.8)
    rng = np.random.default_rng(3)
    noisy = astronaut + rng.normal(0, 6.0, astronaut.shape)
    noisy[mask] = 0.0                            # wrecked face: must not count
    assert pm.bg_rmse(noisy, astronaut, mask) == pytest.approx(6.0, rel=0.01)
    assert pm.bg_rmse(noisy, astronaut, np.ones(mask.shape, bool)) is None


def test_head_mask_is_the_scaled_ellipse_around_the_landmarks_and_the_forehead_above_them():
    landmarks = np.array([[100, 100], [160, 180]], float)   # box 60 x 80, extended up to 60 x 120
    mask = pm.head_mask((400, 400), landmarks, scale=2.0, forehead=0.5)
    assert mask.sum() == pytest.approx(np.pi * 60 * 120, rel=0.01)    # semi-axes 2 x 30 and 2 x 60
    centre = (120, 130)                                                # (y, x): 40 px above the box centre
    assert mask[centre[0] - 119, 130] and not mask[centre[0] - 121, 130]
    assert mask[centre[0], 130 + 59] and not mask[centre[0], 130 + 61]
    flat = pm.head_mask((400, 400), landmarks, scale=2.0, forehead=0.0)
    assert flat.sum() == pytest.approx(np.pi * 60 * 80, rel=0.01)


def test_flicker_is_1_for_a_copy_0_for_a_frozen_output_and_grows_with_temporal_noise():
    rng = np.random.default_rng(4)
    driving = [np.full((32, 32, 3), 100.0) + 4.0 * t for t in range(6)]   # +4 grey levels per frame
    d_changes = [pm.mean_abs_change(a, b) for a, b in zip(driving, driving[1:])]
    assert d_changes == pytest.approx([4.0] * 5)
    assert pm.flicker_ratio(d_changes, d_changes) == 1.0
    assert pm.flicker_ratio([0.0] * 5, d_changes) == 0.0
    shimmer = [f + rng.normal(0, 3.0, f.shape) for f in driving]
    s_changes = [pm.mean_abs_change(a, b) for a, b in zip(shimmer, shimmer[1:])]
    assert pm.flicker_ratio(s_changes, d_changes) > 1.1
    assert pm.flicker_ratio([0.2], [0.0]) == pytest.approx(0.2 / 0.05)     # a frozen driving clip
