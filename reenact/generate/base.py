"""The generator interface: one short protocol, implementations chosen by name from one registry.

Adding a generator is one new module with a class that has `name`, `trackers`, `readiness`,
`from_cfg` and `frames`, plus one `register_generator` call (or entry below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol

from ..registry import Registry

if TYPE_CHECKING:  # the registry is read at CLI start-up: no numpy needed for it
    import numpy as np

    from ..faces.types import FaceTrack
    from ..tracking.types import HeadTrack


@dataclass
class DrivingView:
    """What a generator may see of a driving video besides its motion: its RGB frames (read again
    on demand, in order) and, per frame, its landmarks in frame pixels, whether its mouth is seen
    (a face found, not covered) and how far the motion has arrived at the expression it shows (a
    still's picture stands for every frame of the ease into it: 0 on the first, the source's own
    face, to 1; None: a video, each frame's own)."""

    frames: Callable[[], Iterable[np.ndarray]]
    landmarks: np.ndarray      # (T, 478, 2+)
    mouth_seen: np.ndarray     # (T,) bool
    arrival: np.ndarray | None = None   # (T,) in [0, 1]


@dataclass
class SourceContext:
    """Everything a generator may need about the source portrait, and what it may see of a driving
    video besides the motion (None for a still or preset driving; the warp engine's mouth interior
    takes its layout from it)."""

    image: np.ndarray          # (H, W, 3) uint8, the full source picture
    faces: FaceTrack           # one frame
    head: HeadTrack            # one frame, tracked by the backend the plan chose
    driving: DrivingView | None = None


class Generator(Protocol):
    name: str
    # tracker backends whose alignments it consumes, best first; the planner picks the first
    # one whose assets are present (or the one the config asks for, if listed here)
    trackers: tuple[str, ...]
    renders_guidance: bool     # whether it consumes depth / normal / render maps

    @classmethod
    def readiness(cls, cfg: Any, inventory: Any, device: str | None) -> str | None:
        """None when it can run here, else one line saying why not (for the planner)."""

    @classmethod
    def from_cfg(cls, cfg: Any) -> "Generator": ...

    def frames(self, source: SourceContext, aligned: Any, pasteback: bool,
               progress=None) -> Iterator[np.ndarray]:
        """Output frames: the full source picture when `pasteback`, else the square source crop."""


# imported only when used, so the warp path never loads diffusion code
GENERATORS = Registry("engine", {
    "warp": "reenact.generate.warp:WarpGenerator",
    "diffusion": "reenact.generate.diffusion_engine:DiffusionGenerator",
})
register_generator = GENERATORS.register      # make "module:Class" available as `--engine NAME`
available_generators = GENERATORS.names
generator_class = GENERATORS.get


def make_generator(name: str, cfg: Any) -> Generator:
    return generator_class(name).from_cfg(cfg)
