"""Where the user's encoder weights are, and the rows `reenact doctor` shows for them.

Neither file is shipped. Both are looked up in the FLAME folder (config `paths.flame_dir`) and
one level of sub-folders, unless `tracking.encoders.deca_model` / `.smirk_model` name a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...asset import Asset
from ...config import resolve_path
from ...flame.assets import _cfg_get, _find, flame_dir_from

DECA_FILE = "deca_model.tar"
SMIRK_FILE = "SMIRK_em1.pt"
DECA_LICENCE = ("DECA licence: non-commercial scientific research only; forbids pornographic, defamatory or "
                "misleading content (https://deca.is.tue.mpg.de/license.html)")
SMIRK_LICENCE = ("SMIRK code MIT; its released weights were trained with non-commercial assets (FLAME, "
                 "datasets): treat them as non-commercial (https://github.com/georgeretsi/smirk)")


def _locate(cfg: Any, key: str, name: str) -> Path:
    value = _cfg_get(cfg, f"tracking.encoders.{key}")
    if value not in (None, ""):
        return resolve_path(value)
    flame_dir = flame_dir_from(cfg)
    return _find(flame_dir, name) or flame_dir / name


def encoder_locations(cfg: Any = None) -> tuple[Path, Path]:
    """Where deca_model.tar and SMIRK_em1.pt are, or would be looked for first (they may be absent)."""
    return _locate(cfg, "deca_model", DECA_FILE), _locate(cfg, "smirk_model", SMIRK_FILE)


def encoder_files(cfg: Any = None) -> tuple[Path | None, Path | None]:
    """(deca_model.tar, SMIRK_em1.pt), each None when absent or switched off
    (`tracking.encoders.use: false`)."""
    if str(_cfg_get(cfg, "tracking.encoders.use", True)).lower() in ("false", "0", "no", "off"):
        return None, None
    deca, smirk = encoder_locations(cfg)
    return (deca if deca.is_file() else None), (smirk if smirk.is_file() else None)


def encoder_asset_rows(cfg: Any = None) -> list[Asset]:
    deca, smirk = encoder_locations(cfg)
    return [
        Asset("encoders", DECA_FILE, deca, deca.is_file(), False,
                        "optional DECA coarse encoder: source shape, texture, light, camera; driving head rotation. "
                        "From DECA's fetch_data.sh (Google Drive link); put it in the FLAME folder", DECA_LICENCE),
        Asset("encoders", SMIRK_FILE, smirk, smirk.is_file(), False,
                        "optional SMIRK encoder: driving expression and jaw. From the SMIRK repository's "
                        "instructions (pretrained_models/); put it in the FLAME folder", SMIRK_LICENCE),
    ]
