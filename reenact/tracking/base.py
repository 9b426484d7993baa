"""The tracker interface and the registry that picks a backend by name.

A backend turns a `FaceTrack` (MediaPipe landmarks per frame, in crop coordinates) into a
`HeadTrack`. Adding one is one new module with a class that has `name`, `ready(inventory)`,
`from_cfg(cfg)` and `track(face_track, progress)`, plus one `register_tracker` call (or entry
below); a generator lists it in its `trackers` to consume its tracks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..errors import InputError
from ..registry import Registry

if TYPE_CHECKING:  # the registry is read at CLI start-up: no numpy needed for it
    from ..faces.types import FaceTrack
    from .types import HeadTrack

Progress = Callable[[int, int], None]  # (frames done, frames total)


class TrackerBackend(Protocol):
    name: str
    geometry: str       # the parameter family of its tracks: "flame" or "mesh" (tracking/types.py)

    @classmethod
    def ready(cls, inventory: Any) -> str | None:
        """None when its assets are present, else one line saying what is missing."""

    @classmethod
    def from_cfg(cls, cfg: Any) -> "TrackerBackend": ...

    def track(self, face_track: FaceTrack, progress: Progress | None = None) -> HeadTrack:
        """A backend that reads pixels also takes `frames=`: a callable giving a fresh iterator over
        the track's RGB frames (the pipeline passes it only to a `track` that names it)."""


# imported only when used, so the mesh path never loads FLAME code
TRACKERS = Registry("tracker backend", {
    "flame": "reenact.tracking.flame_tracker:FlameTracker",
    "mesh": "reenact.tracking.mesh_tracker:MeshTracker",
})
register_tracker = TRACKERS.register          # make "module:Class" available as `tracking.backend=NAME`
available_backends = TRACKERS.names
check_backend = TRACKERS.check
tracker_class = TRACKERS.get


def make_tracker(backend: str, cfg: Any = None) -> TrackerBackend:
    """Build a backend by name (loading its model files once; reuse it for several tracks).
    Which backend runs is the planner's decision (reenact.plan); this only builds it."""
    return tracker_class(backend).from_cfg(cfg)


def track(face_track: FaceTrack, backend: str, cfg: Any = None, progress: Progress | None = None) -> HeadTrack:
    """Track a driving clip or a source portrait (a one-frame FaceTrack) with the named backend."""
    if len(face_track) == 0:
        raise InputError("the face track has no frames; nothing to track")
    return make_tracker(backend, cfg).track(face_track, progress)
