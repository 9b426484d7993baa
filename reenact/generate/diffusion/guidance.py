"""Guidance encoder: one guidance map type (depth, normal or render) -> features at latent size.

Per frame: conv_in, SiLU, six 3x3 convs each followed by SiLU (stride 2 at the 2nd, 4th and 6th, so
8x down), one spatial self-attention block, conv_out (no activation). The official module also
builds five more attention blocks and a `guidance_attention` that its forward never uses (Q3);
they are not built here, and the loader lists their keys as deliberately ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn

from .config import GuidanceEncoderConfig


class GuidanceEncoder(nn.Module):
    """(B, 3, F, H, W) maps in [0, 1] -> (B, embedding_channels, F, H/8, W/8)."""

    def __init__(self, config: GuidanceEncoderConfig = GuidanceEncoderConfig()) -> None:
        super().__init__()
        self.config = config
        ch = config.block_out_channels
        self.conv_in = nn.Conv2d(config.input_channels, ch[0], kernel_size=3, padding=1)
        convs = []
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            convs.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            convs.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
        self.blocks = nn.ModuleList(convs)
        heads = config.num_attention_heads
        # the one attention block the official forward uses: attentions[-1] (GroupNorm 32, eps 1e-6)
        self.attention = Transformer2DModel(num_attention_heads=heads, attention_head_dim=ch[-1] // heads,
                                            in_channels=ch[-1], norm_num_groups=32)
        self.conv_out = nn.Conv2d(ch[-1], config.embedding_channels, kernel_size=3, padding=1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = maps.shape
        x = maps.transpose(1, 2).reshape(b * f, c, h, w)      # frames never interact here
        x = F.silu(self.conv_in(x))
        for conv in self.blocks:
            x = F.silu(conv(x))
        x = self.attention(x, return_dict=False)[0]
        x = self.conv_out(x)
        return x.reshape(b, f, *x.shape[1:]).transpose(1, 2)
