"""One decision per run: which engine, tracker, alignment and renderer run, on which device, and why.

Everything that runs reads the plan; nothing below it chooses again. The plan is said in one line
at the start of every run and written into the resolved config next to the output.

What runs when (the README's "Engines" table is this function in words):
* engine: `warp` and `diffusion` run when asked for; `diffusion` needs its weights (it runs on a
  CPU only when asked for explicitly: hours per clip). `auto` picks diffusion only with its weights
  and a CUDA or MPS device, else warp.
* tracker: the engine lists the trackers it consumes, best first (warp: the MediaPipe mesh, which
  it draws; diffusion: FLAME, then the mesh). `tracking.backend=auto` takes the first one whose
  assets are present; a named backend must be one the engine consumes and must be ready.
* alignment: `align.mode=auto` is absolute (the official MagicPortrait split) for FLAME and
  relative for the mesh; an image as driving is always relative (its difference from the source).
* renderer: the rasteriser backend (`render.backend`), only when the engine consumes guidance maps.
"""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass
from typing import Any

from .errors import AssetError, InputError, NotAvailableError
from .generate.base import generator_class
from .inventory import Inventory
from .schema import AlignOptions
from .tracking.base import available_backends, check_backend, tracker_class

log = logging.getLogger("reenact")

DRIVING_KINDS = ("video", "image", "preset", "track")
MAPS_ONLY = "none"   # Plan.engine of `reenact track` / `reenact guidance`: no generator runs


@dataclass(frozen=True)
class Plan:
    engine: str
    tracker: str
    alignment: str              # absolute | relative
    renderer: str | None        # rasteriser backend when guidance maps are rendered, else None
    device: str                 # where generation runs: cpu | cuda | mps
    driving: str                # video | image | preset | track
    why: str                    # the reason for the engine choice, one clause

    def line(self) -> str:
        head = f"engine {self.engine} ({self.why})" if self.engine != MAPS_ONLY else self.why
        parts = [head, f"tracker {self.tracker}", f"alignment {self.alignment}"]
        if self.renderer:
            parts.append(f"renderer {self.renderer}")
        parts.append(f"device {self.device}")
        return "plan: " + ", ".join(parts)

    def as_config(self) -> dict:
        """The choices as config values, so the written config reproduces this run."""
        return {"run": {"engine": self.engine}, "tracking": {"backend": self.tracker},
                "align": {"mode": self.alignment}}


def accelerator() -> str | None:
    """'cuda' or 'mps' when one is usable, else None. Checks for a driver before importing torch,
    so a CPU-only machine never pays for the import."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "" and platform.system() != "Darwin":
        return None
    has_nvidia = os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")
    has_rocm = os.path.exists("/dev/kfd")
    apple = platform.system() == "Darwin" and platform.machine() == "arm64"
    if not (has_nvidia or has_rocm or apple):
        return None
    from .generate.diffusion.device import diffusion_device  # the one device rule, once torch is worth importing

    found = diffusion_device().device
    return None if found is None else found.type


def _tracker_problem(name: str, inventory: Inventory) -> str | None:
    return tracker_class(name).ready(inventory)


def make_plan(cfg: Any, driving: str = "video", inventory: Inventory | None = None,
              device: str | None = "detect", tracker: str | None = None) -> Plan:
    """Decide what runs. `device="detect"` looks for an accelerator; pass None for "CPU only".
    `tracker` overrides `tracking.backend` (the `--backend` option of `reenact track/guidance`)."""
    if driving not in DRIVING_KINDS:
        raise InputError(f"unknown driving kind {driving!r}")
    inventory = inventory or Inventory(cfg)
    accel = accelerator() if device == "detect" else device
    requested = str(cfg.run.engine)
    if requested == "auto":
        engine, why = _auto_engine(cfg, inventory, accel)
    else:
        cls = generator_class(requested)
        problem = cls.readiness(cfg, inventory, accel)
        if problem:
            raise NotAvailableError(f"the {requested} engine cannot run: {problem}")
        engine, why = requested, "asked for"
    cls = generator_class(engine)
    tracker_name = _choose_tracker(tracker or str(cfg.tracking.backend), cls, engine, inventory, driving)
    alignment = _alignment(cfg, tracker_name, driving)
    renderer = str(cfg.render.backend) if getattr(cls, "renders_guidance", False) else None
    if renderer == "pytorch3d":
        import importlib.util

        if importlib.util.find_spec("pytorch3d") is None:
            raise NotAvailableError("render.backend=pytorch3d but pytorch3d is not installed; use render.backend=torch")
    run_device = (accel or "cpu") if getattr(cls, "renders_guidance", False) else "cpu"
    return Plan(engine, tracker_name, alignment, renderer, run_device, driving, why)


def plan_maps(cfg: Any, inventory: Inventory | None = None, tracker: str | None = None,
              driving: str = "video") -> Plan:
    """The plan of `reenact track` and `reenact guidance`: the tracker and alignment the diffusion
    engine would use (FLAME when present, else the mesh), and no generator."""
    inventory = inventory or Inventory(cfg)
    tracker_name = _choose_tracker(tracker or str(cfg.tracking.backend), generator_class("diffusion"), "diffusion",
                                   inventory, driving)
    return Plan(MAPS_ONLY, tracker_name, _alignment(cfg, tracker_name, driving), str(cfg.render.backend), "cpu",
                driving, "tracks and guidance maps only")


def _auto_engine(cfg: Any, inventory: Inventory, accel: str | None) -> tuple[str, str]:
    if accel is None:
        return "warp", ("no GPU: the diffusion engine would take hours per clip on a CPU; "
                        "--engine diffusion runs it anyway")
    problem = generator_class("diffusion").readiness(cfg, inventory, accel)
    if problem:
        return "warp", f"diffusion not ready: {problem}; `reenact doctor` lists what is missing"
    return "diffusion", f"weights and a {accel} device found; --engine warp for the fast engine"


def _choose_tracker(requested: str, cls: type, engine: str, inventory: Inventory, driving: str) -> str:
    consumes = tuple(cls.trackers)
    if driving == "track":
        return requested if requested != "auto" else consumes[0]
    if requested != "auto":
        check_backend(requested)
        if requested not in consumes:
            raise InputError(f"tracking.backend={requested}: the {engine} engine consumes "
                             f"{' or '.join(consumes)} tracks (available trackers: {', '.join(available_backends())})")
        problem = _tracker_problem(requested, inventory)
        if problem:
            raise AssetError(f"tracking.backend={requested}: {problem}")
        return requested
    for name in consumes:
        if _tracker_problem(name, inventory) is None:
            return name
    raise AssetError(f"no tracker the {engine} engine consumes is ready ({', '.join(consumes)}); see `reenact doctor`")


def _alignment(cfg: Any, tracker: str, driving: str) -> str:
    from .geometry.align import resolved_mode

    options = AlignOptions.from_config(cfg.align)
    if driving == "image":
        return "relative"  # a still drives by its difference from the source's own face
    return resolved_mode(options, tracker_class(tracker).geometry)
