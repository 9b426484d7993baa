"""How the generator's weight files are read, converted and loaded.

Which files a folder holds, and in which layout, is `layout.py`'s job (`inspect_weights`); this
module loads what it found. Official `.pth` files and `.ckpt` single files are read with
`torch.load(weights_only=True)`; converted folders and `.safetensors` files with safetensors.
Nothing here ever executes pickled code.
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
from ...io.paths import check_output
from .config import GUIDANCE_TYPES, SD15_UNET_CONFIG, GuidanceEncoderConfig, ModelConfig, MotionModuleConfig
from .layout import (CONVERTED_MANIFEST, MAGICPORTRAIT_URL, SD15_URL, VAE_URL, WeightLayout,  # noqa: F401
                     WeightStatus, inspect_weights)
from .keys import (Converted, convert_denoising_unet, convert_guidance_encoder, convert_reference_unet,
                   guidance_config_from_state_dict, is_motion_key)

if TYPE_CHECKING:  # the model imports diffusers; the weight check (doctor, engine choice) must not
    from .model import MagicPortraitModel

log = logging.getLogger(__name__)

CONVERTED_FORMAT = "reenact.magicportrait"
CONVERTED_VERSION = 1
MODEL_PARTS = ("reference_unet", "denoising_unet", *(f"guidance_encoder_{t}" for t in GUIDANCE_TYPES))


# --------------------------------------------------------------------------------------------- paths

@dataclass(frozen=True)
class WeightPaths:
    """checkpoints: official .pth folder or a converted folder; sd15: SD1.5 folder; vae: VAE folder or
    single file. text_encoder / tokenizer default to sd15's subfolders; text_encoder may be an SD1.5
    single file."""

    checkpoints: Path
    sd15: Path
    vae: Path
    text_encoder: Path | None = None
    tokenizer: Path | None = None

    @classmethod
    def from_weights_dir(cls, weights_dir: str | Path) -> "WeightPaths":
        """The paths `inspect_weights` finds; AssetError with the first problem when incomplete."""
        return cls.from_layout(inspect_weights(weights_dir), strict=False)

    @classmethod
    def from_layout(cls, layout: WeightLayout, strict: bool = True) -> "WeightPaths":
        if strict:
            if layout.problems:
                raise AssetError(f"misplaced weights: {layout.problems[0]}")
            # the text encoder is needed only without a cached prompt, the motion module only when
            # denoising_unet.pth lacks its keys: the loaders say so precisely when it matters
            optional = ("text encoder", "tokenizer", "motion module")
            missing = [r for r in layout.rows if r.required and not r.found and not any(o in r.name for o in optional)]
            if missing:
                r = missing[0]
                raise AssetError(f"missing {r.name} at {r.path}: get it from {r.source} (`reenact doctor` lists all)")
        checkpoints = layout.checkpoints or layout.root / "magicportrait"
        return cls(checkpoints, layout.sd15, layout.vae or layout.root / "sd-vae-ft-mse",
                   layout.text_encoder, layout.tokenizer)


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


def read_unet_config(sd15_dir: str | Path | None) -> dict:
    """SD1.5's unet/config.json, or the built-in copy of the released one when the folder lacks it."""
    path = Path(sd15_dir) / "unet" / "config.json" if sd15_dir is not None else None
    if path is None or not path.is_file():
        log.info("no stable-diffusion-v1-5 unet/config.json: using the built-in SD1.5 UNet config")
        return dict(SD15_UNET_CONFIG)
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot read {path}: {exc}; re-download it from {SD15_URL}") from None
    return {k: v for k, v in config.items() if not k.startswith("_")}     # drop _class_name etc.


# ------------------------------------------------------------------------------------------- reading

def load_pth(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict from an official .pth; no pickled code runs (weights_only)."""
    path = Path(path)
    _check_not_empty(path)
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


def _check_not_empty(path: Path) -> None:
    if path.is_file() and path.stat().st_size == 0:
        raise AssetError(f"{path} is empty (0 bytes): the download was interrupted; download it again")


def load_single_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A single-file checkpoint (.safetensors, or .ckpt/.pth read weights-only), unwrapped from the
    {"state_dict": ...} envelope that LDM/A1111 .ckpt files use."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"weight file not found: {path}")
    _check_not_empty(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as exc:
            raise AssetError(f"cannot read {path} as safetensors ({str(exc).splitlines()[0]}); download it again") from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        raise AssetError(f"cannot read {path} as a weights-only checkpoint ({type(exc).__name__}); convert it to "
                         ".safetensors or download the .safetensors version") from None
    if isinstance(sd, Mapping) and isinstance(sd.get("state_dict"), Mapping):
        sd = sd["state_dict"]
    if not isinstance(sd, Mapping):
        raise AssetError(f"{path} holds no state dict; expected a Stable Diffusion or VAE checkpoint")
    return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}


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
    if sd15_dir is None:       # any layout `inspect_weights` knows: find the .pth folder and the SD folder
        layout = inspect_weights(src)
        src, sd15_dir = layout.official or src, layout.sd15
    out = Path(out_dir)
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise OutputError(f"output folder {out} must not be the checkpoint folder {src} or inside it")
    # never the sources or a folder holding them; an existing folder only if it is a converted one
    check_output(out, [src, sd15_dir], overwrite, kind="folder",
                 owned=[f"{part}.safetensors" for part in MODEL_PARTS] + [CONVERTED_MANIFEST])
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

def check_weights(weights_dir: str | Path) -> list[WeightStatus]:
    """Every component the diffusion engine needs, found or missing, with where it goes and where to get it."""
    return list(inspect_weights(weights_dir).rows)
