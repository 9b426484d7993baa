"""Which weight layout a folder holds: one look at the folder, one typed answer.

Users arrive with the files as they downloaded them. `inspect_weights(root)` walks `root` (three
levels deep) and recognises, for each component the generator needs:

* MagicPortrait checkpoints: a `magicportrait-converted/` folder (`reenact weights convert`), or the
  official `.pth` files wherever they sit (`ckpts/` of the download, `magicportrait/`, `root` itself);
* Stable Diffusion 1.5: a diffusers folder (`unet/config.json`, `text_encoder/`, `tokenizer/`) or a
  single-file checkpoint (`v1-5-pruned*.safetensors`/`.ckpt`: its text encoder is used); the UNet
  config falls back to the built-in SD1.5 one, which is exactly the released config;
* the sd-vae-ft-mse VAE: a diffusers folder, or a single `.safetensors`/`.ckpt` file.

It returns a `WeightLayout`: the layout's name, the path of each component, one `WeightStatus` row
per component for `reenact doctor`, and problems as "move X to Y" advice. Nothing is loaded here
except safetensors headers (no tensor data, no pickle).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from safetensors import safe_open

from .config import GUIDANCE_TYPES

MAGICPORTRAIT_URL = "https://huggingface.co/mengtingwei/MagicPortrait"
SD15_URL = "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5"
VAE_URL = "https://huggingface.co/stabilityai/sd-vae-ft-mse"

CONVERTED_DIR = "magicportrait-converted"
CONVERTED_MANIFEST = "magicportrait.json"
RELEASE_FILES = ("reference_unet.pth", "denoising_unet.pth",
                 *(f"guidance_encoder_{t}.pth" for t in GUIDANCE_TYPES))
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
# a key every SD1.5 single file has (its CLIP text encoder), and one every VAE file has
SD_TEXT_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
VAE_KEYS = ("decoder.conv_in.weight", "first_stage_model.decoder.conv_in.weight")
SD_UNET_KEY_PREFIX = "model.diffusion_model."
SEARCH_DEPTH = 3
SEARCH_LIMIT = 20000          # files looked at before giving up on a huge folder


@dataclass(frozen=True)
class WeightStatus:
    """One component, found or missing: a row of `reenact doctor` (the asset registry adapts these)."""

    name: str
    path: Path          # where it was found, or where it belongs
    found: bool
    source: str         # where to get it
    required: bool = True
    note: str = ""


@dataclass(frozen=True)
class WeightLayout:
    """What `inspect_weights` found under `root`."""

    root: Path
    name: str                          # "official download", "reenact folders", "converted", ... or "incomplete"
    checkpoints: Path | None           # the folder to load: converted when present, else the official one
    converted: bool
    official: Path | None              # the folder holding the official .pth files
    unet_config: Path | None           # SD1.5 unet/config.json; None = the built-in SD1.5 config
    sd15: Path                         # SD1.5 folder (or where it belongs); the prompt cache is keyed on it
    text_encoder: Path | None          # text_encoder/ folder or an SD1.5 single file
    tokenizer: Path | None             # tokenizer/ folder
    vae: Path | None                   # VAE folder or single file
    rows: tuple[WeightStatus, ...] = ()
    problems: tuple[str, ...] = ()     # one line each: what is misplaced and where to move it

    @property
    def complete(self) -> bool:
        """Every required component found (the text encoder counts: see `prompt_cached`)."""
        return all(r.found for r in self.rows if r.required)


# ------------------------------------------------------------------------------------------ scanning

def _scan(root: Path) -> list[Path]:
    """Files under `root`, at most SEARCH_DEPTH folders down, hidden folders skipped, sorted."""
    files: list[Path] = []
    if not root.is_dir():
        return files
    base = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        depth = len(Path(dirpath).parts) - base
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and depth < SEARCH_DEPTH)
        files.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
        if len(files) > SEARCH_LIMIT:
            break
    return sorted(files, key=lambda p: (len(p.parts), str(p)))


def _header_keys(path: Path) -> set[str]:
    """Tensor names of a safetensors file (header only); empty if unreadable."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return set(f.keys())
    except Exception:   # not a safetensors file, truncated, ...: the loader names it later
        return set()


def _single_file_kind(path: Path) -> str | None:
    """"sd15" or "vae" for a single-file checkpoint, else None."""
    if path.suffix not in SINGLE_FILE_SUFFIXES:
        return None
    if path.suffix == ".ckpt":      # pickles are not opened to look: the name decides, the loader checks
        return "vae" if "vae" in path.name.lower() else "sd15"
    keys = _header_keys(path)
    if SD_TEXT_KEY in keys:
        return "sd15"
    if any(k in keys for k in VAE_KEYS) and not any(k.startswith(SD_UNET_KEY_PREFIX) for k in keys):
        return "vae"
    return None


def _json_class(path: Path) -> str:
    try:
        return str(json.loads(path.read_text()).get("_class_name", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _has_weights(folder: Path, names: tuple[str, ...]) -> bool:
    return any((folder / n).is_file() and (folder / n).stat().st_size > 0 for n in names)


def _prefer(candidates: list[Path], name: str, near: Path | None) -> Path | None:
    """The candidate named `name`, else one next to `near`, else the shallowest."""
    if not candidates:
        return None
    named = [c for c in candidates if c.name == name]
    if near is not None:
        beside = [c for c in named or candidates if c.parent == near.parent]
        if beside:
            return beside[0]
    return (named or candidates)[0]


# ---------------------------------------------------------------------------------------- inspecting

def inspect_weights(root: str | Path) -> WeightLayout:
    """Recognise the weight layout under `root` (see the module docstring)."""
    root = Path(root)
    files = _scan(root)
    problems: list[str] = []

    # 1. MagicPortrait checkpoints: a converted folder wins, else the folder with most release files
    converted_dirs = [f.parent for f in files if f.name == CONVERTED_MANIFEST]
    release = [f for f in files if f.name in RELEASE_FILES or (f.name.startswith("motion_module") and f.suffix == ".pth")]
    by_dir: dict[Path, list[Path]] = {}
    for f in release:
        by_dir.setdefault(f.parent, []).append(f)
    official = max(by_dir, key=lambda d: (len(by_dir[d]), -len(d.parts)), default=None)
    for d, found in by_dir.items():
        if d != official:
            problems += [f"{f} is outside the checkpoint folder: move it to {official / f.name}"
                         for f in found if not (official / f.name).exists()]
    converted = converted_dirs[0] if converted_dirs else None
    checkpoints = converted or official

    # 2. Stable Diffusion 1.5: a diffusers folder, else a single file
    sd_dirs = sorted({f.parent.parent for f in files if f.parent.name in ("unet", "text_encoder", "tokenizer")
                      and f.name in ("config.json", "vocab.json")} | {f.parent for f in files if f.name == "model_index.json"},
                     key=lambda p: (len(p.parts), str(p)))
    sd15 = _prefer(sd_dirs, "stable-diffusion-v1-5", official) or (
        (official.parent if official is not None and official.name == "ckpts" else root) / "stable-diffusion-v1-5")
    singles = {f: _single_file_kind(f) for f in files if f.suffix in SINGLE_FILE_SUFFIXES}
    sd_single = next((f for f, k in singles.items() if k == "sd15"), None)
    problems += _sd_misplaced(sd15)
    unet_config = sd15 / "unet" / "config.json"
    te_dir, tok_dir = sd15 / "text_encoder", sd15 / "tokenizer"
    text_encoder = te_dir if ((te_dir / "config.json").is_file() and _has_weights(
        te_dir, ("model.safetensors", "pytorch_model.bin"))) else sd_single
    tokenizers = [f.parent for f in files if f.name == "vocab.json" and (f.parent / "merges.txt").is_file()
                  and f.parent.name == "tokenizer"]
    tokenizer = tok_dir if tok_dir in tokenizers or _tokenizer_at(tok_dir) else (tokenizers[0] if tokenizers else None)

    # 3. the VAE: a diffusers folder (not SD1.5's own vae/, a different VAE), else a single file
    vae_dirs = [f.parent for f in files if f.name == "config.json" and _json_class(f) == "AutoencoderKL"
                and f.parent != sd15 / "vae"]
    vae_dir = _prefer(vae_dirs, "sd-vae-ft-mse", official)
    vae_single = next((f for f, k in singles.items() if k == "vae"), None)
    vae = vae_dir if vae_dir is not None and _has_weights(
        vae_dir, ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")) else vae_single
    vae_home = vae_dir or sd15.parent / "sd-vae-ft-mse"
    for f in files:
        if f.name.startswith("diffusion_pytorch_model.") and f.parent.name in ("sd-vae-ft-mse",) \
                and not (f.parent / "config.json").is_file():
            problems.append(f"{f} has no config.json beside it: put sd-vae-ft-mse's config.json in {f.parent}")

    layout = WeightLayout(
        root=root, name=_layout_name(root, converted, official, sd15, sd_single, text_encoder, vae, vae_single),
        checkpoints=checkpoints, converted=converted is not None, official=official,
        unet_config=unet_config if unet_config.is_file() else None, sd15=sd15, text_encoder=text_encoder,
        tokenizer=tokenizer, vae=vae, problems=tuple(problems))
    rows = _rows(layout, official or _official_home(root), vae_home)
    return WeightLayout(**{**layout.__dict__, "rows": tuple(rows)})


def _tokenizer_at(folder: Path) -> bool:
    return all((folder / n).is_file() for n in ("vocab.json", "merges.txt"))


def _official_home(root: Path) -> Path:
    return root / "magicportrait"


def _sd_misplaced(sd15: Path) -> list[str]:
    """SD1.5 files sitting flat in the SD folder instead of their subfolders."""
    out = []
    flat_config = sd15 / "config.json"
    if flat_config.is_file() and not (sd15 / "unet" / "config.json").is_file():
        kind = _json_class(flat_config)
        if kind == "UNet2DConditionModel":
            out.append(f"{flat_config} is the UNet config: move it to {sd15 / 'unet' / 'config.json'}")
        elif kind == "" and "CLIPTextModel" in flat_config.read_text(errors="ignore"):
            out.append(f"{flat_config} is the text encoder's config: move it and model.safetensors to "
                       f"{sd15 / 'text_encoder'}/")
    for name in ("vocab.json", "merges.txt"):
        if (sd15 / name).is_file() and not (sd15 / "tokenizer" / name).is_file():
            out.append(f"{sd15 / name} belongs to the tokenizer: move it to {sd15 / 'tokenizer' / name}")
    return out


def _layout_name(root: Path, converted: Path | None, official: Path | None, sd15: Path, sd_single: Path | None,
                 text_encoder: Path | None, vae: Path | None, vae_single: Path | None) -> str:
    if converted is None and official is None:
        return "incomplete"
    parts = ["converted" if converted is not None else
             "official download" if official.name == "ckpts" else
             "reenact folders" if official == root / "magicportrait" else f"checkpoints in {official.name}/"]
    if text_encoder is not None and text_encoder == sd_single:
        parts.append("single-file SD1.5")
    if vae is not None and vae == vae_single:
        parts.append("single-file VAE")
    return " + ".join(parts)


def _rows(layout: WeightLayout, official: Path, vae_home: Path) -> list[WeightStatus]:
    have_converted = layout.converted
    conv = layout.checkpoints if have_converted else layout.root / CONVERTED_DIR
    rows = [WeightStatus("MagicPortrait checkpoints, converted", conv, have_converted,
                         "`reenact weights convert` (from the official files below)", required=False,
                         note="used instead of the .pth files when present")]
    src = f"{MAGICPORTRAIT_URL} (ckpts/)"
    for name in ("reference_unet", "denoising_unet"):
        p = official / f"{name}.pth"
        rows.append(WeightStatus(f"MagicPortrait {name.replace('_', ' ')}", p, _nonempty(p), src,
                                 required=not have_converted, note=_empty_note(p)))
    motion = sorted(official.glob("motion_module*.pth"))
    rows.append(WeightStatus("MagicPortrait motion module", motion[0] if motion else official / "motion_module*.pth",
                             len(motion) == 1 and _nonempty(motion[0]), src, required=not have_converted,
                             note="several files match; keep one" if len(motion) > 1 else
                             "optional if denoising_unet.pth already holds the motion-module keys"))
    for t in GUIDANCE_TYPES:
        p = official / f"guidance_encoder_{t}.pth"
        rows.append(WeightStatus(f"MagicPortrait {t} guidance encoder", p, _nonempty(p), src,
                                 required=not have_converted, note=_empty_note(p)))
    sd = layout.sd15
    rows.append(WeightStatus("SD1.5 UNet config", sd / "unet" / "config.json", layout.unet_config is not None,
                             f"{SD15_URL} (unet/config.json)", required=False,
                             note="optional: the built-in SD1.5 config is used without it"))
    once = "only needed once: the prompt embedding is cached"
    rows.append(WeightStatus("SD1.5 text encoder", layout.text_encoder or sd / "text_encoder",
                             layout.text_encoder is not None,
                             f"{SD15_URL} (text_encoder/, or a single-file v1-5-pruned-emaonly.safetensors)",
                             note=once))
    rows.append(WeightStatus("SD1.5 tokenizer", layout.tokenizer or sd / "tokenizer", layout.tokenizer is not None,
                             f"{SD15_URL} (tokenizer/)", note=once))
    rows.append(WeightStatus("sd-vae-ft-mse VAE", layout.vae or vae_home, layout.vae is not None,
                             f"{VAE_URL} (config.json + diffusion_pytorch_model.safetensors, or one "
                             "vae-ft-mse-840000-ema-pruned.safetensors)"))
    return rows


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _empty_note(path: Path) -> str:
    return "0 bytes: the download was interrupted; download it again" if path.is_file() and not _nonempty(path) else ""
