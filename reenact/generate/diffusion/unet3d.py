"""The denoising UNet: SD1.5's 2D UNet run on every frame, with motion modules between its layers.

The 2D layers are diffusers' own (built from the SD `unet/config.json` by `UNet2DConditionModel`);
this module adopts them under the same attribute names, so its state-dict keys are the official
keys, and adds `motion_modules` to every block. The forward pass is written out here because the
official layer order differs from anything in diffusers: resnet -> spatial transformer -> motion
module in each layer, the motion module's output is the skip connection, and the guidance features
are added right after `conv_in` (Q8).

Frames are folded into the batch ("(b f)", batch-major) for every 2D op. That is exactly the
official "inflated" behaviour: its GroupNorms and convolutions act per frame
(use_inflated_groupnorm: true), and its text embeddings and time embedding are shared by all frames.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from .config import MotionModuleConfig
from .motion import MotionModule

SUPPORTED_DOWN = {"CrossAttnDownBlock2D", "DownBlock2D"}
SUPPORTED_UP = {"CrossAttnUpBlock2D", "UpBlock2D"}


def build_unet2d(unet_config: dict[str, Any]) -> UNet2DConditionModel:
    """diffusers UNet from an SD-style config, rejecting variants the official model never had."""
    cfg = {k: v for k, v in unet_config.items() if not k.startswith("_")}
    down, up = set(cfg.get("down_block_types", ())), set(cfg.get("up_block_types", ()))
    if not down <= SUPPORTED_DOWN or not up <= SUPPORTED_UP:
        raise ValueError(f"unsupported UNet block types {sorted((down - SUPPORTED_DOWN) | (up - SUPPORTED_UP))}: "
                         "expected a Stable Diffusion 1.5 unet/config.json")
    for key in ("class_embed_type", "addition_embed_type", "encoder_hid_dim"):
        if cfg.get(key) is not None:
            raise ValueError(f"unsupported UNet option {key}={cfg[key]!r}: expected a Stable Diffusion 1.5 config")
    return UNet2DConditionModel.from_config(cfg)


def _fold(x: torch.Tensor) -> torch.Tensor:
    b, c, f, h, w = x.shape
    return x.transpose(1, 2).reshape(b * f, c, h, w)


def _unfold(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    bf, c, h, w = x.shape
    return x.reshape(bf // num_frames, num_frames, c, h, w).transpose(1, 2)


class DenoisingUNet3D(nn.Module):
    """(B, 4, F, h, w) noisy latents -> (B, 4, F, h, w) prediction (v-prediction for the release)."""

    def __init__(self, unet_config: dict[str, Any], motion: MotionModuleConfig = MotionModuleConfig()) -> None:
        super().__init__()
        base = build_unet2d(unet_config)
        self.config = base.config
        for name in ("conv_in", "time_proj", "time_embedding", "down_blocks", "mid_block", "up_blocks",
                     "conv_norm_out", "conv_act", "conv_out"):
            setattr(self, name, getattr(base, name))
        del base

        n_down = len(self.down_blocks)
        heads, max_frames = motion.num_attention_heads, motion.max_frames
        for i, block in enumerate(self.down_blocks):
            if 2 ** i in motion.resolutions and not motion.decoder_only:
                width = block.resnets[0].out_channels
                block.motion_modules = nn.ModuleList(MotionModule(width, heads, max_frames) for _ in block.resnets)
        if motion.mid_block:
            width = self.mid_block.resnets[0].out_channels
            self.mid_block.motion_modules = nn.ModuleList(
                MotionModule(width, heads, max_frames) for _ in self.mid_block.attentions)
        for i, block in enumerate(self.up_blocks):
            if 2 ** (n_down - 1 - i) in motion.resolutions:
                width = block.resnets[0].out_channels
                block.motion_modules = nn.ModuleList(MotionModule(width, heads, max_frames) for _ in block.resnets)

    @property
    def dtype(self) -> torch.dtype:
        return self.conv_in.weight.dtype

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float | int,
                encoder_hidden_states: torch.Tensor,
                guidance_features: torch.Tensor | None = None) -> torch.Tensor:
        """sample (B, C, F, h, w); timestep scalar or (B,); encoder_hidden_states (B, L, D);
        guidance_features (B, C0, F, h, w), added after conv_in."""
        b, _, f, h, w = sample.shape
        timesteps = torch.as_tensor(timestep, device=sample.device)
        if timesteps.ndim == 0:
            timesteps = timesteps[None]
        timesteps = timesteps.expand(b)
        emb = self.time_embedding(self.time_proj(timesteps).to(self.dtype))
        emb = emb.repeat_interleave(f, dim=0)
        text = encoder_hidden_states.repeat_interleave(f, dim=0)

        x = self.conv_in(_fold(sample))
        if guidance_features is not None:
            x = x + _fold(guidance_features)

        skips = [x]
        for block in self.down_blocks:
            x, states = self._run_layers(block, x, emb, text, f)
            skips += states
            if block.downsamplers is not None:
                for down in block.downsamplers:
                    x = down(x)
                skips.append(x)

        mid = self.mid_block
        x = mid.resnets[0](x, emb)
        for j, (attn, resnet) in enumerate(zip(mid.attentions, mid.resnets[1:])):
            x = attn(x, encoder_hidden_states=text, return_dict=False)[0]
            if hasattr(mid, "motion_modules"):
                x = mid.motion_modules[j](x, f)
            x = resnet(x, emb)

        for block in self.up_blocks:
            n = len(block.resnets)
            block_skips, skips = skips[-n:], skips[:-n]
            x, _ = self._run_layers(block, x, emb, text, f, block_skips)
            if block.upsamplers is not None:
                # diffusers passes an explicit size only when the skip is not an exact doubling
                size = skips[-1].shape[2:] if skips else None
                if size is not None and tuple(size) == (x.shape[2] * 2, x.shape[3] * 2):
                    size = None
                for up in block.upsamplers:
                    x = up(x, size)

        if self.conv_norm_out is not None:
            x = self.conv_act(self.conv_norm_out(x))
        x = self.conv_out(x)
        return _unfold(x, f)

    @staticmethod
    def _run_layers(block: nn.Module, x: torch.Tensor, emb: torch.Tensor, text: torch.Tensor, f: int,
                    skips: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """resnet -> spatial transformer -> motion module, per layer; returns the per-layer outputs."""
        attentions = getattr(block, "attentions", None)
        motion = getattr(block, "motion_modules", None)
        states = []
        for j, resnet in enumerate(block.resnets):
            if skips is not None:
                x = torch.cat([x, skips.pop()], dim=1)
            x = resnet(x, emb)
            if attentions is not None:
                x = attentions[j](x, encoder_hidden_states=text, return_dict=False)[0]
            if motion is not None:
                x = motion[j](x, f)
            states.append(x)
        return x, states
