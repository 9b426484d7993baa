"""The tracker interface and the registry that picks a backend by name.

A backend turns a `FaceTrack` (MediaPipe landmarks per frame, in crop coordinates) into a
`HeadTrack`. Adding one is one new module with a class that has `name`, `from_cfg(cfg)` and
`track(face_track, progress)`, plus one line in `_BACKENDS`.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol

from ..errors import InputError
from ..faces.types import FaceTrack
from .types import HeadTrack

Progress = Callable[[int, int], None]  # (frames done, frames total)


class TrackerBackend(Protocol):
    name: str

    @classmethod
    def from_cfg(cls, cfg: Any) -> "TrackerBackend": ...

    def track(self, face_track: FaceTrack, progress: Progress | None = None) -> HeadTrack: ...


# name -> "module:Class"; imported lazily so the mesh path never loads FLAME code.
_BACKENDS = {
    "flame": "reenact.tracking.flame_tracker:FlameTracker",
    "mesh": "reenact.tracking.mesh_tracker:MeshTracker",
}


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


def resolve_backend(backend: str | None, cfg: Any = None) -> str:
    """'auto' (or None) means FLAME when its files are present, else the MediaPipe mesh."""
    if backend in (None, "auto"):
        backend = (cfg.get("tracking", {}).get("backend", "auto") if cfg is not None and hasattr(cfg, "get")
                   else "auto") or "auto"
    if backend == "auto":
        from ..flame.assets import find_flame_files

        return "flame" if find_flame_files(cfg).complete else "mesh"
    if backend not in _BACKENDS:
        raise InputError(f"unknown tracker backend {backend!r}; choose one of {', '.join(available_backends())} or auto")
    return backend


def make_tracker(backend: str | None = "auto", cfg: Any = None) -> TrackerBackend:
    """Build a backend by name (loading its model files once; reuse it for several tracks)."""
    name = resolve_backend(backend, cfg)
    module, cls = _BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls).from_cfg(cfg)


def track(face_track: FaceTrack, backend: str | None = "auto", cfg: Any = None,
          progress: Progress | None = None) -> HeadTrack:
    """Track a driving clip or a source portrait (a one-frame FaceTrack) with the chosen backend."""
    if len(face_track) == 0:
        raise InputError("the face track has no frames; nothing to track")
    return make_tracker(backend, cfg).track(face_track, progress)
