"""What assets the pipeline can use on this machine: found or missing, where it looked, where to get them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import resolve_path
from .errors import AssetError


@dataclass
class AssetStatus:
    group: str       # which stage uses it
    name: str
    path: Path       # where reenact looked
    found: bool
    required: bool   # False: optional, the pipeline has a fallback
    note: str        # what it is for, or where to get it when missing


def landmarker_status() -> list[AssetStatus]:
    from .faces.landmarker import MODEL_PATH, MODEL_SOURCE, verified_model

    try:
        verified_model()
        found, note = True, "sha256 verified"
    except AssetError as exc:
        found, note = False, str(exc)
    return [AssetStatus("faces", "MediaPipe face landmarker", MODEL_PATH, found, True,
                        note if found else f"{note} (source: {MODEL_SOURCE})")]


FLAME_URL = "https://flame.is.tue.mpg.de (register, then download)"
DECA_DATA = "DECA's data/ folder (https://github.com/yfeng95/DECA)"


def flame_status(flame_dir: Path) -> list[AssetStatus]:
    models = ["generic_model.pkl", "flame2023.pkl", "flame2023_no_jaw.pkl", "flame2023_Open.pkl"]
    present = [m for m in models if (flame_dir / m).is_file()]
    rows = [AssetStatus("flame", "FLAME head model", flame_dir / (present[0] if present else models[0]),
                        bool(present), False,
                        f"FLAME 2020 generic_model.pkl or a FLAME 2023 pickle from {FLAME_URL}; "
                        "without it reenact uses the MediaPipe face mesh")]
    emb = flame_dir / "landmark_embedding.npy"
    split = (flame_dir / "flame_static_embedding.pkl").is_file() and (flame_dir / "flame_dynamic_embedding.npy").is_file()
    rows.append(AssetStatus("flame", "FLAME 68-landmark embedding", emb, emb.is_file() or split, False,
                            f"landmark_embedding.npy from {DECA_DATA}, or flame_static_embedding.pkl + "
                            "flame_dynamic_embedding.npy from the FLAME fitting code"))
    tex = flame_dir / "FLAME_texture.npz"
    rows.append(AssetStatus("flame", "FLAME texture space (render-map albedo)", tex, tex.is_file(), False,
                            f"FLAME_texture.npz from {FLAME_URL}; without it the render map uses a constant albedo"))
    return rows


def diffusion_status(weights_dir: Path) -> list[AssetStatus]:
    try:
        from .generate.diffusion.weights import weight_status  # lands with the generator
    except ImportError:
        weight_status = None
    if weight_status is not None:
        return weight_status(weights_dir)
    return [AssetStatus("diffusion", "MagicPortrait checkpoints", weights_dir / "magicportrait", False, False,
                        "the diffusion generator is not part of this build yet; the warp engine is used")]


def collect(cfg) -> list[AssetStatus]:
    return (landmarker_status()
            + flame_status(resolve_path(cfg.paths.flame_dir))
            + diffusion_status(resolve_path(cfg.paths.weights_dir)))


def flame_ready(cfg) -> bool:
    """FLAME model and its landmark embedding are both present."""
    rows = flame_status(resolve_path(cfg.paths.flame_dir))
    return rows[0].found and rows[1].found


def diffusion_ready(cfg) -> tuple[bool, str]:
    """Whether the diffusion engine has every file it needs; if not, which is missing."""
    rows = diffusion_status(resolve_path(cfg.paths.weights_dir))
    missing = [r for r in rows if r.required and not r.found]
    if not any(r.required for r in rows):
        return False, rows[0].note
    if missing:
        return False, f"missing {missing[0].name} at {missing[0].path}"
    return True, "all diffusion weights found"
