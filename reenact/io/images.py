"""Reading and writing still images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError
from .paths import atomic_path, require_input_file

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def to_rgb8(img: Image.Image) -> np.ndarray:
    """Any Pillow mode as RGB uint8: alpha composited on white, grey replicated, 16-bit scaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 or img.mode.startswith("I;16") else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        span = max(float(arr.max() - arr.min()), 1e-12)
        img = Image.fromarray(((arr - arr.min()) / span * 255.0 + 0.5).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB with the EXIF orientation applied."""
    path = require_input_file(path, "image")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb8(img)
    except UnidentifiedImageError:
        raise InputError(f"{path} is not an image Pillow can read; use a JPEG or PNG") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path} could not be decoded ({exc}); the file may be truncated or corrupt") from None


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 image atomically; the format follows the suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    return path
