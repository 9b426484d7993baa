"""`accelerate launch --multi_gpu --num_processes 2` on a CPU-only machine (gloo) follows the loss curve
of one process with the same global batch: the samples of micro-step i are drawn per slot of the
global batch (dataset.py).

The launch is the command docs/training.md gives users. `--multi_gpu` is what makes accelerate start
the processes (through torchrun); `--cpu` would start one process unless an MPI hostfile is set
(accelerate 1.16, commands/launch.py). No ACCELERATE_USE_CPU here and no visible GPU: the run itself
must see that it was started as two processes and join them on the CPU (reenact/processes.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "WORLD_SIZE", "RANK", "LOCAL_"))}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", HF_HOME=str(cwd / "hf"),   # no user accelerate config
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_accelerate_launch_two_processes_follows_the_one_process_loss_curve(prepared, train_assets, tmp_path):
    from _setup import small_config
    from reenact.train.config import config_dict

    def write_config(name: str, batch: int) -> Path:
        cfg = config_dict(small_config(train_assets, tmp_path / name, max_steps=4, batch_size=batch,
                                       reference_drop=0.3))
        cfg.pop("stage")
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    common = ["-m", "reenact", "train", "stage1", "--data", str(prepared[0]), "-q"]
    _run([sys.executable, *common, "--train-config", str(write_config("one", 2))], tmp_path)
    accelerate = [sys.executable, "-m", "accelerate.commands.accelerate_cli"]       # = the `accelerate` command
    _run([*accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--main_process_port", "0", "--mixed_precision", "no", "--dynamo_backend", "no",
          *common, "--train-config", str(write_config("two", 1))], tmp_path)
    one, two = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert [m["processes"] for m in one] == [1] * 4
    assert [m["processes"] for m in two] == [2] * 4          # one gloo group, not two lone runs
    assert [m["loss"] for m in two] == pytest.approx([m["loss"] for m in one], rel=1e-4, abs=1e-6)


def test_a_launch_the_process_group_does_not_match_is_a_one_line_error(monkeypatch):
    import torch

    from reenact.errors import InputError
    from reenact.processes import check_process_group, needs_cpu_group

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not needs_cpu_group()                       # a plain run: accelerate's own choice
    check_process_group(1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    if not torch.cuda.is_available():
        assert needs_cpu_group()
    with pytest.raises(InputError, match="started 2 processes but accelerate joined 1"):
        check_process_group(1)
