"""AnimateDiff-style motion module: self-attention across the frames of each pixel.

diffusers has this layer (`AnimateDiffTransformer3D`), but its GroupNorm pools statistics over all
frames of a clip, while the official MagicPortrait/AnimateDiff module normalises each frame on its
own (quirk Q8). So the outer module is written here; the inner transformer block is diffusers'
`BasicTransformerBlock`, which with `double_self_attention` and sinusoidal positions is exactly the
official `Temporal_Self, Temporal_Self` block (position encoding added to the normalised input
before each attention, residuals on the un-normalised stream, GEGLU feed-forward).
"""

from __future__ import annotations

import torch
from diffusers.models.attention import BasicTransformerBlock
from torch import nn


class MotionModule(nn.Module):
    """Input and output: (batch*frames, C, H, W), frames of one clip contiguous ("(b f)" order)."""

    def __init__(self, channels: int, num_attention_heads: int = 8, max_frames: int = 32) -> None:
        super().__init__()
        if channels % num_attention_heads or channels % 32:
            raise ValueError(f"motion module width {channels} must be a multiple of 32 and of the head count")
        self.max_frames = max_frames
        self.norm = nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([
            BasicTransformerBlock(
                channels, num_attention_heads, channels // num_attention_heads,
                activation_fn="geglu", attention_bias=False, double_self_attention=True,
                positional_embeddings="sinusoidal", num_positional_embeddings=max_frames,
            )
        ])
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, hidden_states: torch.Tensor, num_frames: int) -> torch.Tensor:
        if num_frames > self.max_frames:
            raise ValueError(f"{num_frames} frames in one window; the motion module takes at most {self.max_frames}")
        bf, c, h, w = hidden_states.shape
        b = bf // num_frames
        residual = hidden_states
        x = self.norm(hidden_states)                                   # per frame (Q8)
        x = x.reshape(b, num_frames, c, h * w).permute(0, 3, 1, 2).reshape(b * h * w, num_frames, c)
        x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x)                                               # positions restart at 0 per call
        x = self.proj_out(x)
        x = x.reshape(b, h * w, num_frames, c).permute(0, 2, 3, 1).reshape(bf, c, h, w)
        return x + residual
