"""tools/bench_generator.py keeps working: a tiny CPU run, and the full-size FLOP count on the meta device."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from reenact.generate.diffusion import ContextSettings

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench_generator.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_generator", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tiny_benchmark_runs_on_cpu_and_reports_per_frame_time(tmp_path):
    bench = load_bench()
    out = tmp_path / "bench.json"
    assert bench.main(["--tiny", "--device", "cpu", "--frames", "2", "--steps", "1", "--no-warmup",
                       "--modes", "official,bf16", "--json", str(out)]) == 0
    official, bf16 = json.loads(out.read_text())
    assert (official["mode"], official["dtype"], bf16["dtype"]) == ("official", "fp32", "bf16")
    assert official["frames"] == 2 and official["size"] == 128
    assert official["seconds_per_frame"] > 0 and official["tflop_total"] > 0 and official["peak_host_rss_gib"] > 0
    assert official["peak_memory_gib"] is None and official["flop_limit_seconds_per_frame"] is None
    assert official["max_abs_diff"] == 0 and bf16["speedup_vs_official"] > 0
    assert 0 < bf16["mean_abs_diff"] <= bf16["max_abs_diff"] < 0.5        # bf16 rounding, not garbage


@pytest.mark.slow
def test_a_failing_mode_keeps_the_rows_already_measured_and_fails_the_run(tmp_path, monkeypatch, capsys):
    # a GPU run lost its whole table to its last mode raising (2026-12-04): rows are written as they end
    bench = load_bench()
    monkeypatch.setitem(bench.MODES, "broken", dict(dtype="fp8"))
    out = tmp_path / "bench.json"
    assert bench.main(["--tiny", "--device", "cpu", "--frames", "2", "--steps", "1", "--no-warmup",
                       "--modes", "official,broken", "--json", str(out)]) == 1
    rows = json.loads(out.read_text())
    assert [r["mode"] for r in rows] == ["official"]
    captured = capsys.readouterr()
    assert "| official | fp32 |" in captured.out and "mode broken failed" in captured.err


@pytest.mark.slow
def test_full_size_flop_count_follows_the_window_schedule():
    bench = load_bench()
    ctx = ContextSettings()
    one_step = bench.count_flops(False, 512, 24, 1, 3.5, ctx)
    twenty_steps = bench.count_flops(False, 512, 24, 20, 3.5, ctx)
    per_unet_call = (twenty_steps - one_step) / (19 * 3)       # 24 frames = 3 windows per step
    # one CFG call = 24 SD1.5-sized UNet passes at 64x64 latents (~1 TFLOP each) plus motion modules
    assert 20e12 < per_unet_call < 40e12
    assert 1500e12 < twenty_steps < 2500e12
