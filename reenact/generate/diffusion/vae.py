"""The sd-vae-ft-mse VAE, from a diffusers folder or a single-file checkpoint.

Single files (`vae-ft-mse-840000-ema-pruned.safetensors`, or `.ckpt` read weights-only) hold the
original LDM key names; diffusers' own key map converts them, and the architecture is read from the
tensors' shapes, so no config download is needed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

from ...errors import AssetError
from .config import VAE_LATENT_SCALE
from .layout import VAE_URL
from .weights import load_single_file


def vae_dtype_for(dtype: torch.dtype, vae_config: Any) -> torch.dtype:
    """The SD VAE overflows in fp16 (its config says force_upcast): it then stays in float32."""
    return torch.float32 if dtype == torch.float16 and vae_config.get("force_upcast", True) else dtype


def load_vae(path: str | Path, dtype: torch.dtype = torch.float32) -> AutoencoderKL:
    """A VAE folder (config.json + weights) or a single .safetensors/.ckpt file."""
    path = Path(path)
    if path.is_file():
        return load_vae_single_file(path, dtype)
    if not (path / "config.json").is_file():
        raise AssetError(f"missing VAE folder {path}: download {VAE_URL} (config.json + "
                         "diffusion_pytorch_model.safetensors) there")
    try:
        target = vae_dtype_for(dtype, AutoencoderKL.load_config(path))
        return AutoencoderKL.from_pretrained(path, torch_dtype=target).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise AssetError(f"cannot load the VAE from {path} ({str(exc).splitlines()[0]}); re-download it") from None


def vae_config_from_ldm(sd: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """AutoencoderKL kwargs from the shapes of an LDM-format VAE state dict (prefix already removed)."""
    try:
        levels = sorted({int(m.group(1)) for k in sd if (m := re.match(r"encoder\.down\.(\d+)\.", k))})
        widths = [int(sd[f"encoder.down.{i}.block.0.conv1.weight"].shape[0]) for i in levels]
        per_level = len({k.split(".")[4] for k in sd if k.startswith("encoder.down.0.block.")})
        return dict(in_channels=int(sd["encoder.conv_in.weight"].shape[1]),
                    out_channels=int(sd["decoder.conv_out.weight"].shape[0]),
                    latent_channels=int(sd["quant_conv.weight"].shape[0]) // 2,
                    block_out_channels=widths, layers_per_block=per_level,
                    down_block_types=["DownEncoderBlock2D"] * len(widths),
                    up_block_types=["UpDecoderBlock2D"] * len(widths),
                    norm_num_groups=32, scaling_factor=VAE_LATENT_SCALE)
    except (KeyError, IndexError) as exc:
        raise AssetError(f"{path}: not a Stable Diffusion VAE checkpoint (missing key {exc}); expected "
                         f"vae-ft-mse-840000-ema-pruned from {VAE_URL}") from None


def ldm_vae_key(key: str, levels: int) -> str:
    """diffusers AutoencoderKL key -> its original LDM name (what the single files hold). diffusers only
    maps the other way; this direction names a single file's unexpected keys."""
    k = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.block.\2.", key)
    k = re.sub(r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", k)
    k = re.sub(r"^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.",
               lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.block.{m.group(2)}.", k)
    k = re.sub(r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
               lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.upsample.", k)
    k = re.sub(r"\.mid_block\.resnets\.(\d+)\.", lambda m: f".mid.block_{int(m.group(1)) + 1}.", k)
    k = k.replace(".mid_block.attentions.0.", ".mid.attn_1.")
    for new, old in (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")):
        k = k.replace(f".attn_1.{new}.", f".attn_1.{old}.")
    return k.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")


def load_vae_single_file(path: Path, dtype: torch.dtype = torch.float32) -> AutoencoderKL:
    sd = load_single_file(path)
    prefix = next((p for p in ("first_stage_model.", "vae.") if any(k.startswith(p) for k in sd)), "")
    sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    sd = {k: v for k, v in sd.items() if not k.startswith(("loss.", "model_ema."))}   # training leftovers
    config = vae_config_from_ldm(sd, path)
    with torch.device("meta"):
        vae = AutoencoderKL(**config)
    expected = vae.state_dict()
    known = {ldm_vae_key(k, len(config["block_out_channels"])) for k in expected}
    stray = sorted(k for k in sd if k not in known)
    if stray:
        raise AssetError(f"{path}: unexpected VAE key {stray[0]!r}; is it an SD1.x VAE? (expected the one "
                         f"from {VAE_URL})")
    converted = convert_ldm_vae_checkpoint(sd, config)
    for key, tensor in converted.items():
        if key not in expected or expected[key].shape != tensor.shape:
            raise AssetError(f"{path}: unexpected VAE key {key!r} with shape {tuple(tensor.shape)}; "
                             f"is it an SD1.x VAE? (expected the one from {VAE_URL})")
    missing = [k for k in expected if k not in converted]
    if missing:
        raise AssetError(f"{path}: missing VAE key {missing[0]!r}; the file is incomplete, download it again")
    target = vae_dtype_for(dtype, {"force_upcast": True})
    vae.load_state_dict({k: v.to(target) for k, v in converted.items()}, strict=True, assign=True)
    return vae.eval().requires_grad_(False)
