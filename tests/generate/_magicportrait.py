"""Shared access to the vendored MagicPortrait golden fixtures (loaded once per test session)."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "magicportrait"
TINY = FIXTURES / "tiny"
GUIDANCE_TYPES = ("depth", "normal", "render")


@functools.lru_cache(maxsize=None)
def case(name: str) -> dict:
    """forward_case / pipeline_case, as stored."""
    return torch.load(TINY / f"{name}.pt", map_location="cpu", weights_only=True)


@functools.lru_cache(maxsize=None)
def tiny_checkpoints():
    """The official tiny .pth files converted through the production loader (tiny/ doubles as the SD folder)."""
    from reenact.generate.diffusion import load_checkpoints

    return load_checkpoints(TINY, TINY)


@functools.lru_cache(maxsize=None)
def tiny_model():
    from reenact.generate.diffusion import load_model

    return load_model(tiny_checkpoints())


def forward_inputs() -> tuple:
    i = case("forward_case")["inputs"]
    guidance = i["multi_guidance_cond_uint8"].float() / 255.0
    return i["noisy_latents"], i["timesteps"], i["ref_image_latents"], guidance, i["text_embeds"]


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.float() - b.float()).abs().max().item()


@contextlib.contextmanager
def recording_unet_calls(pipe, what=lambda latents: latents.shape):
    """Within the block, `what(latents)` of every denoising-UNet call of `pipe` is appended to the yielded list."""
    seen: list = []
    denoise = pipe.model.denoise

    def spy(latents, *args, **kwargs):
        seen.append(what(latents))
        return denoise(latents, *args, **kwargs)

    pipe.model.denoise = spy
    try:
        yield seen
    finally:
        del pipe.model.denoise
