"""Where the diffusion generator can run, and what running it there would cost.

The engine choice (`--engine auto`, the planner) asks `diffusion_device()`: a CUDA or MPS device, or
None with a one-line reason. On a CPU a 100-frame clip at the official settings is ~5.9 PFLOP of
UNet work: hours, so `auto` never picks it there; `--engine diffusion` still can.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Measured on CPU (BENCHMARKS.md): full-size model, 4 frames at 256^2, 20 steps, CFG 3.5, fp32 took
# 192 s on a shared 2-core VM; 512^2 has 4x the pixels. A rough figure for the one-line explanation.
CPU_SECONDS_PER_FRAME_512 = 4 * 192 / 4


@dataclass(frozen=True)
class DiffusionDevice:
    device: torch.device | None     # None: no accelerator
    reason: str                     # one line: what was found, or why diffusion would be slow here


def diffusion_device(requested: str | None = None) -> DiffusionDevice:
    """The accelerator the generator should use (`requested` "cuda", "cuda:1", "mps" or "cpu" forces one)."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            return DiffusionDevice(None, f"{requested} was asked for but CUDA is not available")
        if device.type == "cpu":
            return DiffusionDevice(None, f"the CPU was asked for: {cpu_cost_line()}")
        return DiffusionDevice(device, f"{requested} as configured")
    if torch.cuda.is_available():
        return DiffusionDevice(torch.device("cuda"), f"CUDA: {torch.cuda.get_device_name(0)}")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return DiffusionDevice(torch.device("mps"), "Apple MPS")
    return DiffusionDevice(None, f"no CUDA or MPS device: {cpu_cost_line()}")


def cpu_cost_line(frames: int = 100) -> str:
    minutes = frames * CPU_SECONDS_PER_FRAME_512 / 60
    return (f"diffusion on the CPU takes ~{CPU_SECONDS_PER_FRAME_512:.0f} s per 512x512 frame "
            f"(~{minutes / 60:.0f} h for {frames} frames)")
