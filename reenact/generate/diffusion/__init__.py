"""MagicPortrait diffusion generator on diffusers building blocks.

Public entry points (the CLI wires these):
    load_pipeline, generate_video, GenerationSettings   -- generation (`--engine diffusion`)
    convert_weights                                     -- `reenact weights convert`
    inspect_weights, WeightLayout, WeightStatus         -- which layout a weights folder holds (doctor, planner)
    check_weights                                       -- the same as rows
    diffusion_device                                    -- the accelerator to run on, or None and why

The names load on first use: `reenact doctor` and the engine choice read `layout` and `device`,
which must work on a warp-only install without diffusers (`pip install reenact`, no extra).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ModelConfig": "config",
    "OFFICIAL_CONTEXT": "context", "ContextSettings": "context", "uniform_windows": "context",
    "DiffusionDevice": "device", "diffusion_device": "device",
    "WeightLayout": "layout", "inspect_weights": "layout",
    "MagicPortraitModel": "model",
    "GeneratedVideo": "pipeline", "GenerationSettings": "pipeline", "MagicPortraitPipeline": "pipeline",
    "generate_video": "pipeline", "load_pipeline": "pipeline", "make_scheduler": "pipeline",
    "WeightStatus": "layout",
    "WeightPaths": "weights", "check_weights": "weights", "convert_weights": "weights",
    "load_checkpoints": "weights", "load_model": "weights",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
