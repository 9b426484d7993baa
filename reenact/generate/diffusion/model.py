"""The MagicPortrait model: reference UNet + denoising 3D UNet + one guidance encoder per map type."""

from __future__ import annotations

from typing import Mapping

import torch
from diffusers import UNet2DConditionModel
from torch import nn

from .config import ModelConfig
from .guidance import GuidanceEncoder
from .reference import ReferenceFeatures, ReferenceReader, ReferenceWriter
from .unet3d import DenoisingUNet3D, build_unet2d


def build_reference_unet(unet_config: dict) -> UNet2DConditionModel:
    """SD1.5 2D UNet without the output head: its output is never used, only its attention inputs (Q4)."""
    unet = build_unet2d(unet_config)
    unet.conv_norm_out = None
    unet.conv_out = nn.Identity()
    return unet


class MagicPortraitModel(nn.Module):
    """All learned parts, plus the reference-attention wiring between the two UNets."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.guidance.embedding_channels != config.unet["block_out_channels"][0]:
            raise ValueError("guidance embedding channels must equal the UNet's first block width")
        self.config = config
        self.reference_unet = build_reference_unet(config.unet)
        self.denoising_unet = DenoisingUNet3D(config.unet, config.motion)
        self.guidance_encoders = nn.ModuleDict({t: GuidanceEncoder(config.guidance) for t in config.guidance_types})
        self.writer = ReferenceWriter(self.reference_unet)
        self.reader = ReferenceReader(self.denoising_unet, self.writer.names)

    @property
    def dtype(self) -> torch.dtype:
        return self.denoising_unet.dtype

    @property
    def device(self) -> torch.device:
        return self.denoising_unet.conv_in.weight.device

    def encode_guidance(self, maps: Mapping[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """maps: {type: (B, 3, F, H, W)} in [0, 1], or one (B, 3*n_types, F, H, W) tensor in type order.
        Returns the sum of the encoders' outputs, (B, C0, F, H/8, W/8), summed in type order (Q15)."""
        if isinstance(maps, torch.Tensor):
            n = self.config.guidance.input_channels
            maps = {t: maps[:, i * n:(i + 1) * n] for i, t in enumerate(self.config.guidance_types)}
        missing = [t for t in self.config.guidance_types if t not in maps]
        if missing:
            raise ValueError(f"guidance maps missing for {missing}")
        feats = [self.guidance_encoders[t](maps[t].to(self.dtype)) for t in self.config.guidance_types]
        return torch.stack(feats, dim=0).sum(dim=0)

    def reference_features(self, ref_latents: torch.Tensor, text_embeds: torch.Tensor,
                           fp16_roundtrip: bool = True) -> ReferenceFeatures:
        return self.writer.collect(ref_latents.to(self.dtype), text_embeds.to(self.dtype), fp16_roundtrip)

    def denoise(self, latents: torch.Tensor, timestep: torch.Tensor | int, text_embeds: torch.Tensor,
                guidance_features: torch.Tensor, reference: ReferenceFeatures | None,
                uncond_batches: int = 0) -> torch.Tensor:
        """One denoising-UNet call on (B, 4, F, h, w); the first `uncond_batches` clips of the batch run
        without the reference (the CFG unconditional half)."""
        f = latents.shape[2]
        with self.reader.use(reference, num_frames=f, uncond_rows=uncond_batches * f):
            return self.denoising_unet(latents.to(self.dtype), timestep, text_embeds.to(self.dtype),
                                       guidance_features.to(self.dtype))

    def forward(self, noisy_latents: torch.Tensor, timesteps: torch.Tensor, ref_image_latents: torch.Tensor,
                guidance: Mapping[str, torch.Tensor] | torch.Tensor, text_embeds: torch.Tensor,
                uncond_fwd: bool = False, fp16_reference: bool = True) -> torch.Tensor:
        """The official training-time forward (MgpModel), one clip per batch row.

        Reference features are computed per call and dropped afterwards; the official object kept
        them until its caller cleared them (Q9), which is what its own callers always did."""
        guidance_features = self.encode_guidance(guidance)
        reference = None if uncond_fwd else self.reference_features(ref_image_latents, text_embeds, fp16_reference)
        return self.denoise(noisy_latents, timesteps, text_embeds, guidance_features, reference)
