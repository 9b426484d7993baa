#!/usr/bin/env python
"""Harder inputs for the warp judge, made from the shared clips and portraits (never committed).

Driving variants of each clip (the camera motion added is known, so the judge can check it is
not transferred to the source's head):
    zoom   the camera zooms in smoothly to 1.5x            pan    it pans by half a frame and back
    shake  a hand-held jitter of a few percent             cut    a hard cut to a 1.3x closer, shifted view
    open   the clip trimmed to start where the mouth is most open in its first seconds
    flip   mirrored left-right
Source variants of each portrait: `grey` (greyscale in three channels) and `padded` (the portrait
in a full-length canvas, three times its height, the extra filled with its blurred border).

    python tools/make_variants.py --out /tmp/reenact-variants [--frames 120]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DRIVING_VARIANTS = ("zoom", "pan", "shake", "cut", "open", "flip")


def camera(kind: str, t: int, n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """The 2x3 camera motion (output pixels from input pixels) added at frame t of n."""
    h, w = size
    centre = (w / 2.0, h / 2.0)
    s = t / max(n - 1, 1)
    if kind == "zoom":
        return cv2.getRotationMatrix2D(centre, 0.0, 1.0 + 0.5 * (0.5 - 0.5 * np.cos(np.pi * s)))
    if kind == "pan":
        m = np.float64([[1, 0, 0], [0, 1, 0]])
        m[0, 2] = 0.5 * w * np.sin(np.pi * s)
        return m
    if kind == "shake":
        rng = np.random.default_rng(seed * 1000 + t)
        m = cv2.getRotationMatrix2D(centre, float(rng.normal(0, 1.0)), 1.0 + float(rng.normal(0, 0.02)))
        m[:, 2] += rng.normal(0, 0.03 * w, 2)
        return m
    if kind == "cut":
        if t < n // 2:
            return np.float64([[1, 0, 0], [0, 1, 0]])
        m = cv2.getRotationMatrix2D(centre, 0.0, 1.3)
        m[:, 2] += (0.08 * w, 0.05 * h)
        return m
    return np.float64([[1, 0, 0], [0, 1, 0]])


def read_frames(path: Path, start: int, count: int) -> list[np.ndarray]:
    from reenact.io.video import iter_frames

    frames = []
    for i, frame in enumerate(iter_frames(path, max_frames=start + count)):
        if i >= start:
            frames.append(frame)
    return frames


def most_open_start(path: Path, search: int = 150) -> int:
    """The frame of the clip's first `search` where MediaPipe's jawOpen is largest."""
    from reenact.faces import detect_in_file

    track = detect_in_file(path, max_frames=search)
    return int(np.argmax(track.blendshapes[:, 25]))


def make_driving(path: Path, kind: str, out: Path, frames: int, seed: int) -> Path:
    from reenact.io.video import probe_video
    from reenact.io.writer import write_video

    start = most_open_start(path) if kind == "open" else 0
    clip = read_frames(path, start, frames)
    h, w = clip[0].shape[:2]

    def gen():
        for t, frame in enumerate(clip):
            if kind == "flip":
                yield np.ascontiguousarray(frame[:, ::-1])
            elif kind == "open":
                yield frame
            else:
                yield cv2.warpAffine(frame, camera(kind, t, len(clip), (h, w), seed), (w, h),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    fps = probe_video(path).fps or 25.0
    return write_video(out, gen(), fps=fps, crf=18)


def make_source(path: Path, kind: str, out: Path) -> Path:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if kind == "grey":
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        image = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    elif kind == "padded":
        h, w = image.shape[:2]
        top, side = h // 4, w // 2
        canvas = cv2.copyMakeBorder(image, top, 3 * h - h - top, side, side, cv2.BORDER_REPLICATE)
        canvas = cv2.GaussianBlur(canvas, (0, 0), 6)
        canvas[top:top + h, side:side + w] = image
        image = canvas
    cv2.imwrite(str(out), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/reenact-variants"))
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--kinds", default=",".join(DRIVING_VARIANTS))
    args = ap.parse_args(argv)
    (args.out / "driving").mkdir(parents=True, exist_ok=True)
    (args.out / "source").mkdir(parents=True, exist_ok=True)
    for seed, clip in enumerate(sorted((args.data / "driving").glob("*.mp4"))):
        for kind in args.kinds.split(","):
            target = args.out / "driving" / f"{clip.stem}-{kind}.mp4"
            if not target.exists():
                make_driving(clip, kind, target, args.frames, seed)
                print(target)
    for image in sorted((args.data / "source").glob("*.jpg")):
        for kind in ("grey", "padded"):
            target = args.out / "source" / f"{image.stem}-{kind}.jpg"
            if not target.exists():
                make_source(image, kind, target)
                print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
