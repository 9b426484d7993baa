"""The generator interface: one short protocol, implementations chosen by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

import numpy as np

from ..faces.types import FaceTrack
from ..tracking.types import HeadTrack


@dataclass
class SourceContext:
    """Everything a generator may need about the source portrait."""

    image: np.ndarray          # (H, W, 3) uint8, the full source picture
    faces: FaceTrack           # one frame
    head: HeadTrack            # one frame, the tracker backend the aligned motion came from


class Generator(Protocol):
    name: str
    backend: str               # the tracker backend whose alignment it consumes ("mesh" or "flame")

    def frames(self, source: SourceContext, aligned: Any, pasteback: bool,
               progress=None) -> Iterator[np.ndarray]:
        """Output frames: the full source picture when `pasteback`, else the square source crop."""


_GENERATORS = {
    "warp": "reenact.generate.warp:WarpGenerator",
    "diffusion": "reenact.generate.diffusion_engine:DiffusionGenerator",
}


def make_generator(name: str, cfg: Any) -> Generator:
    module, cls = _GENERATORS[name].split(":")
    return getattr(importlib.import_module(module), cls).from_cfg(cfg)
