"""How the notes a stage logs for the user name what they are about (the stages and the wiring
both use this; console.py decides where notes go)."""

from __future__ import annotations

from typing import Iterable


def frame_list(frames: Iterable[int], shown: int = 20) -> str:
    """Frame numbers for a note: the first `shown`, then an ellipsis."""
    frames = [int(f) for f in frames]
    return ", ".join(str(f) for f in frames[:shown]) + (" …" if len(frames) > shown else "")
