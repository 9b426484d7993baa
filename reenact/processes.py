"""How the processes of one run under `accelerate launch` find each other (train, prepare, eval, batch).

`accelerate launch --multi_gpu --num_processes N` (torchrun underneath) starts N processes and sets
WORLD_SIZE in each. accelerate (checked with 1.16) joins them into one process group only when it
finds a device with a process-group backend (CUDA: NCCL, ...) or when ACCELERATE_USE_CPU is set;
otherwise every process works alone and all of them write the same outputs. `accelerate launch
--cpu --num_processes N` is no way out: it starts one process (N only with an MPI hostfile). So on a
machine without such a device a multi-process launch asks accelerate for its CPU group (gloo), and a
run whose group does not match the launch stops with a one-line error instead of doing the work N times.
"""

from __future__ import annotations

import os

import torch

from .errors import InputError


def launched_processes() -> int:
    """How many processes the launcher started (1 for a plain `reenact train`)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def needs_cpu_group() -> bool:
    """Started as several processes on a machine where accelerate would find no distributed device."""
    if launched_processes() <= 1:
        return False
    try:
        from accelerate.utils.imports import get_distributed_backend, get_torch_accelerator_backend
    except ImportError:                      # older accelerate: no such helpers; CUDA is what it would find
        return not torch.cuda.is_available()
    device_type, _ = get_torch_accelerator_backend()
    return get_distributed_backend(device_type) is None


def check_process_group(num_processes: int) -> None:
    """One-line error when accelerate's group is not the set of processes the launcher started."""
    launched = launched_processes()
    if launched != num_processes:
        raise InputError(f"the launcher started {launched} processes but accelerate joined {num_processes}; "
                         "on a machine without GPUs set ACCELERATE_USE_CPU=true (see docs/training.md, Scale)")


def process_state(**options):
    """accelerate's PartialState for this launch, on the CPU group when no GPU can join them; `options`
    go to PartialState (e.g. a timeout)."""
    from accelerate import PartialState

    state = PartialState(cpu=needs_cpu_group(), **options)
    check_process_group(state.num_processes)
    return state
