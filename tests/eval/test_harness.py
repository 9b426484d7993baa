import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reenact.errors import InputError, NotAvailableError, OutputError
from reenact.eval import merge_run, run_eval
from reenact.eval.estimators import Estimators
from reenact.eval.figures import plot_metrics
from reenact.io.video import iter_frames
from tests.eval.runners import VFR_TIMES_MS, copy_driving, nearest_moments, still_source

ALL_METRICS = {"l1", "psnr", "ssim", "lpips", "fid", "fvd", "csim", "aed", "apd", "akd", "bg_rmse", "flicker",
               "aed_smirk", "apd_deca"}
ENCODER_METRICS = {"aed_smirk", "apd_deca"}   # tests/eval/test_encoder_metrics.py measures them
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def self_run(tmp_path_factory, clip_dir, estimators):
    out = tmp_path_factory.mktemp("self_run")
    report = run_eval("self", clip_dir, None, "warp", out, None, runner=copy_driving, estimators=estimators)
    return out, report


@pytest.mark.slow
def test_a_perfect_self_reenactment_scores_l1_0_ssim_1_psnr_at_cap_and_zero_motion_error(self_run):
    out, report = self_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert report == out / "report.md"
    assert [c["id"] for c in metrics["clips"]] == ["mirror", "sway"]
    for clip in metrics["clips"]:
        m = clip["metrics"]
        assert m["l1"] == 0.0 and m["ssim"] == pytest.approx(1.0, abs=1e-12) and m["psnr"] == 100.0
        assert m["aed"] == 0.0 and m["apd"] == 0.0 and m["akd"] == 0.0 and m["flicker"] == 1.0
        assert m["csim"] > 0.97            # the source is frame 0; later frames are the same face moved
        assert clip["frames_compared"] == 6 and clip["details"]["psnr_frames_at_cap"] == 6
        assert clip["counts"]["csim"] == 6
    agg = metrics["aggregate"]
    assert agg["l1"] == {"mean": 0.0, "std": 0.0, "median": 0.0, "clips": 2}
    assert agg["psnr"]["mean"] == 100.0


def test_metrics_json_names_every_metric_with_its_estimator_version_or_why_it_is_missing(self_run):
    out, _ = self_run
    metrics = json.loads((out / "metrics.json").read_text())
    table = metrics["metrics"]
    assert set(table) == ALL_METRICS and set(metrics["aggregate"]) == ALL_METRICS
    for name, entry in table.items():
        assert entry["better"] in ("lower", "higher") and entry["unit"] and entry["meaning"]
        if entry["measured"]:
            assert entry["estimator"] and entry["version"], name
        else:
            assert entry["reason"].startswith("not measured: /nonexistent-weights/" if name not in ENCODER_METRICS
                                              else "not measured: no encoder weights"), name
    assert {m for m, e in table.items() if not e["measured"]} == {"lpips", "fid", "fvd"} | ENCODER_METRICS
    assert "lpips" in metrics["clips"][0]["metrics"] and metrics["clips"][0]["metrics"]["lpips"] is None


def test_the_run_writes_a_report_a_chart_strips_and_the_exact_source_frames(self_run, clip_dir):
    out, report = self_run
    text = report.read_text()
    assert "| l1 | 0 ± 0 | lower | 2 clips | reenact.eval.pixel_metrics |" in text
    assert "| csim |" in text and "dlib ResNet" in text
    assert "- `fid`: not measured: /nonexistent-weights/inception-2015-12-05.pt missing" in text
    assert "![per-clip metrics](metrics.png)" in text and "![sway](strips/sway.png)" in text
    chart = Image.open(out / "metrics.png")
    assert chart.size[0] > 600 and chart.size[1] > 400
    strip = Image.open(out / "strips" / "sway.png")
    assert strip.size == (5 * 192, 2 * (192 + 18))          # source + 4 moments, driving over output
    first = next(iter_frames(clip_dir / "sway.mp4"))
    assert np.array_equal(np.asarray(Image.open(out / "sources" / "sway.png")), first)


def test_a_second_run_keeps_finished_clips_instead_of_generating_again(self_run, clip_dir, estimators):
    out, _ = self_run
    before = json.loads((out / "metrics.json").read_text())["clips"]

    def must_not_run(*args):
        raise AssertionError("clip generated again")

    run_eval("self", clip_dir, None, "warp", out, None, runner=must_not_run, estimators=estimators)
    after = json.loads((out / "metrics.json").read_text())["clips"]
    assert [c["metrics"] for c in after] == [c["metrics"] for c in before]


@pytest.mark.slow
def test_cross_reenactment_runs_every_source_with_every_clip(tmp_path, clip_dir, source_dir, estimators):
    run_eval("cross", clip_dir, source_dir, "warp", tmp_path, 4, runner=still_source, estimators=estimators)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    ids = [c["id"] for c in metrics["clips"]]
    assert ids == ["astro__mirror", "astro__sway", "astro_small__mirror", "astro_small__sway"]
    assert metrics["metrics"]["l1"]["reason"].startswith("not applicable to cross-reenactment")
    for clip in metrics["clips"]:
        m = clip["metrics"]
        assert set(m) == {"fid", "fvd", "csim", "aed", "apd", "bg_rmse", "flicker"} | ENCODER_METRICS
        assert clip["frames_compared"] == 4
        assert m["csim"] > 0.97                     # the output is the source itself
        assert m["flicker"] == pytest.approx(0.0, abs=0.02)   # frozen output
        assert m["bg_rmse"] < 5.0                   # only the mp4 (yuv420) round trip changed the background
    # the moving driving clip vs a frozen output: the mirrored clip's head stays turned the other way
    assert metrics["clips"][0]["metrics"]["apd"] > metrics["clips"][1]["metrics"]["apd"]


def test_a_failing_clip_is_reported_and_the_others_still_run(tmp_path, clip_dir):
    def flaky(source, driving, output, max_frames):
        if "mirror" in driving.name:
            raise InputError(f"{driving.name}: no face found")
        copy_driving(source, driving, output, max_frames)

    run_eval("self", clip_dir, None, "warp", tmp_path, 3, runner=flaky, estimators=Estimators(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["failed"] == [{"id": "mirror", "error": "mirror.mp4: no face found"}]
    assert metrics["aggregate"]["l1"]["clips"] == 1
    assert "## Failed clips" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_shards_merged_give_exactly_the_single_process_results(tmp_path, clip_dir):
    pixel_only = Estimators(tmp_path / "none")
    single = tmp_path / "single"
    run_eval("self", clip_dir, None, "warp", single, 5, runner=_darker, estimators=pixel_only)
    sharded = tmp_path / "sharded"
    for i in range(2):
        run_eval("self", clip_dir, None, "warp", sharded, 5, runner=_darker, shard=(i, 2), estimators=pixel_only)
    assert not (sharded / "metrics.json").exists()       # shards leave the merge to the end
    merge_run(sharded, plot_backend="pil")
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (single, sharded))
    assert [c["metrics"] for c in a["clips"]] == [c["metrics"] for c in b["clips"]]
    assert a["aggregate"] == b["aggregate"] and a["aggregate"]["l1"]["mean"] > 5


def _darker(source, driving, output, max_frames):
    from reenact.io.writer import write_video

    write_video(output, (f // 2 + 40 for f in iter_frames(driving, max_frames=max_frames)), 25.0, crf=12)


@pytest.mark.slow
def test_accelerate_launch_shards_clips_across_processes(tmp_path, clip_dir):
    pytest.importorskip("accelerate")
    env = dict(os.environ, PYTHONPATH=str(REPO), GLOG_minloglevel="2")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "reenact.eval", "self", "--videos", str(clip_dir), "-o", str(tmp_path / "run"),
           "--max-frames", "3", "--runner", "tests.eval.runners:copy_driving", "--set", "eval.face_frames=2", "-q"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [c["id"] for c in metrics["clips"]] == ["mirror", "sway"] and not metrics["failed"]
    assert all(c["metrics"]["l1"] == 0.0 and c["metrics"]["akd"] == 0.0 for c in metrics["clips"])


@pytest.mark.slow
def test_the_module_command_evaluates_with_a_named_runner(tmp_path, clip_dir, monkeypatch, capsys):
    from reenact.eval.command import main

    monkeypatch.chdir(REPO)
    code = main(["self", "--videos", str(clip_dir), "-o", str(tmp_path / "run"), "--max-frames", "2",
                 "--runner", "tests.eval.runners:copy_driving", "--set", "eval.face_frames=0", "-q"])
    assert code == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["aggregate"]["ssim"]["mean"] == 1.0
    assert main(["self", "--videos", str(tmp_path / "nothing"), "-o", str(tmp_path / "x"), "-q"]) == 2
    assert "videos folder not found" in capsys.readouterr().err


def test_bad_arguments_get_one_line_errors(tmp_path, clip_dir, source_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="unknown protocol"):
        run_eval("selfie", clip_dir, None, "warp", tmp_path / "a", None, runner=copy_driving)
    with pytest.raises(InputError, match="no videos"):
        run_eval("self", empty, None, "warp", tmp_path / "b", None, runner=copy_driving)
    with pytest.raises(InputError, match="needs source portraits"):
        run_eval("cross", clip_dir, None, "warp", tmp_path / "c", None, runner=copy_driving)
    with pytest.raises(OutputError, match="is an input folder"):
        run_eval("cross", clip_dir, source_dir, "warp", source_dir, None, runner=copy_driving)
    with pytest.raises(InputError, match="max_frames"):
        run_eval("self", clip_dir, None, "warp", tmp_path / "d", 0, runner=copy_driving)


def test_without_the_pipeline_the_default_runner_says_it_is_not_available(tmp_path, clip_dir, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "reenact.pipeline" else real(name, *a))
    with pytest.raises(NotAvailableError, match="reenact.pipeline"):
        run_eval("self", clip_dir, None, "warp", tmp_path, 2, estimators=Estimators(tmp_path))


def test_the_chart_draws_without_matplotlib_too(tmp_path):
    path = plot_metrics(tmp_path / "m.png", ["a", "b", "c"], {"l1": [1.0, None, 3.0], "csim": [0.9, 0.8, -0.1],
                                                                "fid": [None, None, None]},
                        {"l1": "l1 (lower better)"}, backend="pil")
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (280, 2 * 420, 3)             # two charts: fid had no values
    assert (img == [76, 114, 176]).all(-1).sum() > 500   # bars were drawn


def test_fid_and_fvd_pool_feature_statistics_over_clips(tmp_path, clip_dir):
    import torch

    from reenact.eval import EvalOptions
    from tests.eval.tiny_scripts import TinyI3D, TinyInception

    weights = tmp_path / "weights"
    weights.mkdir()
    with pytest.warns((DeprecationWarning, FutureWarning)):  # torch.jit is deprecated (the wording varies by torch version)
        torch.jit.save(torch.jit.script(TinyInception()), str(weights / "inception-2015-12-05.pt"))
        torch.jit.save(torch.jit.script(TinyI3D()), str(weights / "i3d_torchscript.pt"))
    est = Estimators.load(weights, "cpu", {"fid", "fvd"})
    opts = EvalOptions(fvd_frames=3)
    run_eval("self", clip_dir, None, "warp", tmp_path / "same", None, runner=copy_driving, estimators=est, options=opts)
    run_eval("self", clip_dir, None, "warp", tmp_path / "dark", None, runner=_darker, estimators=est, options=opts)
    same, dark = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("same", "dark"))
    assert same["metrics"]["fid"]["measured"] and "sha256:" in same["metrics"]["fid"]["version"]
    assert same["aggregate"]["fid"]["samples"] == 12             # 2 clips x 6 frames, pooled
    assert same["aggregate"]["fvd"]["samples"] == 4              # 2 clips x 2 windows of 3 frames
    assert same["aggregate"]["fid"]["value"] == pytest.approx(0.0, abs=1e-6)   # identical frames
    assert same["aggregate"]["fvd"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert dark["aggregate"]["fid"]["value"] > 100               # half as bright: channel means drop ~50
    assert "note" not in dark["aggregate"]["fid"]                # 12 samples for 6-d features
    assert "biased upwards" in dark["aggregate"]["fvd"]["note"]  # 4 samples for 5-d features
    assert dark["clips"][0]["metrics"]["fid"] is None            # pooled: no per-clip value


def test_a_variable_frame_rate_driving_is_compared_at_the_outputs_moments(tmp_path, astronaut):
    """reenact takes a variable-frame-rate driving at each output frame's moment (faces/clock.py);
    compared by index instead, a perfect output read as the wrong frames (before: L1 10.1 levels
    over the clip's 34 frames); at its moments, 50 frames, L1 1.2 (the encoder's noise)."""
    from portrait_helpers import write_tagged_clip
    from reenact.eval.estimators import Estimators
    from tests.eval.conftest import moving_frames

    videos = tmp_path / "videos"
    videos.mkdir()
    write_tagged_clip(videos / "phone.mp4", moving_frames(astronaut, len(VFR_TIMES_MS), seed=3), pts=VFR_TIMES_MS)
    run_eval("self", videos, None, "warp", tmp_path / "run", None, runner=nearest_moments,
             estimators=Estimators(weights_dir=tmp_path))
    clip = json.loads((tmp_path / "run" / "metrics.json").read_text())["clips"][0]
    assert clip["frames_compared"] == 50
    assert clip["metrics"]["l1"] < 2.0
    assert any("compared at the output frames' moments" in note for note in clip["notes"])
