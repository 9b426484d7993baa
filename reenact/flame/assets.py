"""Where the user's FLAME files are, and what `reenact doctor` says about them.

Files are looked up in the FLAME folder (config `paths.flame_dir`, default `flame_assets/`) and
one level of sub-folders, so an unzipped `FLAME2020/generic_model.pkl` is found as is. A
config entry `flame.<name>` pointing at a file overrides the search for that file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..asset import Asset
from ..config import resolve_path
from ..errors import AssetError

FLAME_URL = "https://flame.is.tue.mpg.de (register, accept the licence, download)"
FLAME_LICENCE = "FLAME licence: non-commercial scientific research only"
DECA_URL = "DECA repository data/ folder: https://github.com/yfeng95/DECA (data/)"

# Accepted model files, in order of preference: FLAME 2020 is what DECA and SMIRK were trained with.
MODEL_FILES = ("generic_model.pkl", "flame2023.pkl", "flame2023_Open.pkl", "flame2023_no_jaw.pkl")


@dataclass
class FlameFiles:
    """Resolved FLAME file paths (None where missing)."""

    model: Path | None
    landmark_embedding: Path | None           # DECA landmark_embedding.npy, or RingNet static .pkl
    landmark_embedding_dynamic: Path | None   # RingNet flame_dynamic_embedding.npy (with the .pkl)
    mediapipe_embedding: Path | None
    eyelids: tuple[Path, Path] | None = None  # metrical-tracker / SMIRK l_eyelid.npy, r_eyelid.npy (both or none)

    @property
    def complete(self) -> bool:
        return all(p is not None and p.is_file() for p in (self.model, self.landmark_embedding))


def _find(flame_dir: Path, name: str) -> Path | None:
    direct = flame_dir / name
    if direct.is_file():
        return direct
    if flame_dir.is_dir():
        for sub in sorted(p for p in flame_dir.iterdir() if p.is_dir()):
            if (sub / name).is_file():
                return sub / name
    return None


def _cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    node = cfg
    for part in key.split("."):
        if node is None:
            return default
        node = node.get(part) if hasattr(node, "get") else getattr(node, part, None)
    return default if node is None else node


def flame_dir_from(cfg: Any = None) -> Path:
    return resolve_path(_cfg_get(cfg, "paths.flame_dir", "flame_assets"))


def _override(cfg: Any, key: str, strict: bool) -> Path | None:
    value = _cfg_get(cfg, f"flame.{key}")
    if value in (None, ""):
        return None
    path = resolve_path(value)
    if strict and not path.is_file():
        raise AssetError(f"flame.{key} points at {path}, which does not exist; fix the path or remove the setting")
    return path


def find_flame_files(cfg: Any = None, strict: bool = True) -> FlameFiles:
    """Locate the FLAME model and its landmark embeddings (config overrides first, then the search).

    With strict=False a configured path that does not exist is returned as is (for reports)."""
    flame_dir = flame_dir_from(cfg)
    model = (_override(cfg, "model_file", strict)
             or next((p for n in MODEL_FILES if (p := _find(flame_dir, n))), None))
    static = _override(cfg, "landmark_embedding", strict)
    dynamic = _override(cfg, "landmark_embedding_dynamic", strict)
    if static is None:
        static = _find(flame_dir, "landmark_embedding.npy")
    if static is None:
        ringnet_static = _find(flame_dir, "flame_static_embedding.pkl")
        ringnet_dynamic = _find(flame_dir, "flame_dynamic_embedding.npy")
        if ringnet_static and ringnet_dynamic:
            static, dynamic = ringnet_static, ringnet_dynamic
    mediapipe = _override(cfg, "mediapipe_embedding", strict) or _find(flame_dir, "mediapipe_landmark_embedding.npz")
    left, right = (_find(flame_dir, f"{side}_eyelid.npy") for side in "lr")
    return FlameFiles(model, static, dynamic, mediapipe, (left, right) if left and right else None)


def flame_asset_report(cfg: Any = None) -> list[Asset]:
    """Every FLAME-side file reenact can use: found or not, where, and where to get it."""
    flame_dir = flame_dir_from(cfg)
    files = find_flame_files(cfg, strict=False)

    def row(name: str, path: Path | None, required: bool, purpose: str, where: str) -> Asset:
        found = path is not None and path.is_file()
        return Asset("flame", name, path if path is not None else flame_dir / name, found, required,
                     purpose if found else f"{purpose}; get it from {where}", FLAME_LICENCE)

    ringnet = files.landmark_embedding_dynamic is not None
    return [
        row(files.model.name if files.model else "generic_model.pkl", files.model, True,
            "FLAME head model (2020 preferred; flame2023.pkl / flame2023_Open.pkl accepted)",
            f"FLAME 2020 download (FLAME2020.zip), {FLAME_URL}"),
        row("flame_static_embedding.pkl + flame_dynamic_embedding.npy" if ringnet else "landmark_embedding.npy",
            files.landmark_embedding, True, "68-point landmark embedding for the tracker",
            f"{DECA_URL}; or RingNet/FLAME_PyTorch's flame_static_embedding.pkl + flame_dynamic_embedding.npy"),
        row("mediapipe_landmark_embedding.npz", files.mediapipe_embedding, False,
            "optional dense MediaPipe embedding (tighter fits)",
            "SMIRK repository: assets/mediapipe_landmark_embedding/mediapipe_landmark_embedding.npz"),
        row("l_eyelid.npy + r_eyelid.npy", files.eyelids[0] if files.eyelids else None, False,
            "optional eyelid blendshapes: the landmark fit keeps blinks out of the expression with them",
            "SMIRK repository: assets/ (from metrical-tracker's flame/blendshapes/)"),
        row("head_template.obj", _find(flame_dir, "head_template.obj"), False,
            "triangles and UVs for rendering the guidance maps", DECA_URL),
        row("FLAME_texture.npz", _find(flame_dir, "FLAME_texture.npz"), False,
            "albedo for the 'render' guidance map", f"FLAME texture space download, {FLAME_URL}"),
    ]
