"""Reading and writing still images."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError
from .paths import atomic_path, require_input_file

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".avif",
                  ".heic", ".heif"}
# a phone's photos (HEIC is the iPhone camera's default): Pillow reads them through pillow-heif,
# an optional dependency (`pip install reenact[heic]`) for the codecs' licences
HEIF_SUFFIXES = {".heic", ".heif"}

# a decoded 100 MP picture is 300 MB of RGB and far beyond what a face crop needs
MAX_MEGAPIXELS = 100.0


# picture formats that may hold an animation (a sticker, a meme): one with several frames is a video
ANIMATED_SUFFIXES = {".gif", ".webp", ".png"}


def has_image_suffix(path: str | Path) -> bool:
    """An image suffix, whatever the file holds now: an output to write as a picture."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_image_path(path: str | Path) -> bool:
    """An image suffix; an existing animated GIF, WebP or PNG is a video, not a still."""
    return has_image_suffix(path) and not is_animated_picture(path)


def is_animated_picture(path: str | Path) -> bool:
    """An existing GIF, WebP or PNG with more than one frame."""
    path = Path(path)
    return path.suffix.lower() in ANIMATED_SUFFIXES and _is_animated(path)


def _is_animated(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            return getattr(img, "n_frames", 1) > 1
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


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


def read_image(path: str | Path, max_megapixels: float | None = MAX_MEGAPIXELS) -> np.ndarray:
    """(H, W, 3) uint8 RGB with the EXIF orientation applied.

    Pictures above `max_megapixels` (None: no limit of ours) are refused before they are decoded.
    """
    path = require_input_file(path, "image")
    if path.suffix.lower() in HEIF_SUFFIXES:
        _open_heif()
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP on; our own limit, checked from the header, decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            width, height = img.size
            if max_megapixels is not None and width * height > max_megapixels * 1e6:
                raise InputError(f"{path} is {width}x{height} ({width * height / 1e6:.0f} MP), above the "
                                 f"{max_megapixels:g} MP limit; downscale it (a portrait needs ~1 MP) or raise "
                                 "run.max_megapixels")
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb8(img)
    except UnidentifiedImageError:
        raise InputError(f"{path} is not an image Pillow can read; use a JPEG or PNG") from None
    except Image.DecompressionBombError:
        raise InputError(f"{path} declares a picture far larger than its file (a decompression bomb, or a "
                         "huge scan); refusing to decode it — downscale it to a few megapixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path} could not be decoded ({exc}); the file may be truncated or corrupt") from None


def _open_heif() -> None:
    """Pillow made able to open HEIC/HEIF (pillow-heif applies the container's rotation and sets
    the EXIF orientation to 1, so `exif_transpose` does not turn it twice)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        raise InputError("HEIC/HEIF pictures need pillow-heif: pip install pillow-heif "
                         "(or save the picture as JPEG)") from None
    register_heif_opener()


def fit_megapixels(image: np.ndarray, max_megapixels: float) -> np.ndarray:
    """`image` scaled down (area-averaged) to at most `max_megapixels`, aspect kept; as it is when smaller."""
    h, w = image.shape[:2]
    if h * w <= max_megapixels * 1e6:
        return image
    import cv2

    scale = np.sqrt(max_megapixels * 1e6 / (h * w))
    size = (max(int(w * scale), 1), max(int(h * scale), 1))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 image atomically; the format follows the suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    return path
