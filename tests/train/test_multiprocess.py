"""Two processes (CPU, gloo) follow the loss curve of one process with the same global batch: the
samples of micro-step i are drawn per slot of the global batch (dataset.py).

The processes are started with torch.distributed.run, the launcher `accelerate launch --multi_gpu`
wraps: on a CPU-only machine `accelerate launch --cpu --num_processes 2` starts one process unless
MPI is configured. The Accelerator inside picks gloo from the environment either way."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path) -> None:
    # ACCELERATE_USE_CPU: without it accelerate looks for an accelerator and runs each process alone
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_follow_the_one_process_loss_curve(prepared, train_assets, tmp_path):
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
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
          *common, "--train-config", str(write_config("two", 1))], tmp_path)
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 4
    assert two == pytest.approx(one, rel=1e-4, abs=1e-6)
