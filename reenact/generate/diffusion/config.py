"""Architecture settings of the MagicPortrait models, as the official release fixes them.

The 2D part of both UNets is described by a Stable Diffusion 1.5 `unet/config.json` (read from the
user's SD folder); what the official `inference.yaml` adds on top lives here as dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The fixed prompt of the official inference script; CFG does not use text (quirk Q2), so this
# embedding is the only text the model ever sees.
PROMPT = "A close up of a person."

# The official code multiplies/divides by this constant and never reads vae.config.scaling_factor (Q13).
VAE_LATENT_SCALE = 0.18215

GUIDANCE_TYPES: tuple[str, ...] = ("depth", "normal", "render")   # encoder order = sum order (Q15)

# stable-diffusion-v1-5/unet/config.json, for building full-size models without the SD folder
# (benchmarks, manifest checks).
SD15_UNET_CONFIG: dict[str, Any] = {
    "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False, "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
    "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
    "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}

# Same structure at width 32: the size of the golden fixtures, and of `bench_generator.py --tiny`.
TINY_UNET_CONFIG: dict[str, Any] = {**SD15_UNET_CONFIG, "block_out_channels": [32, 32, 32, 32],
                                    "cross_attention_dim": 32, "sample_size": 8}

# The official DDIMScheduler kwargs. beta_schedule stays "linear": the official script switches it to
# "scaled_linear" only after the scheduler was built, so that never took effect (Q1).
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "linear",
    "steps_offset": 1, "clip_sample": False, "rescale_betas_zero_snr": True,
    "timestep_spacing": "trailing", "prediction_type": "v_prediction",
}


@dataclass(frozen=True)
class MotionModuleConfig:
    """AnimateDiff "Vanilla" motion modules as `unet_additional_kwargs` of inference.yaml sets them."""

    num_attention_heads: int = 8
    max_frames: int = 32                     # temporal_position_encoding_max_len: windows must fit
    resolutions: tuple[int, ...] = (1, 2, 4, 8)   # downsampling factors that get motion modules
    mid_block: bool = True
    decoder_only: bool = False


@dataclass(frozen=True)
class GuidanceEncoderConfig:
    """One guidance encoder. Official widths (16, 32, 96, 256); the fixtures use (16, 32, 32, 64)."""

    embedding_channels: int = 320            # must equal the UNet's block_out_channels[0]
    input_channels: int = 3
    block_out_channels: tuple[int, ...] = (16, 32, 96, 256)
    num_attention_heads: int = 8


@dataclass
class ModelConfig:
    """Everything needed to build the three model kinds (weights come separately)."""

    unet: dict[str, Any] = field(default_factory=lambda: dict(SD15_UNET_CONFIG))
    motion: MotionModuleConfig = field(default_factory=MotionModuleConfig)
    guidance: GuidanceEncoderConfig = field(default_factory=GuidanceEncoderConfig)
    guidance_types: tuple[str, ...] = GUIDANCE_TYPES

    @classmethod
    def full_size(cls) -> "ModelConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "ModelConfig":
        return cls(unet=dict(TINY_UNET_CONFIG),
                   guidance=GuidanceEncoderConfig(embedding_channels=32, block_out_channels=(16, 32, 32, 64)))
