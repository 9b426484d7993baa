"""Issue 12: AED / APD as the literature measures them (SMIRK expression + jaw, DECA rotation),
next to the MediaPipe / dlib estimators, when the user has the encoder weights; named as not
measured when not. The weights here are the encoder tests' random ones in the official formats:
they measure nothing meaningful about faces, but they are a deterministic function of the crop,
so a perfect copy scores exactly 0 and a frozen output does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reenact.eval import run_eval
from reenact.eval.estimators import Estimators
from reenact.schema import EvalOptions
from reenact.eval.estimators.encoders import deca_angles
from tests.eval.runners import copy_driving, still_source
from tests.tracking.encoders.recipe import write_random_checkpoints

FACE = {"aed", "apd", "aed_smirk", "apd_deca"}
FEW = EvalOptions(face_frames=2)   # DECA's ResNet-50 costs about a second a frame on a CPU


@pytest.fixture(scope="module")
def one_clip(tmp_path_factory, clip_dir) -> Path:
    import shutil

    folder = tmp_path_factory.mktemp("one_clip")
    shutil.copy(clip_dir / "sway.mp4", folder)
    return folder


@pytest.fixture(scope="module")
def encoder_estimators(tmp_path_factory):
    paths = write_random_checkpoints(tmp_path_factory.mktemp("encoders"))
    est = Estimators.load(Path("/nonexistent-weights"), "cpu", FACE, encoder_paths=paths)
    yield est
    est.close()


def test_encoder_readings_name_their_weights_and_give_smirk_and_deca_values(encoder_estimators, astronaut):
    est = encoder_estimators
    name, version = est.estimator("aed_smirk")
    assert "SMIRK" in name and version.startswith("SMIRK_em1.pt sha256:")
    name, version = est.estimator("apd_deca")
    assert "DECA" in name and version.startswith("deca_model.tar sha256:")
    assert "MediaPipe" in est.estimator("aed")[0]                   # the existing estimators stay
    reading = est.reading(astronaut)
    assert reading.smirk.shape == (53,) and np.isfinite(reading.smirk).all()
    assert reading.deca_angles.shape == (3,) and np.isfinite(reading.deca_angles).all()
    # the jaw follows SMIRK's output rule: opening >= 0, sides within 0.2 rad
    assert reading.smirk[50] >= 0 and np.abs(reading.smirk[51:]).max() <= 0.2 + 1e-6
    # a moved face gives other codes (the encoders really look at the crop)
    assert np.abs(est.reading(np.ascontiguousarray(astronaut[:, ::-1])).smirk - reading.smirk).max() > 1e-4


def test_deca_rotation_becomes_yaw_pitch_roll_in_the_eval_convention():
    # a head turned 20 degrees about FLAME's vertical axis is a 20-degree yaw; a nod is pitch
    angles = deca_angles(np.radians([[0.0, 20.0, 0.0], [10.0, 0.0, 0.0]]))
    np.testing.assert_allclose(np.abs(angles), [[20.0, 0, 0], [0, 10.0, 0]], atol=1e-9)


@pytest.mark.slow   # 12 DECA + SMIRK readings: about 10 s on an idle CPU
def test_the_report_carries_the_encoder_metrics_and_names_them(tmp_path, one_clip, encoder_estimators):
    perfect = run_eval("self", one_clip, None, "warp", tmp_path / "copy", 6, runner=copy_driving,
                       options=FEW, estimators=encoder_estimators)
    frozen = run_eval("self", one_clip, None, "warp", tmp_path / "still", 6, runner=still_source,
                      options=FEW, estimators=encoder_estimators)
    a = json.loads((tmp_path / "copy" / "metrics.json").read_text())
    b = json.loads((tmp_path / "still" / "metrics.json").read_text())
    for m in ("aed_smirk", "apd_deca"):
        assert a["metrics"][m]["measured"] and "sha256:" in a["metrics"][m]["version"]
        assert a["clips"][0]["counts"][m] == 2
        assert a["aggregate"][m]["mean"] == 0.0                      # identical frames, identical codes
        assert b["aggregate"][m]["mean"] > 0.0                       # a frozen face does not follow the driving
    text = perfect.read_text()
    assert "| aed_smirk | 0 ± 0 | lower | 1 clips | SMIRK expression encoder" in text
    assert "| apd_deca | 0 ± 0 | lower | 1 clips | DECA coarse encoder" in text
    assert "| aed |" in text and "MediaPipe blendshapes" in text      # next to the MediaPipe AED
    assert frozen.is_file()


def test_without_encoder_weights_the_metrics_are_absent_and_say_why(tmp_path, one_clip):
    missing = (tmp_path / "flame" / "deca_model.tar", tmp_path / "flame" / "SMIRK_em1.pt")
    est = Estimators.load(Path("/nonexistent-weights"), "cpu", FACE, encoder_paths=missing)
    try:
        assert est.encoders is None and est.estimator("aed_smirk") is None and est.estimator("apd_deca") is None
        report = run_eval("self", one_clip, None, "warp", tmp_path / "run", 2, runner=copy_driving,
                          options=FEW, estimators=est)
    finally:
        est.close()
    table = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert table["aed_smirk"]["measured"] is False and str(missing[1]) in table["aed_smirk"]["reason"]
    assert table["apd_deca"]["measured"] is False and str(missing[0]) in table["apd_deca"]["reason"]
    assert table["aed"]["measured"]                                    # MediaPipe still measures AED
    assert f"- `aed_smirk`: not measured: {missing[1]} missing" in report.read_text()
