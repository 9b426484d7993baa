"""Configuration: defaults from configs/default.yaml, overridden by files and dotted key=value pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from omegaconf import DictConfig, OmegaConf

from .errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parent
# configs/default.yaml at the top of a checkout is a link to the packaged copy, so an installed
# wheel carries its defaults too
DEFAULT_CONFIG = PACKAGE_DIR / "configs" / "default.yaml"
# Relative asset paths (flame_assets/, weights/, .cache/) are relative to the checkout when reenact
# runs from one (an editable install, `make setup`), else to the working directory.
REPO_ROOT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "setup.cfg").is_file() else Path.cwd()


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> DictConfig:
    """Defaults, then an optional YAML file, then `key.sub=value` overrides, in that order."""
    cfg = OmegaConf.load(DEFAULT_CONFIG)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"config file not found: {path}")
        cfg = OmegaConf.merge(cfg, OmegaConf.load(path))
    overrides = list(overrides)
    for item in overrides:
        if "=" not in item:
            raise InputError(f"bad override {item!r}: expected key=value, for example faces.crop_size=256")
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    return cfg


def resolve_path(p: str | Path) -> Path:
    """Relative asset paths in the config are relative to the repository root."""
    p = Path(p).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def to_yaml(cfg: Any) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
