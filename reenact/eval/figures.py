"""Pictures for the report: a frame strip per clip and a chart of the per-clip metrics.

The chart uses matplotlib when it is installed and draws plain bars with Pillow otherwise, so the
evaluation needs no plotting library.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..io.images import write_image
from ..io.paths import atomic_path

TILE = 192
LABEL_H = 18


def _tile(frame: np.ndarray, side: int = TILE) -> np.ndarray:
    """Fit a frame into a side x side tile (aspect kept, letterboxed in dark grey)."""
    h, w = frame.shape[:2]
    s = side / max(h, w)
    small = cv2.resize(np.ascontiguousarray(frame), (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA)
    tile = np.full((side, side, 3), 32, np.uint8)
    y, x = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    tile[y:y + small.shape[0], x:x + small.shape[1]] = small
    return tile


def _labelled(tile: np.ndarray, text: str) -> np.ndarray:
    img = Image.new("RGB", (tile.shape[1], tile.shape[0] + LABEL_H), (255, 255, 255))
    img.paste(Image.fromarray(tile), (0, LABEL_H))
    ImageDraw.Draw(img).text((4, 3), text, fill=(0, 0, 0), font=ImageFont.load_default())
    return np.asarray(img)


def frame_strip(source: np.ndarray, driving: Sequence[np.ndarray], output: Sequence[np.ndarray],
                times: Sequence[int]) -> np.ndarray:
    """Two rows: the source then the driving frames at `times`; a blank then the output frames at
    the same times. Reading down a column compares driving and output at one moment."""
    blank = np.full((TILE, TILE, 3), 255, np.uint8)
    top = [_labelled(_tile(source), "source")] + [_labelled(_tile(f), f"driving t={t}") for f, t in zip(driving, times)]
    bottom = [_labelled(blank, "")] + [_labelled(_tile(f), f"output t={t}") for f, t in zip(output, times)]
    return np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)


def write_strip(path: Path, source: np.ndarray, driving, output, times) -> Path:
    return write_image(path, frame_strip(source, driving, output, times))


def plot_metrics(path: Path, clips: list[str], values: dict[str, list[float | None]],
                 titles: dict[str, str], backend: str = "auto") -> Path:
    """One small bar chart per metric, clips along x. `values[m][i]` is clip i's value (None: not measured)."""
    metrics = [m for m in values if any(v is not None for v in values[m])]
    if backend == "auto":
        try:
            import matplotlib  # noqa: F401
            backend = "matplotlib"
        except ImportError:
            backend = "pil"
    if backend == "matplotlib":
        return _plot_matplotlib(path, clips, metrics, values, titles)
    return _plot_pil(path, clips, metrics, values, titles)


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, max(1, n))
    return max(1, math.ceil(n / cols)), cols


def _plot_matplotlib(path, clips, metrics, values, titles) -> Path:
    from matplotlib.figure import Figure   # no pyplot: no global figure state, no GUI backend

    rows, cols = _grid(len(metrics))
    fig = Figure(figsize=(4.2 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    x = np.arange(len(clips))
    for ax, m in zip(axes.flat, metrics):
        ys = [np.nan if v is None else v for v in values[m]]
        ax.bar(x, ys, color="#4c72b0")
        ax.set_title(titles.get(m, m), fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels(clips, rotation=60, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    if not metrics:
        axes.flat[0].text(0.5, 0.5, "no per-clip metric was measured", ha="center", va="center")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def _plot_pil(path, clips, metrics, values, titles) -> Path:
    rows, cols = _grid(len(metrics))
    pw, ph = 420, 280
    img = Image.new("RGB", (pw * cols, ph * rows), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    if not metrics:
        draw.text((20, 20), "no per-clip metric was measured", fill=(0, 0, 0), font=font)
    for k, m in enumerate(metrics):
        ox, oy = (k % cols) * pw, (k // cols) * ph
        draw.text((ox + 10, oy + 6), titles.get(m, m), fill=(0, 0, 0), font=font)
        vals = [v for v in values[m] if v is not None]
        lo, hi = min(0.0, min(vals)), max(0.0, max(vals))
        span = (hi - lo) or 1.0
        left, top, bottom, right = ox + 60, oy + 26, oy + ph - 70, ox + pw - 12
        zero = bottom - (0 - lo) / span * (bottom - top)
        draw.line([(left, top), (left, bottom)], fill=(0, 0, 0))
        draw.line([(left, zero), (right, zero)], fill=(0, 0, 0))
        draw.text((ox + 4, top - 4), f"{hi:.3g}", fill=(0, 0, 0), font=font)
        draw.text((ox + 4, bottom - 8), f"{lo:.3g}", fill=(0, 0, 0), font=font)
        slot = (right - left) / max(len(clips), 1)
        for i, (clip, v) in enumerate(zip(clips, values[m])):
            x0 = left + i * slot + slot * 0.15
            x1 = left + (i + 1) * slot - slot * 0.15
            if v is not None:
                y = bottom - (v - lo) / span * (bottom - top)
                draw.rectangle([x0, min(y, zero), x1, max(y, zero)], fill=(76, 114, 176))
            label = clip if len(clip) <= 10 else clip[:9] + "…"
            draw.text((x0, bottom + 4 + (i % 3) * 12), label, fill=(0, 0, 0), font=font)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path
