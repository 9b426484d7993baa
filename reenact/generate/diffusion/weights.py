"""Where the generator's weight files live, how they are checked, converted and loaded.

Layout under `paths.weights_dir` (default `weights/`):

    weights/
      magicportrait/              official release files (the `ckpts/` folder of the download)
        reference_unet.pth  denoising_unet.pth  motion_module*.pth
        guidance_encoder_depth.pth  guidance_encoder_normal.pth  guidance_encoder_render.pth
      magicportrait-converted/    written by `reenact weights convert`; used instead when present
      stable-diffusion-v1-5/      unet/config.json, text_encoder/, tokenizer/ (UNet weights not needed)
      sd-vae-ft-mse/              config.json + diffusion_pytorch_model.safetensors

Official `.pth` files are read with `torch.load(weights_only=True)`; converted folders are
safetensors only. Nothing here ever executes pickled code.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import torch
from safetensors.torch import load_file, save_file

from ...errors import AssetError, InputError, OutputError
from .config import GUIDANCE_TYPES, GuidanceEncoderConfig, ModelConfig, MotionModuleConfig
from .keys import (Converted, convert_denoising_unet, convert_guidance_encoder, convert_reference_unet,
                   guidance_config_from_state_dict, is_motion_key)

if TYPE_CHECKING:  # the model imports diffusers; the weight check (doctor, engine choice) must not
    from .model import MagicPortraitModel

log = logging.getLogger(__name__)

MAGICPORTRAIT_URL = "https://huggingface.co/mengtingwei/MagicPortrait"
SD15_URL = "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5"
VAE_URL = "https://huggingface.co/stabilityai/sd-vae-ft-mse"

CONVERTED_MANIFEST = "magicportrait.json"
CONVERTED_FORMAT = "reenact.magicportrait"
CONVERTED_VERSION = 1
MODEL_PARTS = ("reference_unet", "denoising_unet", *(f"guidance_encoder_{t}" for t in GUIDANCE_TYPES))


# --------------------------------------------------------------------------------------------- paths

@dataclass(frozen=True)
class WeightPaths:
    """checkpoints: official .pth folder or a converted folder; sd15: SD1.5 folder; vae: VAE folder."""

    checkpoints: Path
    sd15: Path
    vae: Path

    @classmethod
    def from_weights_dir(cls, weights_dir: str | Path) -> "WeightPaths":
        root = Path(weights_dir)
        converted = root / "magicportrait-converted"
        checkpoints = converted if (converted / CONVERTED_MANIFEST).is_file() else root / "magicportrait"
        return cls(checkpoints, root / "stable-diffusion-v1-5", root / "sd-vae-ft-mse")


@dataclass(frozen=True)
class OfficialFiles:
    reference_unet: Path
    denoising_unet: Path
    motion_module: Path | None
    guidance_encoders: dict[str, Path]


def _official_folder(folder: Path) -> Path:
    """The release's files sit in a `ckpts/` subfolder of the download; accept either level."""
    if not (folder / "reference_unet.pth").is_file() and (folder / "ckpts" / "reference_unet.pth").is_file():
        return folder / "ckpts"
    return folder


def _motion_module_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("motion_module*.pth"))


def find_official_files(folder: str | Path) -> OfficialFiles:
    folder = _official_folder(Path(folder))
    need = {"reference_unet": folder / "reference_unet.pth", "denoising_unet": folder / "denoising_unet.pth",
            **{t: folder / f"guidance_encoder_{t}.pth" for t in GUIDANCE_TYPES}}
    for path in need.values():
        if not path.is_file():
            raise AssetError(f"missing weight file {path}: download the MagicPortrait checkpoints from "
                             f"{MAGICPORTRAIT_URL} and put its ckpts/*.pth files in {folder}")
    motion = _motion_module_files(folder)
    if len(motion) > 1:
        raise AssetError(f"several motion-module files in {folder} ({', '.join(p.name for p in motion)}): "
                         "keep only the one that belongs to these checkpoints")
    return OfficialFiles(need["reference_unet"], need["denoising_unet"], motion[0] if motion else None,
                         {t: need[t] for t in GUIDANCE_TYPES})


def read_unet_config(sd15_dir: str | Path) -> dict:
    path = Path(sd15_dir) / "unet" / "config.json"
    if not path.is_file():
        raise AssetError(f"missing {path}: download stable-diffusion-v1-5 from {SD15_URL} "
                         f"(unet/config.json, text_encoder/, tokenizer/) into {Path(sd15_dir)}")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot read {path}: {exc}; re-download it from {SD15_URL}") from None
    return {k: v for k, v in config.items() if not k.startswith("_")}     # drop _class_name etc.


# ------------------------------------------------------------------------------------------- reading

def load_pth(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict from an official .pth; no pickled code runs (weights_only)."""
    path = Path(path)
    try:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):      # files from before the zip format cannot be memory-mapped
                raise
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # torch raises several types for corrupt, truncated or unsafe pickles
        raise AssetError(f"cannot read {path} as a weights-only PyTorch checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); re-download it") from None
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise AssetError(f"{path} is not a plain state dict of tensors; expected an official MagicPortrait file")
    return dict(sd)


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise AssetError(f"missing {path}: the converted folder is incomplete; run `reenact weights convert` again")
    try:
        return load_file(str(path))
    except Exception as exc:
        raise AssetError(f"cannot read {path} ({exc}); run `reenact weights convert` again") from None


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def build_empty_model(config: ModelConfig) -> MagicPortraitModel:
    """The full model on the meta device: shapes only, no memory, no random init."""
    from .model import MagicPortraitModel

    with torch.device("meta"):
        return MagicPortraitModel(config)


@dataclass
class ConvertedCheckpoints:
    """The model's state dicts in this package's key names, and what was deliberately left out."""

    config: ModelConfig
    parts: dict[str, dict[str, torch.Tensor]]              # part name -> state dict
    ignored: dict[str, dict[str, str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # part name -> file(s) it came from


def convert_official(files: OfficialFiles, unet_config: dict, motion: MotionModuleConfig = MotionModuleConfig(),
                     motion_precedence: str = "denoising_unet") -> ConvertedCheckpoints:
    """Read and convert every official file; every key is used or listed in `ignored`, else AssetError."""
    guidance_sds = {t: load_pth(p) for t, p in files.guidance_encoders.items()}
    shapes = {t: guidance_config_from_state_dict(sd, str(files.guidance_encoders[t])) for t, sd in guidance_sds.items()}
    if len(set(shapes.values())) != 1:
        raise AssetError(f"the guidance encoders have different architectures {shapes}; they must come from "
                         "the same MagicPortrait release")
    emb, inp, widths = next(iter(shapes.values()))
    config = ModelConfig(unet=unet_config, motion=motion,
                         guidance=GuidanceEncoderConfig(embedding_channels=emb, input_channels=inp,
                                                        block_out_channels=widths))
    if emb != unet_config["block_out_channels"][0]:
        raise AssetError(f"{files.guidance_encoders['depth']}: outputs {emb} channels but the UNet config's first "
                         f"block has {unet_config['block_out_channels'][0]}; wrong SD unet/config.json?")
    empty = build_empty_model(config)
    result = ConvertedCheckpoints(config, {})

    ref = convert_reference_unet(load_pth(files.reference_unet), _shapes(empty.reference_unet),
                                 str(files.reference_unet))
    _store(result, "reference_unet", ref, str(files.reference_unet))

    stage1 = load_pth(files.denoising_unet)
    motion_sd = load_pth(files.motion_module) if files.motion_module is not None else None
    if motion_sd is not None and any(is_motion_key(k) for k in stage1):
        _warn_motion_overlap(stage1, motion_sd, files, motion_precedence)
    den = convert_denoising_unet(stage1, motion_sd, _shapes(empty.denoising_unet), str(files.denoising_unet),
                                 str(files.motion_module) if files.motion_module else None, motion_precedence)
    _store(result, "denoising_unet", den,
           " + ".join(str(p) for p in (files.denoising_unet, files.motion_module) if p is not None))

    enc_shapes = _shapes(empty.guidance_encoders[GUIDANCE_TYPES[0]])
    for t, sd in guidance_sds.items():
        conv = convert_guidance_encoder(sd, enc_shapes, str(files.guidance_encoders[t]))
        _store(result, f"guidance_encoder_{t}", conv, str(files.guidance_encoders[t]))
    return result


def _store(result: ConvertedCheckpoints, part: str, conv: Converted, source: str) -> None:
    result.parts[part] = conv.state_dict
    result.ignored[part] = conv.ignored
    result.sources[part] = source


def _warn_motion_overlap(stage1: Mapping, motion: Mapping, files: OfficialFiles, precedence: str) -> None:
    differing = [k for k in stage1 if is_motion_key(k) and k in motion and not torch.equal(stage1[k], motion[k])]
    if differing:
        winner = files.denoising_unet if precedence == "denoising_unet" else files.motion_module
        log.warning("%s and %s disagree on %d motion-module tensors (first: %s); using %s",
                    files.denoising_unet.name, files.motion_module.name, len(differing), differing[0], winner.name)


# ------------------------------------------------------------------------------------------- loading

def load_checkpoints(checkpoints_dir: str | Path, sd15_dir: str | Path | None = None,
                     motion_precedence: str = "denoising_unet") -> ConvertedCheckpoints:
    """A converted folder (no SD folder needed) or the official files (+ the SD unet/config.json)."""
    folder = Path(checkpoints_dir)
    if (folder / CONVERTED_MANIFEST).is_file():
        return _read_converted(folder)
    if sd15_dir is None:
        raise AssetError(f"{folder} holds official checkpoints; they need the stable-diffusion-v1-5 folder "
                         "for unet/config.json")
    return convert_official(find_official_files(folder), read_unet_config(sd15_dir),
                            motion_precedence=motion_precedence)


def load_model(checkpoints: ConvertedCheckpoints, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> MagicPortraitModel:
    """Materialise the model from converted state dicts without a random init pass."""
    model = build_empty_model(checkpoints.config)
    for part, sd in checkpoints.parts.items():
        module = _part(model, part)
        module.load_state_dict({k: v.to(device=device, dtype=dtype if v.is_floating_point() else v.dtype)
                                for k, v in sd.items()}, strict=True, assign=True)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type == "meta"]
    if leftover:
        raise AssetError(f"weights incomplete: {leftover[0]} was not loaded")
    return model.eval().requires_grad_(False)


def _part(model: MagicPortraitModel, part: str) -> torch.nn.Module:
    if part.startswith("guidance_encoder_"):
        return model.guidance_encoders[part[len("guidance_encoder_"):]]
    return getattr(model, part)


def _read_converted(folder: Path) -> ConvertedCheckpoints:
    try:
        manifest = json.loads((folder / CONVERTED_MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot read {folder / CONVERTED_MANIFEST} ({exc}); run `reenact weights convert` again") from None
    if manifest.get("format") != CONVERTED_FORMAT or manifest.get("version") != CONVERTED_VERSION:
        raise AssetError(f"{folder} was written by another version of `reenact weights convert`; convert again")
    g = manifest["guidance"]
    config = ModelConfig(unet=manifest["unet_config"], motion=MotionModuleConfig(**{
        k: tuple(v) if isinstance(v, list) else v for k, v in manifest["motion"].items()}),
        guidance=GuidanceEncoderConfig(embedding_channels=g["embedding_channels"],
                                       input_channels=g["input_channels"],
                                       block_out_channels=tuple(g["block_out_channels"]),
                                       num_attention_heads=g["num_attention_heads"]))
    parts = {}
    expected = build_empty_model(config)
    for part in MODEL_PARTS:
        path = folder / f"{part}.safetensors"
        sd = _load_safetensors(path)
        shapes = _shapes(_part(expected, part))
        for key, tensor in sd.items():
            if key not in shapes or tuple(tensor.shape) != shapes[key]:
                raise AssetError(f"{path}: unexpected key {key!r} or shape {tuple(tensor.shape)}; convert again")
        missing = [k for k in shapes if k not in sd]
        if missing:
            raise AssetError(f"{path}: missing key {missing[0]!r}; convert again")
        parts[part] = sd
    return ConvertedCheckpoints(config, parts, sources={p: str(folder / f"{p}.safetensors") for p in MODEL_PARTS})


# ----------------------------------------------------------------------------------------- converting

def convert_weights(src_dir: str | Path, out_dir: str | Path, sd15_dir: str | Path | None = None,
                    dtype: torch.dtype | None = None, overwrite: bool = False,
                    motion_precedence: str = "denoising_unet") -> Path:
    """`reenact weights convert`: official .pth files -> a safetensors folder that loads without pickle.

    src_dir: the official checkpoint folder, or a weights dir laid out as in this module's docstring
    (then sd15_dir defaults to <src_dir>/stable-diffusion-v1-5). dtype: store e.g. torch.float16 to halve
    the size (None keeps float32, exact). The folder is written to a temporary name and renamed, so
    an interrupted run leaves no half-written output."""
    src = Path(src_dir)
    if sd15_dir is None and (src / "magicportrait").is_dir():
        sd15_dir = src / "stable-diffusion-v1-5"
        src = src / "magicportrait"
    if sd15_dir is None:
        sd15_dir = src.parent / "stable-diffusion-v1-5"
    out = Path(out_dir)
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise OutputError(f"output folder {out} must not be the checkpoint folder {src} or inside it")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} already exists; pass overwrite to replace it")
    if not src.is_dir():
        raise InputError(f"checkpoint folder not found: {src}")

    files = find_official_files(src)
    converted = convert_official(files, read_unet_config(sd15_dir), motion_precedence=motion_precedence)
    cfg = converted.config
    manifest = {
        "format": CONVERTED_FORMAT, "version": CONVERTED_VERSION,
        "unet_config": cfg.unet,
        "motion": asdict(cfg.motion), "guidance": asdict(cfg.guidance),
        "sources": {p: converted.sources[p] for p in MODEL_PARTS},
        "ignored_keys": converted.ignored,
        "dtype": str(dtype or torch.float32).removeprefix("torch."),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for part in MODEL_PARTS:
            sd = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous()
                  for k, v in converted.parts[part].items()}
            save_file(sd, str(tmp / f"{part}.safetensors"), metadata={"format": "pt"})
        (tmp / CONVERTED_MANIFEST).write_text(json.dumps(manifest, indent=1))
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# --------------------------------------------------------------------------------------------- doctor

@dataclass(frozen=True)
class WeightStatus:
    """One expected weight file or folder, for `reenact doctor`."""

    name: str
    path: Path          # where it was looked for
    found: bool
    source: str         # where to get it
    required: bool = True
    note: str = ""


def check_weights(weights_dir: str | Path) -> list[WeightStatus]:
    """Every file the diffusion engine needs, found or missing, with where it goes and where to get it."""
    root = Path(weights_dir)
    paths = WeightPaths.from_weights_dir(root)
    out: list[WeightStatus] = []
    converted = root / "magicportrait-converted"
    have_converted = all((converted / f"{p}.safetensors").is_file() for p in MODEL_PARTS) and \
        (converted / CONVERTED_MANIFEST).is_file()
    out.append(WeightStatus("MagicPortrait checkpoints, converted", converted, have_converted,
                            "`reenact weights convert` (from the official files below)", required=False,
                            note="used instead of the .pth files when present"))
    official = _official_folder(root / "magicportrait")
    src = f"{MAGICPORTRAIT_URL} (ckpts/)"
    for name in ("reference_unet", "denoising_unet"):
        p = official / f"{name}.pth"
        out.append(WeightStatus(f"MagicPortrait {name.replace('_', ' ')}", p, p.is_file(), src,
                                required=not have_converted))
    motion = _motion_module_files(official)
    out.append(WeightStatus("MagicPortrait motion module", motion[0] if motion else official / "motion_module*.pth",
                            len(motion) == 1, src, required=not have_converted,
                            note="several files match; keep one" if len(motion) > 1 else
                            "optional if denoising_unet.pth already holds the motion-module keys"))
    for t in GUIDANCE_TYPES:
        p = official / f"guidance_encoder_{t}.pth"
        out.append(WeightStatus(f"MagicPortrait {t} guidance encoder", p, p.is_file(), src,
                                required=not have_converted))
    sd = paths.sd15
    out.append(WeightStatus("SD1.5 UNet config", sd / "unet" / "config.json", (sd / "unet" / "config.json").is_file(),
                            f"{SD15_URL} (unet/config.json)", required=not have_converted))
    te = sd / "text_encoder"
    out.append(WeightStatus("SD1.5 text encoder", te, (te / "config.json").is_file() and any(
        (te / n).is_file() for n in ("model.safetensors", "pytorch_model.bin")), f"{SD15_URL} (text_encoder/)",
        note="only needed once: the prompt embedding is cached"))
    tok = sd / "tokenizer"
    out.append(WeightStatus("SD1.5 tokenizer", tok, all((tok / n).is_file() for n in ("vocab.json", "merges.txt")),
                            f"{SD15_URL} (tokenizer/)", note="only needed once: the prompt embedding is cached"))
    vae = paths.vae
    out.append(WeightStatus("sd-vae-ft-mse VAE", vae, (vae / "config.json").is_file() and any(
        (vae / n).is_file() for n in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")),
        VAE_URL))
    return out


def diffusion_available(weights_dir: str | Path) -> bool:
    """True when every required file is present, i.e. the CLI can pick the diffusion engine."""
    return all(s.found for s in check_weights(weights_dir) if s.required)
