"""MagicPortrait diffusion generator on diffusers building blocks.

Public entry points (the CLI wires these):
    load_pipeline, generate_video, GenerationSettings   -- generation (`--engine diffusion`)
    convert_weights                                     -- `reenact weights convert`
    check_weights, WeightStatus, diffusion_available    -- `reenact doctor`, engine auto-selection
"""

from .config import ModelConfig
from .context import ContextSettings, uniform_windows
from .model import MagicPortraitModel
from .pipeline import (GeneratedVideo, GenerationSettings, MagicPortraitPipeline, generate_video, load_pipeline,
                       make_scheduler)
from .weights import (WeightPaths, WeightStatus, check_weights, convert_weights, diffusion_available,
                      load_checkpoints, load_model)

__all__ = [
    "ContextSettings", "GeneratedVideo", "GenerationSettings", "MagicPortraitModel", "MagicPortraitPipeline",
    "ModelConfig", "WeightPaths", "WeightStatus", "check_weights", "convert_weights", "diffusion_available",
    "generate_video",
    "load_checkpoints", "load_model", "load_pipeline", "make_scheduler", "uniform_windows",
]
