"""Trained weights in the official MagicPortrait file layout (the inverse of generate/diffusion/keys.py).

A result folder holds what the release's `ckpts/` holds, with the same names and key sets:

    reference_unet.pth              state_dict() of the 2D reference UNet (no output head)
    denoising_unet.pth              state_dict() of the stage-1 denoising UNet: no motion-module keys
    motion_module.pth               only the '*.motion_modules.*' keys, official (AnimateDiff) names,
                                    both position tables per block, no _metadata (the stage-2 saver's form)
    guidance_encoder_<type>.pth     official encoder keys, including the blocks its forward never uses (Q3)

so `--engine diffusion`, `reenact weights convert` and the official inference script all load it.
Next to it, `<folder>-converted/` is the safetensors folder `reenact weights convert` would write.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path

import torch

from ..generate.diffusion.keys import is_motion_key, motion_key_to_official
from ..generate.diffusion.model import MagicPortraitModel
from ..generate.diffusion.weights import convert_weights

log = logging.getLogger("reenact")


def official_motion_state(motion: dict[str, torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """Internal motion keys -> the official ones; the one position table becomes the two the official
    block holds (attention_blocks.0 and .1 carry equal copies)."""
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, tensor in motion.items():
        official = motion_key_to_official(key)
        out[official] = tensor
        if official.endswith(".attention_blocks.0.pos_encoder.pe"):
            out[official.replace(".attention_blocks.0.", ".attention_blocks.1.")] = tensor.clone()
    return out


def _template_shape(shape: torch.Size, width: int, last: int) -> tuple[int, ...]:
    """A shape of the used attention block (width `last`) rewritten for a block of width `width`."""
    scale = {last: width, 4 * last: 4 * width, 8 * last: 8 * width}
    return tuple(scale.get(int(d), int(d)) for d in shape)


def official_guidance_state(encoder: torch.nn.Module,
                            unused: dict[str, torch.Tensor] | None = None) -> "OrderedDict[str, torch.Tensor]":
    """This package's encoder -> the official key set and order. The official encoder also holds one
    attention block per conv and a `guidance_attention` that its forward never runs (Q3): they are
    copied from `unused` (the file fine-tuning started from) or written as inert blocks (norm weights 1,
    all else 0) of the official shapes."""
    sd = encoder.state_dict()
    widths = [int(sd[f"blocks.{i}.weight"].shape[0]) for i in range(len(encoder.blocks))]
    last = widths[-1]
    attention = {k[len("attention."):]: v for k, v in sd.items() if k.startswith("attention.")}
    unused = unused or {}

    def block(prefix: str, width: int) -> dict[str, torch.Tensor]:
        out = {}
        for name, tensor in attention.items():
            key = prefix + name
            if key in unused:
                out[key] = unused[key]
            elif name.endswith("norm.weight") or name.endswith("norm1.weight") or name.endswith("norm3.weight"):
                out[key] = torch.ones(_template_shape(tensor.shape, width, last), dtype=tensor.dtype)
            else:
                out[key] = torch.zeros(_template_shape(tensor.shape, width, last), dtype=tensor.dtype)
        return out

    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key in ("conv_in.weight", "conv_in.bias"):
        out[key] = sd[key]
    for i in range(len(widths)):
        out[f"blocks.{i}.weight"], out[f"blocks.{i}.bias"] = sd[f"blocks.{i}.weight"], sd[f"blocks.{i}.bias"]
    for i, width in enumerate(widths[:-1]):
        out.update(block(f"attentions.{i}.", width))
    out.update({f"attentions.{len(widths) - 1}.{k}": v for k, v in attention.items()})
    out.update(block("guidance_attention.", last))
    out["conv_out.weight"], out["conv_out.bias"] = sd["conv_out.weight"], sd["conv_out.bias"]
    return out


def official_state_dicts(model: MagicPortraitModel, motion: dict[str, torch.Tensor] | None = None,
                         unused: dict[str, dict[str, torch.Tensor]] | None = None) -> dict[str, dict]:
    """file name -> state dict, exactly as the official release names and keys them.

    motion: internal motion-module keys to save when the model has none (stage 1 carrying the
    module it will be paired with)."""
    unused = unused or {}
    den = model.denoising_unet.state_dict()
    files: dict[str, dict] = {
        "reference_unet.pth": _cpu(model.reference_unet.state_dict()),
        "denoising_unet.pth": _cpu(_official_unet_order(
            OrderedDict((k, v) for k, v in den.items() if not is_motion_key(k)), den)),
    }
    own_motion = {k: v for k, v in den.items() if is_motion_key(k)}
    if own_motion or motion:
        files["motion_module.pth"] = _cpu(official_motion_state(own_motion or motion))
    for t, enc in model.guidance_encoders.items():
        files[f"guidance_encoder_{t}.pth"] = _cpu(official_guidance_state(enc, unused.get(f"guidance_encoder_{t}")))
    return files


# the official UNet3D registers its up blocks before its mid block (diffusers' 2D UNet does too)
_UNET_ORDER = ("conv_in.", "time_proj.", "time_embedding.", "down_blocks.", "up_blocks.", "mid_block.",
               "conv_norm_out.", "conv_act.", "conv_out.")


def _official_unet_order(sd: "OrderedDict[str, torch.Tensor]", source) -> "OrderedDict[str, torch.Tensor]":
    rank = {k: next((i for i, p in enumerate(_UNET_ORDER) if k.startswith(p)), len(_UNET_ORDER)) for k in sd}
    out = OrderedDict(sorted(sd.items(), key=lambda kv: rank[kv[0]]))     # stable: keeps order within a part
    if hasattr(source, "_metadata"):
        out._metadata = source._metadata
    return out


def _cpu(sd):
    out = OrderedDict((k, v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous())
                      for k, v in sd.items())
    if hasattr(sd, "_metadata"):
        out._metadata = sd._metadata       # as module.state_dict() saves it: the official files carry it
    return out


def save_official(model: MagicPortraitModel, folder: str | Path, *, sd15: str | Path | None = None,
                  motion: dict[str, torch.Tensor] | None = None,
                  unused: dict[str, dict[str, torch.Tensor]] | None = None) -> Path:
    """Write the official files into `folder` (atomically: a temporary folder renamed into place), then
    the converted safetensors folder `<folder>-converted` when the set is complete (a motion module is
    present) and `sd15` gives the UNet config."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        files = official_state_dicts(model, motion, unused)
        for name, sd in files.items():
            torch.save(sd, tmp / name)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if "motion_module.pth" in files and sd15 is not None:
        convert_weights(folder, folder.with_name(folder.name + "-converted"), sd15_dir=sd15, overwrite=True)
    elif "motion_module.pth" not in files:
        log.info("%s: no motion module to pair with; the converted folder is written by stage 2", folder)
    return folder
