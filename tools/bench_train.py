#!/usr/bin/env python
"""Benchmark one training step of stage 1 and stage 2 (random weights: speed does not depend on them).

A step is the full training forward (guidance encoders, reference UNet with gradients, denoising
UNet), the backward and an AdamW step on exactly the parameters the stage trains
(reenact.train.models), under the chosen autocast dtype. The VAE encode of the batch and data
loading are left out: they overlap with the step in a real run (data workers) and are small.

    python tools/bench_train.py                               # GPU: full size, 512², bf16, grad. checkpointing
    python tools/bench_train.py --tiny --size 64 --frames 4   # fixture-sized on CPU (keeps the script honest)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.benchlib import cpu_name  # noqa: E402

from reenact.generate.diffusion import MagicPortraitModel, ModelConfig  # noqa: E402
from reenact.train.loop import DiffusionObjective  # noqa: E402
from reenact.train.models import NO_MOTION, enable_gradient_checkpointing, trainable_parameters  # noqa: E402


def bench(stage: str, tiny: bool, size: int, frames: int, batch: int, dtype: str, checkpointing: bool,
          steps: int, device: str) -> dict:
    config = ModelConfig.tiny() if tiny else ModelConfig.full_size()
    if stage == "stage1":
        config, frames = replace(config, motion=NO_MOTION), 1
    torch.manual_seed(0)
    model = MagicPortraitModel(config).to(device)
    model.requires_grad_(False)
    params = [p for _, p in trainable_parameters(model, stage)]
    for p in params:
        p.requires_grad_(True)
    if checkpointing:
        enable_gradient_checkpointing(model)
    objective = DiffusionObjective(model).train()
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    h = size // 8
    text_dim = config.unet["cross_attention_dim"]
    amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i in range(steps + 2):                        # two warm-up steps
        noisy = torch.randn(batch, 4, frames, h, h, device=device)
        ref = torch.randn(batch, 4, h, h, device=device)
        maps = torch.rand(batch, 9, frames, size, size, device=device)
        text = torch.randn(batch, 77, text_dim, device=device)
        t = torch.randint(0, 1000, (batch,), device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=amp, enabled=amp is not None):
            loss = objective(noisy, t, ref, maps, text).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"stage": stage, "tiny": tiny, "size": size, "frames": frames, "batch": batch, "dtype": dtype,
            "gradient_checkpointing": checkpointing, "median_step_s": median, "steps_per_s": 1 / median,
            "trainable_parameters": sum(p.numel() for p in params),
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2 ** 30 if device == "cuda" else None,
            "device": torch.cuda.get_device_name() if device == "cuda" else cpu_name(),
            "threads": torch.get_num_threads()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--frames", type=int, default=16, help="stage-2 clip length (stage 1 uses 1)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", default="bf16", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--no-checkpointing", action="store_true")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--stages", nargs="+", default=["stage1", "stage2"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = [bench(s, args.tiny, args.size, args.frames, args.batch, args.dtype, not args.no_checkpointing,
                  args.steps, device) for s in args.stages]
    for r in rows:
        mem = f", peak {r['peak_memory_gib']:.1f} GiB" if r["peak_memory_gib"] is not None else ""
        print(f"{r['stage']}: {r['steps_per_s']:.2f} steps/s (median {r['median_step_s'] * 1000:.0f} ms) at "
              f"{r['size']}² x {r['frames']} frame(s), batch {r['batch']}, {r['dtype']}{mem} on {r['device']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
