"""The typed config schema: one source of defaults, every bad key or value one line naming it."""

import subprocess
import sys

import pytest

from reenact.cli import main
from reenact.config import DEFAULT_CONFIG, load_config, override, to_yaml
from reenact.errors import InputError
from reenact.schema import default_yaml


def test_default_yaml_is_generated_from_the_schema():
    assert DEFAULT_CONFIG.read_text() == default_yaml(), "run: python -m reenact.schema > reenact/configs/default.yaml"
    cfg = load_config(DEFAULT_CONFIG)  # and it loads as a config file, changing nothing
    assert cfg == load_config()


@pytest.mark.parametrize("item, expected", [
    ("faces.crop_sise=256", "unknown key 'faces.crop_sise' (did you mean faces.crop_size?)"),
    ("face.crop_size=256", "unknown section 'face' (did you mean faces?)"),
    ("run.enigne=diffusion", "did you mean run.engine?"),
    ("warp.mouth_interior=foo", "warp.mouth_interior='foo': choose one of auto, source, drawn"),
    ("faces.crop_size=0", "faces.crop_size=0: must be >= 64"),
    ("faces.crop_size=100000", "must be >= 64 and <= 2048"),
    ("warp.map_stride=0", "warp.map_stride=0: must be >= 1"),
    ("render.batch_size=0", "render.batch_size=0: must be >= 1"),
    ("faces.max_gap=abc", "faces.max_gap: Value 'abc'"),
    ("run.fps=nan", "run.fps=nan: must be a finite number"),
    ("run.fps=-5", "run.fps=-5.0: must be > 0"),
    ("faces.face_index=-1", "faces.face_index=-1: must be >= 0"),
    ("align.pose_scale=1e6", "align.pose_scale=1000000.0: must be >= 0 and <= 5"),
    ("run.max_frames=0", "run.max_frames=0: must be >= 1"),
    ("faces=5", "faces"),
    ("crop_size", "expected key=value"),
])
def test_bad_overrides_are_one_line_naming_the_key(item, expected):
    with pytest.raises(InputError) as info:
        load_config(overrides=[item])
    message = str(info.value)
    assert expected in message and "\n" not in message


@pytest.mark.parametrize("text, expected", [
    ("faces: [1, 2\n", "is not valid YAML (line 2)"),
    ("- faces\n- run\n", "must hold a mapping of sections"),
    ("run: !!python/object/apply:os.system ['echo hi']\n", "is not valid YAML"),
    ("run:\n  fps: -5\n", "run.fps=-5.0: must be > 0"),
    ("run:\n  fps: fast\n", "run.fps: Value 'fast'"),
    ("runn:\n  fps: 5\n", "unknown section 'runn' (did you mean run?)"),
])
def test_bad_config_files_are_one_line_naming_the_file(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert expected in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_api_options_are_checked_by_the_schema():
    cfg = override(load_config(), {"align.expression_scale": 1.5, "run.fps": None}, "option")
    assert cfg.align.expression_scale == 1.5 and cfg.run.fps is None
    with pytest.raises(InputError, match="align.smoothing=-1.0: must be >= 0"):
        override(cfg, {"align.smoothing": -1.0}, "--smooth")


def test_written_config_keeps_environment_references_unresolved(monkeypatch):
    monkeypatch.setenv("REENACT_TEST_SECRET", "hunter2")
    cfg = load_config(overrides=["paths.weights_dir=${oc.env:REENACT_TEST_SECRET}"])
    assert cfg.paths.weights_dir == "hunter2"  # used as the value ...
    text = to_yaml(cfg)
    assert "hunter2" not in text and "${oc.env:REENACT_TEST_SECRET}" in text  # ... never written out


@pytest.mark.parametrize("args, expected", [
    (["--set", "faces.crop_sise=256"], "--set faces.crop_sise=256: unknown key"),
    (["--fps", "nan"], "--fps: run.fps=nan: must be a finite number"),
    (["--fps", "0"], "--fps: run.fps=0.0: must be > 0"),
    (["--smooth", "-1"], "--smooth: align.smoothing=-1.0: must be >= 0"),
    (["--face-index", "-1"], "--face-index: faces.face_index=-1: must be >= 0"),
    (["--pose-scale", "1e6"], "--pose-scale: align.pose_scale=1000000.0"),
    (["--expression-scale", "nan"], "--expression-scale: align.expression_scale=nan: must be a finite number"),
    (["--max-frames", "0"], "--max-frames: run.max_frames=0: must be >= 1"),
])
def test_cli_rejects_bad_values_before_any_work(tmp_path, capsys, args, expected):
    out = tmp_path / "out.mp4"
    code = main(["-s", str(tmp_path / "never-read.png"), "-d", "preset:talk", "-o", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"reenact: error: {expected}")
    assert len(err.splitlines()) == 1 and not out.exists()


def test_set_typo_is_one_line_from_the_installed_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "reenact", "-s", "x.png", "-d", "preset:nod", "-o",
                           str(tmp_path / "o.mp4"), "--set", "warp.mouth_interior=foo"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "reenact: error: --set warp.mouth_interior=foo: warp.mouth_interior='foo': choose one of auto, source, drawn"]
