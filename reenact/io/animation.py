"""Animated pictures that FFmpeg does not read well, read by Pillow: an animated WebP or PNG (a
sticker, a meme saved from a chat or a GIF site).

FFmpeg's WebP decoder reads still WebP only: an animated one stopped at "video stream has no frame
size". Its APNG demuxer decodes the frames but lists none (a frame count of 0), and drops the
transparency its own way. Before `is_animated_picture` both were taken for a still driving
image, their first frame. Pillow decodes every frame with its own duration, and transparent
stickers are laid on white, as a transparent still is (`images.to_rgb8`). Animated GIFs stay with
FFmpeg, which reads them whole.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..errors import InputError
from .images import is_animated_picture, to_rgb8

PILLOW_DECODED = {".webp", ".png"}
DEFAULT_FRAME_MS = 100.0   # a frame with no duration of its own (Pillow reads 0): GIF players' 10 fps


def read_by_pillow(path: str | Path) -> bool:
    """Whether `path` is an animated picture that Pillow, not FFmpeg, decodes."""
    return Path(path).suffix.lower() in PILLOW_DECODED and is_animated_picture(path)


@contextmanager
def _opened(path: str | Path) -> Iterator[Image.Image]:
    """The animation open in Pillow; a file it cannot decode is one InputError."""
    try:
        with Image.open(path) as img:
            yield img
    except Image.DecompressionBombError:
        raise InputError(f"{path} declares frames far larger than its file (a decompression bomb); refusing "
                         "to decode it") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"{path} could not be decoded ({exc}); the file may be truncated or corrupt") from None


def frame_durations(path: str | Path) -> np.ndarray:
    """(N,) each frame's duration in seconds."""
    stat = Path(path).stat()
    return _durations(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size).copy()


def frame_starts(path: str | Path) -> np.ndarray:
    """(N,) each frame's time in seconds from the first."""
    durations = frame_durations(path)
    return np.concatenate([[0.0], np.cumsum(durations)[:-1]])


# a run probes its driving five times (a 216-frame sticker: 0.35 s each, every frame decoded to
# read its duration); the file's time and size keep a changed file from reading as the old one
@lru_cache(maxsize=8)
def _durations(path: str, mtime_ns: int, size: int) -> np.ndarray:
    with _opened(path) as img:
        durations = []
        for index in range(getattr(img, "n_frames", 1)):
            img.seek(index)
            img.load()          # Pillow's WebP reads a frame's duration as it decodes it
            durations.append(float(img.info.get("duration") or DEFAULT_FRAME_MS))
        return np.asarray(durations) / 1000.0


def frame_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the animation's canvas."""
    with _opened(path) as img:
        return img.size


def iter_animation(path: str | Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """The animation's frames as (H, W, 3) uint8 RGB, transparency on white, one at a time."""
    with _opened(path) as img:
        count = getattr(img, "n_frames", 1)
        for index in range(count if max_frames is None else min(count, max_frames)):
            img.seek(index)
            yield to_rgb8(img.convert("RGBA"))
