"""Helpers for the training tests: an SD1.5 stand-in folder, a prompt embedding, and a dataset prepared by
`reenact train prepare` from a clip of the astronaut portrait moving (made here, once per session)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portrait_helpers import similarity, warp  # noqa: E402

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "magicportrait" / "tiny"

# The fixture architecture cut to two levels (one layer each): the same block kinds, motion modules,
# reference attention and guidance encoders, cheap enough to train on a shared 2-core CPU.
SMALL_UNET = {
    "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [32, 32], "center_input_sample": False,
    "cross_attention_dim": 32, "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "downsample_padding": 1,
    "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 1, "mid_block_scale_factor": 1,
    "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 8,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
}


def write_sd15_standin(folder: Path, unet_config: dict | None) -> Path:
    """unet/config.json + unet weights: the fixture's own SD stand-in, or a random UNet of `unet_config`."""
    import json

    from diffusers import UNet2DConditionModel

    unet_dir = folder / "unet"
    unet_dir.mkdir(parents=True, exist_ok=True)
    if unet_config is None:
        shutil.copy(TINY / "unet" / "config.json", unet_dir / "config.json")
        sd = torch.load(TINY / "denoising_unet.pth", map_location="cpu", weights_only=True)
    else:
        (unet_dir / "config.json").write_text(json.dumps(unet_config))
        torch.manual_seed(404)
        sd = UNet2DConditionModel.from_config(unet_config).state_dict()
    save_file({k: v.contiguous() for k, v in sd.items()}, str(unet_dir / "diffusion_pytorch_model.safetensors"))
    return folder


def moving_astronaut(n: int) -> list[np.ndarray]:
    from skimage import data

    face = data.astronaut()
    return [warp(face, similarity(4 * np.sin(t / 2), 1.0 + 0.01 * t, 2 * t, 0)) for t in range(n)]


def small_config(assets, out: Path, stage: str = "stage1", **overrides):
    from reenact.train import ModelInit, TrainConfig

    init = ModelInit(sd15=str(assets["small"]), vae=str(assets["vae"]), prompt_embeds=str(assets["prompt"]),
                     guidance_widths=(16, 32, 32, 64), checkpoint=overrides.pop("checkpoint", None),
                     motion_module=overrides.pop("motion_module", None))
    base = dict(stage=stage, output_dir=str(out), init=init, width=64, height=64,
                num_frames=1 if stage == "stage1" else 4, batch_size=1, max_steps=20, lr=1e-3, lr_warmup_steps=0,
                num_workers=0, checkpoint_every=1000, validate_every=0, progress=False, reference_drop=0.0,
                log_with="none", max_grad_norm=1.0)
    base.update(overrides)
    return TrainConfig(**base)
