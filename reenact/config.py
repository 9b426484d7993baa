"""Configuration: the schema's defaults (reenact/schema.py), then a YAML file, then `key=value`
overrides, each validated as it is applied, so a typo or a bad value is one line naming the key."""

from __future__ import annotations

import difflib
import os
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from .errors import InputError
from .schema import Config, check

PACKAGE_DIR = Path(__file__).resolve().parent
# Generated from the schema; configs/default.yaml at the top of a checkout links to it.
DEFAULT_CONFIG = PACKAGE_DIR / "configs" / "default.yaml"
# Relative asset paths (flame_assets/, weights/) are relative to the checkout when reenact runs
# from one (an editable install, `make setup`), else to the working directory.
REPO_ROOT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "setup.cfg").is_file() else Path.cwd()


def default_config() -> DictConfig:
    """The schema's defaults as a typed, closed OmegaConf config (unknown keys are errors)."""
    cfg = OmegaConf.structured(Config)
    OmegaConf.set_struct(cfg, True)
    return cfg


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> DictConfig:
    """Defaults, then an optional YAML file, then `key.sub=value` overrides, in that order."""
    cfg = default_config()
    if path is not None:
        cfg = merge(cfg, read_yaml(path), f"--config {path}")
    overrides = list(overrides)
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected key=value, for example faces.crop_size=256")
    for item in overrides:
        try:
            dotted = OmegaConf.from_dotlist([item])
        except OmegaConfBaseException as exc:
            raise InputError(f"--set {item}: {_reason(exc)}") from None
        cfg = merge(cfg, dotted, f"--set {item}")
    return cfg


def read_yaml(path: str | Path) -> DictConfig:
    """A YAML mapping, parsed safely (no Python tags); any problem is one line naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"config file {path} must hold a mapping of sections (faces:, run:, ...), "
                         f"not a {type(data).__name__}")
    try:
        return OmegaConf.create(data)
    except OmegaConfBaseException as exc:
        raise InputError(f"config file {path}: {_reason(exc)}") from None


def merge(cfg: DictConfig, other: DictConfig | Mapping, origin: str) -> DictConfig:
    """`cfg` updated by `other`, checked against the schema; errors name `origin` and the key."""
    try:
        merged = OmegaConf.merge(cfg, other)
    except ConfigKeyError as exc:
        raise InputError(f"{origin}: {_unknown_key(exc)}") from None
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        raise InputError(f"{origin}: {key + ': ' if key else ''}{_reason(exc)}") from None
    problem = validate(merged)
    if problem:
        raise InputError(f"{origin}: {problem}")
    return merged


def validate(cfg: DictConfig) -> str | None:
    """The first value outside its allowed range or choices, or None."""
    try:
        return check(OmegaConf.to_object(cfg))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        return f"{key + ': ' if key else ''}{_reason(exc)}"


def override(cfg: DictConfig, values: Mapping[str, Any], origin: str = "option") -> DictConfig:
    """`cfg` with dotted keys set to values (None values are skipped), validated."""
    items = {k: v for k, v in values.items() if v is not None}
    if not items:
        return cfg
    nested: dict = {}
    for key, value in items.items():
        node = nested
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return merge(cfg, nested, origin)


def _unknown_key(exc: ConfigKeyError) -> str:
    full = str(getattr(exc, "full_key", "") or "")
    parent_path, _, name = full.rpartition(".")
    node: Any = Config
    for part in parent_path.split(".") if parent_path else []:
        kinds = {f.name: f for f in fields(node)}
        node = kinds[part].default_factory if part in kinds else None  # type: ignore[assignment]
        if node is None:
            break
    known = [f.name for f in fields(node)] if node is not None and is_dataclass(node) else []
    what = f"unknown section {name!r}" if not parent_path else f"unknown key {full!r}"
    hint = difflib.get_close_matches(name, known, n=1)
    hint_text = f" (did you mean {(parent_path + '.' if parent_path else '') + hint[0]}?)" if hint else ""
    where = f" in {parent_path}" if parent_path else ""
    return f"{what}{hint_text}; known{where}: {', '.join(known)}"


def _reason(exc: OmegaConfBaseException) -> str:
    msg = getattr(exc, "msg", None) or str(exc)
    return msg.strip().splitlines()[0]


def resolve_path(p: str | Path) -> Path:
    """Relative asset paths in the config are relative to the repository root (or the working folder)."""
    p = Path(p).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def cache_dir(cfg: Any) -> Path:
    """paths.cache_dir, else $REENACT_CACHE_DIR, else the user's cache folder ($XDG_CACHE_HOME/reenact)."""
    configured = cfg.paths.cache_dir if cfg is not None else None
    if configured:
        return resolve_path(configured)
    if os.environ.get("REENACT_CACHE_DIR"):
        return Path(os.environ["REENACT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reenact"


def eval_weights_dir(cfg: Any) -> Path:
    return resolve_path(cfg.eval.weights_dir or f"{cfg.paths.weights_dir}/eval")


def to_yaml(cfg: Any, header: str = "") -> str:
    """The config as YAML, interpolations left unresolved (an `${oc.env:...}` never lands in a file)."""
    if isinstance(cfg, (DictConfig, ListConfig)):
        text = OmegaConf.to_yaml(cfg, resolve=False)
    else:
        text = OmegaConf.to_yaml(OmegaConf.create(cfg), resolve=False)
    return (header + text) if header else text
