"""The trainable MagicPortrait model of each stage, built from the inference modules.

Stage 1: reference UNet + denoising UNet *without* motion modules + the guidance encoders, all
trainable (except the reference UNet's layers after its last recorded attention input, which no
loss can reach). Stage 2: the stage-1 model with motion modules; only the motion modules train.

Weights come from SD1.5 (`unet/diffusion_pytorch_model.safetensors`), from an official or converted
MagicPortrait folder, or from a previous stage's output (official layout); motion modules from an
AnimateDiff / official `motion_module*.pth`, or new (AnimateDiff's zero `proj_out`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import AssetError
from ..generate.diffusion.config import GuidanceEncoderConfig, ModelConfig, MotionModuleConfig
from ..generate.diffusion.keys import (convert_denoising_unet, convert_guidance_encoder, convert_reference_unet,
                                       guidance_config_from_state_dict, is_motion_key)
from ..generate.diffusion.guidance import GuidanceEncoder
from ..generate.diffusion.model import MagicPortraitModel
from ..generate.diffusion.motion import MotionModule
from ..generate.diffusion.reference import spatial_transformer_blocks
from ..generate.diffusion.weights import (CONVERTED_MANIFEST, GUIDANCE_TYPES, build_empty_model, find_official_files,
                                          load_checkpoints, load_pth, read_unet_config)
from .config import TrainConfig

NO_MOTION = MotionModuleConfig(resolutions=(), mid_block=False)


@dataclass
class InitialWeights:
    """Internal-key state dicts to start from; `motion` may be None (new motion modules)."""

    config: ModelConfig                              # the stage-2 (with motion) architecture
    parts: dict[str, dict[str, torch.Tensor]]        # reference_unet, denoising_unet (2D only), guidance_encoder_<t>
    motion: dict[str, torch.Tensor] | None
    extra: dict[str, dict[str, torch.Tensor]]        # official keys the model does not build, kept for saving


# ---------------------------------------------------------------------------------------------- reading

def _split_motion(sd: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    return {k: v for k, v in sd.items() if not is_motion_key(k)}, {k: v for k, v in sd.items() if is_motion_key(k)}


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def read_motion_module(path: str | Path, config: ModelConfig) -> dict[str, torch.Tensor]:
    """An AnimateDiff or official motion-module file -> this package's motion keys (shapes checked)."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"motion-module file not found: {path}; give init.motion_module=PATH or null for new ones")
    sd = load_pth(path) if path.suffix != ".safetensors" else load_file(str(path))
    sd = {k.removeprefix("module."): v for k, v in sd.items() if is_motion_key(k)}
    if not sd:
        raise AssetError(f"{path} holds no '*.motion_modules.*' keys; it is not a motion-module file")
    expected = {k: s for k, s in _shapes(build_empty_model(config).denoising_unet).items() if is_motion_key(k)}
    return convert_denoising_unet({}, sd, expected, str(path), str(path)).state_dict


def _read_official(folder: Path, unet_config: dict) -> InitialWeights:
    files = find_official_files(folder)
    g_sd = {t: load_pth(p) for t, p in files.guidance_encoders.items()}
    emb, inp, widths = guidance_config_from_state_dict(g_sd[GUIDANCE_TYPES[0]], str(files.guidance_encoders["depth"]))
    config = ModelConfig(unet=unet_config, guidance=GuidanceEncoderConfig(emb, inp, widths))
    empty = build_empty_model(config)
    stage1_shapes = _shapes(build_empty_model(replace(config, motion=NO_MOTION)).denoising_unet)
    parts = {"reference_unet": convert_reference_unet(load_pth(files.reference_unet), _shapes(empty.reference_unet),
                                                      str(files.reference_unet)).state_dict}
    den2d, den_motion = _split_motion(load_pth(files.denoising_unet))
    parts["denoising_unet"] = convert_denoising_unet(den2d, None, stage1_shapes, str(files.denoising_unet)).state_dict
    extra = {}
    for t, sd in g_sd.items():
        conv = convert_guidance_encoder(sd, _shapes(empty.guidance_encoders[t]), str(files.guidance_encoders[t]))
        parts[f"guidance_encoder_{t}"] = conv.state_dict
        extra[f"guidance_encoder_{t}"] = {k: sd[k] for k in conv.ignored}
    motion = None
    if den_motion or files.motion_module is not None:
        expected = {k: s for k, s in _shapes(empty.denoising_unet).items() if is_motion_key(k)}
        mm = load_pth(files.motion_module) if files.motion_module is not None else None
        motion = convert_denoising_unet(den_motion, mm, expected, str(files.denoising_unet),
                                        str(files.motion_module) if mm is not None else None).state_dict
    return InitialWeights(config, parts, motion, extra)


def _read_sd15(sd15: Path, unet_config: dict, widths: tuple[int, ...], seed: int) -> InitialWeights:
    path = sd15 / "unet" / "diffusion_pytorch_model.safetensors"
    if not path.is_file():
        raise AssetError(f"missing {path}: training from SD1.5 needs its UNet weights (download "
                         "stable-diffusion-v1-5's unet/ folder), or set init.checkpoint to fine-tune")
    sd = load_file(str(path))
    config = ModelConfig(unet=unet_config, guidance=GuidanceEncoderConfig(
        embedding_channels=unet_config["block_out_channels"][0], block_out_channels=tuple(widths)))
    empty = build_empty_model(replace(config, motion=NO_MOTION))
    parts = {"reference_unet": convert_reference_unet(sd, _shapes(empty.reference_unet), str(path)).state_dict,
             "denoising_unet": convert_denoising_unet(sd, None, _shapes(empty.denoising_unet), str(path)).state_dict}
    with torch.random.fork_rng():
        torch.manual_seed(seed)      # new guidance encoders: the same draw for the same seed on every process
        for t in config.guidance_types:
            encoder = GuidanceEncoder(config.guidance)
            nn.init.zeros_(encoder.conv_out.weight)      # the official encoder starts silent (zero conv_out)
            nn.init.zeros_(encoder.conv_out.bias)
            parts[f"guidance_encoder_{t}"] = encoder.state_dict()
    return InitialWeights(config, parts, None, {})


def read_initial_weights(cfg: TrainConfig) -> InitialWeights:
    """What `init` points at: a checkpoint folder (official or converted) or SD1.5, plus a motion module."""
    sd15 = Path(cfg.init.sd15)
    if cfg.init.checkpoint:
        folder = Path(cfg.init.checkpoint)
        if not folder.is_dir():
            raise AssetError(f"init.checkpoint folder not found: {folder}")
        if (folder / CONVERTED_MANIFEST).is_file():
            ck = load_checkpoints(folder)
            den2d, motion = _split_motion(ck.parts["denoising_unet"])
            parts = {**ck.parts, "denoising_unet": den2d}
            weights = InitialWeights(ck.config, parts, motion, {})
        else:
            weights = _read_official(folder, read_unet_config(sd15))
    else:
        weights = _read_sd15(sd15, read_unet_config(sd15), cfg.init.guidance_widths, cfg.seed)
    if cfg.init.motion_module:
        weights.motion = read_motion_module(cfg.init.motion_module, weights.config)
    return weights


# --------------------------------------------------------------------------------------------- building

def build_stage_model(cfg: TrainConfig, weights: InitialWeights) -> MagicPortraitModel:
    """The model of `cfg.stage` with its initial weights, trainable parameters marked."""
    stage2 = cfg.stage == "stage2"
    config = weights.config if stage2 else replace(weights.config, motion=NO_MOTION)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)              # new motion modules draw the same numbers everywhere
        model = MagicPortraitModel(config)
    for part, sd in weights.parts.items():
        target = model.guidance_encoders[part[17:]] if part.startswith("guidance_encoder_") else getattr(model, part)
        missing, unexpected = target.load_state_dict(sd, strict=False)
        if unexpected or any(not is_motion_key(k) for k in missing):
            raise AssetError(f"initial weights of {part} do not fit the model (missing {missing[:1]}, "
                             f"unexpected {unexpected[:1]})")
    if stage2:
        if weights.motion is not None:
            model.denoising_unet.load_state_dict(weights.motion, strict=False)
        else:
            for module in model.denoising_unet.modules():
                if isinstance(module, MotionModule):       # AnimateDiff: a new module starts as the identity
                    nn.init.zeros_(module.proj_out.weight)
                    nn.init.zeros_(module.proj_out.bias)
    model.requires_grad_(False)
    for name, p in trainable_parameters(model, cfg.stage):
        p.requires_grad_(True)
    return model.train()


def unreachable_reference_parameters(reference_unet: nn.Module) -> set[str]:
    """Reference-UNet parameters after the last recorded attention input: the UNet's output is thrown
    away, so no loss reaches them (the official model has the same dead ends, Q4)."""
    name, _ = list(spatial_transformer_blocks(reference_unet).items())[-1]
    transformer = name.rsplit(".transformer_blocks.", 1)[0]
    dead = {f"{transformer}.proj_out."}
    dead |= {f"{name}.{child}." for child in ("attn1", "attn2", "norm2", "norm3", "ff")}
    return {n for n, _ in reference_unet.named_parameters() if any(n.startswith(d) for d in dead)}


def trainable_parameters(model: MagicPortraitModel, stage: str) -> list[tuple[str, nn.Parameter]]:
    """(qualified name, parameter) of what the stage trains, in module order."""
    if stage == "stage2":
        return [(n, p) for n, p in model.named_parameters() if is_motion_key(n)]
    dead = {f"reference_unet.{n}" for n in unreachable_reference_parameters(model.reference_unet)}
    return [(n, p) for n, p in model.named_parameters() if n not in dead]


# ------------------------------------------------------------------------------------ gradient checkpointing

def enable_gradient_checkpointing(model: MagicPortraitModel) -> None:
    """Recompute every resnet, spatial transformer and motion module of both UNets in the backward pass.

    The reader's per-call state (reference features, frame count, CFG rows) is captured at forward
    time and restored during the recomputation, which runs after the `reader.use` block has ended."""
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    state = model.reader.state
    for unet in (model.reference_unet, model.denoising_unet):
        for module in unet.modules():
            if isinstance(module, (ResnetBlock2D, Transformer2DModel, MotionModule)):
                module.forward = _checkpointed(module.forward, state)


def _checkpointed(forward, state):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        if not torch.is_grad_enabled():
            return forward(*args, **kwargs)
        snapshot = (state.features, state.num_frames, state.uncond_rows)

        def replay(*a, **k):
            saved = (state.features, state.num_frames, state.uncond_rows)
            state.features, state.num_frames, state.uncond_rows = snapshot
            try:
                return forward(*a, **k)
            finally:
                state.features, state.num_frames, state.uncond_rows = saved

        return checkpoint(replay, *args, use_reentrant=False, **kwargs)

    return run
