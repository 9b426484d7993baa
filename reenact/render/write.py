"""Guidance maps on disk: DIR/depth, DIR/normal, DIR/render as PNG (lossless) or JPEG sequences.

That is the folder layout the official inference reads (`<guidance_data_folder>/<type>/`,
files sorted by path, opened as RGB, divided by 255). Files are 3-channel 8-bit images named
by zero-padded frame number, so path order is frame order. JPEG is written as the official
tool's torchvision `save_image` writes a `.jpg` (Pillow's defaults: quality 75, 4:2:0 chroma);
that is what the official README's ffmpeg `frame_%04d.jpg` recipe produces. A `guidance.json` next to the
folders records how the maps were made (albedo, light, rasteriser, alignment mode...).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
from PIL import Image

from ..errors import InputError, OutputError
from .maps import MAP_NAMES, GuidanceFrames

GUIDANCE_SCHEMA = 1
META_FILE = "guidance.json"
FORMATS = {"png": ("png", "png rgb8 lossless"), "jpg": ("jpg", "jpeg rgb8 quality 75 (official)")}
# Encoding runs in background threads (OpenCV and Pillow release the GIL), so on a multi-core
# CPU it overlaps the rasteriser, which runs on one torch thread. At most this many frames wait,
# so memory stays flat. The maps are quantised on the calling thread: done in the encode threads
# (2 ms/frame less on the render thread) their large buffers stayed resident in those threads'
# glibc arenas, ~70-100 MB more peak memory, and trimming the arenas after each batch cost more
# CPU (page faults) than it saved.
ENCODE_THREADS = 2
MAX_PENDING_FRAMES = 16
# Lossless PNG through OpenCV's libpng: zlib level 1 with run-length matching and the "up" row
# filter. On guidance maps (a face on black) that is ~2x faster than Pillow's level 1, whose
# adaptive filter choice costs most of its time, and the files are a little smaller.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
              cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]


class GuidanceWriter:
    """Streams GuidanceFrames batches into `out_dir`; the folders appear only on success.

    Frames go to a hidden staging folder inside `out_dir` and are moved into place by
    `close()`. Existing map folders are an error unless `overwrite`.
    """

    def __init__(self, out_dir: str | Path, *, total: int | None = None, overwrite: bool = False,
                 meta: dict | None = None, image_format: str = "png"):
        if image_format not in FORMATS:
            raise InputError(f"unknown guidance format {image_format!r}; choose png or jpg")
        self.ext, self.format_note = FORMATS[image_format]
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        self.meta = dict(meta or {})
        self.width = max(4, len(str(total - 1))) if total else 6
        self.count = 0
        self.frame_meta: dict[str, str] = {}
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise OutputError(f"{self.out_dir} exists and is not a folder")
        existing = [n for n in (*MAP_NAMES, META_FILE) if (self.out_dir / n).exists()]
        if existing and not overwrite:
            raise OutputError(f"{self.out_dir} already holds {', '.join(existing)}; choose another folder or overwrite")
        if existing and not _written_by_reenact(self.out_dir):
            # --overwrite replaces maps reenact wrote, never a user's own folders of the same names
            raise OutputError(f"{self.out_dir} holds {', '.join(existing)} that reenact did not write (no reenact "
                              f"{META_FILE}); move them or choose another folder")
        self._created = not self.out_dir.exists()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.stage = Path(tempfile.mkdtemp(prefix=".guidance-partial-", dir=self.out_dir))
        except OSError as exc:
            raise OutputError(f"cannot write to {self.out_dir}: {exc}") from None
        for name in MAP_NAMES:
            (self.stage / name).mkdir()
        self._pool = ThreadPoolExecutor(max_workers=ENCODE_THREADS, thread_name_prefix="guidance-encode")
        self._pending: list[tuple[Future, int]] = []   # (batch being written, its frame count)

    def _save(self, image: np.ndarray, path: Path) -> None:
        if self.ext == "png":
            ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), PNG_PARAMS)
            if not ok:
                raise OSError(f"PNG encoding failed for {path}")
            path.write_bytes(data)
        else:
            Image.fromarray(image).save(path, format="JPEG")   # Pillow's defaults = the official files

    def _save_batch(self, images: dict[str, np.ndarray], first: int) -> None:
        for i in range(len(images[MAP_NAMES[0]])):
            file_name = f"{first + i:0{self.width}d}.{self.ext}"
            for name in MAP_NAMES:
                self._save(images[name][i], self.stage / name / file_name)

    def _drain(self, keep: int) -> None:
        """Wait until at most `keep` frames are still being encoded (re-raising any error)."""
        while self._pending and sum(n for _, n in self._pending) > keep:
            self._pending.pop(0)[0].result()

    def write(self, frames: GuidanceFrames) -> None:
        self.frame_meta.update(frames.meta)
        self._pending.append((self._pool.submit(self._save_batch, frames.to_uint8(), self.count), len(frames)))
        self.count += len(frames)
        self._drain(MAX_PENDING_FRAMES)

    def close(self) -> Path:
        try:
            self._drain(0)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write guidance frames to {self.out_dir}: {exc}") from None
        self._pool.shutdown()
        if self.count == 0:
            self.abort()
            raise OutputError(f"no guidance frames were produced for {self.out_dir}")
        with Image.open(self.stage / MAP_NAMES[0] / f"{0:0{self.width}d}.{self.ext}") as first:
            width, height = first.size
        meta = {"kind": "reenact_guidance", "schema": GUIDANCE_SCHEMA, "frames": self.count,
                "size": [height, width], "maps": list(MAP_NAMES), "format": self.format_note,
                **self.frame_meta, **self.meta}
        (self.stage / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        for name in (*MAP_NAMES, META_FILE):
            target = self.out_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(self.stage / name, target)
        shutil.rmtree(self.stage, ignore_errors=True)
        return self.out_dir

    def abort(self) -> None:
        for future, _ in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._pending.clear()
        shutil.rmtree(self.stage, ignore_errors=True)
        if self._created:
            try:
                self.out_dir.rmdir()
            except OSError:
                pass

    def __enter__(self) -> "GuidanceWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _written_by_reenact(folder: Path) -> bool:
    try:
        return json.loads((folder / META_FILE).read_text()).get("kind") == "reenact_guidance"
    except (OSError, ValueError, AttributeError):
        return False


def write_guidance(out_dir: str | Path, batches: Iterable[GuidanceFrames], *, total: int | None = None,
                   overwrite: bool = False, meta: dict | None = None,
                   on_batch: Callable[[GuidanceFrames], None] | None = None, image_format: str = "png") -> Path:
    """Write batches of guidance frames to out_dir/{depth,normal,render}/NNNN.png|jpg (+ guidance.json).

    on_batch, if given, sees every batch after it is written (for a preview video or progress),
    so nothing has to be rendered twice.
    """
    with GuidanceWriter(out_dir, total=total, overwrite=overwrite, meta=meta, image_format=image_format) as writer:
        for batch in batches:
            writer.write(batch)
            if on_batch is not None:
                on_batch(batch)
    return Path(out_dir)


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def read_guidance(folder: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """({'depth'|'normal'|'render': (T, H, W, 3) uint8}, metadata) from a guidance folder."""
    folder = Path(folder)
    maps = {}
    for name in MAP_NAMES:
        files = sorted(f for f in (folder / name).glob("*") if f.suffix in (".png", ".jpg")) \
            if (folder / name).is_dir() else []
        if not files:
            raise InputError(f"{folder / name} has no PNG or JPEG frames; is {folder} a guidance folder?")
        maps[name] = np.stack([_read_rgb(f) for f in files])
    counts = {len(v) for v in maps.values()}
    if len(counts) != 1:
        raise InputError(f"{folder}: depth, normal and render have different frame counts")
    meta_path = folder / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return maps, meta


PREVIEW_LABELS = ("source", "driving", *MAP_NAMES)


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    interp = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interp)


def preview_frame(source: np.ndarray, driving: np.ndarray, depth: np.ndarray, normal: np.ndarray,
                  render: np.ndarray, height: int = 256, labels: bool = True) -> np.ndarray:
    """One preview row: source | driving | depth | normal | render, all `height` px tall, uint8 RGB."""
    panels = []
    for label, image in zip(PREVIEW_LABELS, (source, driving, depth, normal, render)):
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        panel = _fit_height(image.astype(np.uint8), height)
        if labels:
            panel = panel.copy()
            size = max(0.4, height / 512)
            org = (6, 6 + int(22 * size))
            cv2.putText(panel, label, org, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(panel, label, org, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(panel)
    row = np.concatenate(panels, axis=1)
    if row.shape[1] % 2:   # even width for yuv420p video
        row = np.pad(row, ((0, 0), (0, 1), (0, 0)))
    return row


def iter_preview_frames(source: np.ndarray, driving_frames: Iterable[np.ndarray],
                        batches: Iterable[GuidanceFrames], height: int = 256) -> Iterable[np.ndarray]:
    """Preview rows, pairing driving frames with guidance frames in order.

    `driving_frames` may be one iterator shared across calls (e.g. from `on_batch` of
    write_guidance): each call advances it by the number of guidance frames it is given.
    """
    driving_iter = iter(driving_frames)
    for batch in batches:
        images = batch.to_uint8()
        for i in range(len(batch)):
            driving = next(driving_iter)
            yield preview_frame(source, driving, images["depth"][i], images["normal"][i], images["render"][i], height)
