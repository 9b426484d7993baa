"""Reading the reference image and the guidance maps the way the official pipeline prepares them (Q14).

* Reference image: diffusers' `VaeImageProcessor` (PIL lanczos resize to the target size rounded
  down to multiples of 8, RGB conversion after the resize, scaled to [-1, 1]).
* Guidance maps: RGB, PIL's default (bicubic) resize to (width, height), divided by 255: [0, 1],
  not [-1, 1]. Frames are read lazily, a window at a time, so long clips do not sit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from diffusers.image_processor import VaeImageProcessor
from PIL import Image, UnidentifiedImageError

from ...errors import InputError
from .config import GUIDANCE_TYPES

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def _open_image(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise InputError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None


def _to_pil(image: Any, what: str) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, (str, Path)):
        return _open_image(Path(image))
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(f"{what}: expected an (H, W, 3) image array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        # float maps in [0, 1] are quantised as torchvision's save_image writes the official maps
        arr = np.floor(np.clip(arr.astype(np.float64) * 255 + 0.5, 0, 255)).astype(np.uint8)
    return Image.fromarray(arr)


def check_size(width: int, height: int) -> None:
    if width % 8 or height % 8 or width <= 0 or height <= 0:
        raise InputError(f"output size {width}x{height} must be positive multiples of 8 (the VAE downsamples by 8 "
                         "and the guidance features must match the latent grid)")


def reference_tensor(image: Any, width: int, height: int) -> torch.Tensor:
    """(1, 3, H, W) in [-1, 1]. The image is used as opened: RGB conversion happens after resizing."""
    check_size(width, height)
    pil = _to_pil(image, "reference image")
    return VaeImageProcessor(vae_scale_factor=8, do_convert_rgb=True).preprocess(pil, height=height, width=width)


def guidance_frame(image: Any, width: int, height: int) -> torch.Tensor:
    """(H, W, 3) float32 in [0, 1]."""
    pil = _to_pil(image, "guidance frame").convert("RGB")
    return torch.from_numpy(np.array(pil.resize((width, height)))) / 255.0


@dataclass
class FrameSource:
    """One guidance map type: a list of image files, or an (F, H, W, 3) array (uint8, or float in [0, 1])."""

    name: str
    frames: Sequence[Any]

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, indices: Sequence[int], width: int, height: int) -> torch.Tensor:
        """(1, 3, len(indices), H, W) float32 in [0, 1]."""
        frames = [guidance_frame(self.frames[i], width, height) for i in indices]
        return torch.stack(frames, dim=0).permute(3, 0, 1, 2)[None]


def _folder_frames(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no guidance images in {folder}")
    return files


def guidance_sources(guidance: Any, types: Sequence[str] = GUIDANCE_TYPES) -> dict[str, FrameSource]:
    """Accepts a folder with one subfolder per type (the official `guidance_data_folder` layout, as the
    guidance stage writes it), a mapping type -> folder / list of images / (F, H, W, 3) array, or an
    object with one such attribute per type."""
    if isinstance(guidance, (str, Path)):
        root = Path(guidance)
        if not root.is_dir():
            raise InputError(f"guidance folder not found: {root}")
        missing = [t for t in types if not (root / t).is_dir()]
        if missing:
            raise InputError(f"guidance folder {root} lacks the subfolder(s) {', '.join(missing)}; expected "
                             f"{'/, '.join(types)}/ with one image per frame")
        guidance = {t: root / t for t in types}
    elif not isinstance(guidance, Mapping):
        guidance = {t: getattr(guidance, t) for t in types if hasattr(guidance, t)}
    missing = [t for t in types if t not in guidance]
    if missing:
        raise InputError(f"guidance maps missing for {', '.join(missing)}")
    sources = {}
    for t in types:
        item = guidance[t]
        if isinstance(item, (str, Path)):
            folder = Path(item)
            if not folder.is_dir():
                raise InputError(f"guidance folder not found: {folder}")
            frames: Sequence[Any] = _folder_frames(folder)
        elif isinstance(item, (np.ndarray, torch.Tensor)):
            if item.ndim != 4 or item.shape[-1] != 3:
                raise InputError(f"{t} guidance: expected an (F, H, W, 3) array, got shape {tuple(item.shape)}")
            frames = item
        else:
            frames = list(item)
        sources[t] = FrameSource(t, frames)
    counts = {t: len(s) for t, s in sources.items()}
    if len(set(counts.values())) != 1:
        raise InputError(f"guidance map types have different frame counts {counts}; they must match frame by frame")
    if next(iter(counts.values())) == 0:
        raise InputError("guidance maps hold no frames")
    return sources


def is_guidance_stream(guidance: Any) -> bool:
    """An iterable of batches (read once, in order) rather than a folder, mapping or object of arrays."""
    return not isinstance(guidance, (str, Path, Mapping)) and not any(hasattr(guidance, t) for t in GUIDANCE_TYPES) \
        and hasattr(guidance, "__iter__")


def _batch_maps(batch: Any) -> Mapping[str, Any]:
    """{type: (B, H, W, 3)} from a `GuidanceFrames` batch (quantised exactly as the PNG files would be)
    or a mapping of arrays."""
    if hasattr(batch, "to_uint8"):
        return batch.to_uint8()
    if isinstance(batch, Mapping):
        return batch
    raise InputError(f"guidance batch of type {type(batch).__name__}: expected GuidanceFrames or "
                     "{'depth'|'normal'|'render': (B, H, W, 3) array}")


def stream_frames(batches: Iterable[Any], width: int, height: int, chunk: int = 16,
                  types: Sequence[str] = GUIDANCE_TYPES) -> Iterator[dict[str, torch.Tensor]]:
    """Guidance batches of any size -> {type: (1, 3, n, H, W) float32 in [0, 1]}, n <= chunk, in order;
    each frame is prepared exactly as one read from a PNG file."""
    pending: dict[str, list[torch.Tensor]] = {t: [] for t in types}
    for batch in batches:
        maps = _batch_maps(batch)
        missing = [t for t in types if t not in maps]
        if missing:
            raise InputError(f"guidance batch lacks {', '.join(missing)}")
        counts = {len(maps[t]) for t in types}
        if len(counts) != 1:
            raise InputError("guidance map types have different frame counts in one batch")
        for t in types:
            pending[t].extend(guidance_frame(frame, width, height) for frame in maps[t])
        while len(pending[types[0]]) >= chunk:
            yield {t: _stack(pending[t][:chunk]) for t in types}
            pending = {t: v[chunk:] for t, v in pending.items()}
    if pending[types[0]]:
        yield {t: _stack(v) for t, v in pending.items()}


def _stack(frames: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(frames, dim=0).permute(3, 0, 1, 2)[None]
