"""The one status type for every asset reenact can use (model files, weights, embeddings)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Asset:
    """One file or folder: found or missing, where reenact looked, and what to do about it."""

    group: str          # the stage that uses it: faces, flame, encoders, diffusion, eval
    name: str
    path: Path          # where it was found, or the first place looked
    found: bool
    required: bool      # needed for its group to work (False: optional, there is a fallback)
    note: str           # what it is for when found; where to get it when missing
    licence: str = ""   # the terms a user accepts by bringing it, when they restrict use
