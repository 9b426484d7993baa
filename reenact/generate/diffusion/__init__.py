"""MagicPortrait diffusion generator on diffusers building blocks.

Public entry points (the CLI wires these):
    load_pipeline, generate_video, GenerationSettings   -- generation (`--engine diffusion`)
    convert_weights                                     -- `reenact weights convert`
    inspect_weights, WeightLayout, WeightStatus         -- which layout a weights folder holds (doctor, planner)
    check_weights, diffusion_available                  -- the same as rows / one bool
    diffusion_device                                    -- the accelerator to run on, or None and why
"""

from .config import ModelConfig
from .context import OFFICIAL_CONTEXT, ContextSettings, uniform_windows
from .device import DiffusionDevice, diffusion_device
from .layout import WeightLayout, inspect_weights
from .model import MagicPortraitModel
from .pipeline import (GeneratedVideo, GenerationSettings, MagicPortraitPipeline, generate_video, load_pipeline,
                       make_scheduler)
from .weights import (WeightPaths, WeightStatus, check_weights, convert_weights, diffusion_available,
                      load_checkpoints, load_model)

__all__ = [
    "OFFICIAL_CONTEXT", "DiffusionDevice", "WeightLayout", "diffusion_device", "inspect_weights",
    "ContextSettings", "GeneratedVideo", "GenerationSettings", "MagicPortraitModel", "MagicPortraitPipeline",
    "ModelConfig", "WeightPaths", "WeightStatus", "check_weights", "convert_weights", "diffusion_available",
    "generate_video",
    "load_checkpoints", "load_model", "load_pipeline", "make_scheduler", "uniform_windows",
]
