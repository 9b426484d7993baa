"""What assets the pipeline can use on this machine: found or missing, where it looked, where to get them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cache import default_cache_dir
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


def flame_status(cfg) -> list[AssetStatus]:
    """FLAME-side files (all optional for reenact as a whole: the mesh path needs none)."""
    from .flame.assets import flame_asset_report

    return [AssetStatus("flame", r.name, Path(r.path), r.found, False,
                        r.purpose if r.found else f"{r.purpose}; get it from {r.where_to_get}")
            for r in flame_asset_report(cfg)]


def diffusion_status(weights_dir: Path) -> list[AssetStatus]:
    from .generate.diffusion.weights import check_weights

    return [AssetStatus("diffusion", w.name, w.path, w.found, False,
                        (w.note or "") if w.found else f"get it from {w.source}" + (f" ({w.note})" if w.note else ""))
            for w in check_weights(weights_dir)]


def collect(cfg) -> list[AssetStatus]:
    from .eval.weights import weight_status

    eval_dir = cfg.eval.weights_dir if "eval" in cfg else f"{cfg.paths.weights_dir}/eval"
    return (landmarker_status()
            + flame_status(cfg)
            + diffusion_status(resolve_path(cfg.paths.weights_dir))
            + weight_status(resolve_path(eval_dir)))


def flame_ready(cfg) -> bool:
    """FLAME model and its landmark embedding are both present."""
    from .errors import AssetError
    from .flame.assets import find_flame_files

    try:
        return find_flame_files(cfg).complete
    except AssetError:
        return False


def diffusion_ready(cfg) -> tuple[bool, str]:
    """Whether the diffusion engine has every file it needs; if not, the first that is missing."""
    from .generate.diffusion.prompt import prompt_cached
    from .generate.diffusion.weights import WeightPaths, check_weights

    weights_dir = resolve_path(cfg.paths.weights_dir)
    missing = [w for w in check_weights(weights_dir) if w.required and not w.found]
    if prompt_cached(WeightPaths.from_weights_dir(weights_dir).sd15, default_cache_dir(cfg.paths.cache_dir)):
        missing = [w for w in missing if "text encoder" not in w.name and "tokenizer" not in w.name]
    if missing:
        return False, f"missing {missing[0].name} at {missing[0].path}"
    return True, "all diffusion weights found"
