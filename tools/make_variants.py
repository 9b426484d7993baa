#!/usr/bin/env python
"""Harder inputs for the warp judge, made from the shared clips and portraits (never committed).

Driving variants of each clip (the camera motion added is known, so the judge can check it is
not transferred to the source's head):
    zoom   the camera zooms in smoothly to 1.5x            pan    it pans by half a frame and back
    tilt   it pans down by a quarter of a frame and back (the chin, then the mouth, past the bottom edge)
    shake  a hand-held jitter of a few percent             cut    a hard cut to a 1.3x closer, shifted view
    whip   a hand-held camera swung fast: a third of a frame sideways (and a little down) in six
           frames, twice there and back, each frame motion-blurred over half a frame's exposure
    recut  its first half, then a cut to the second half of the next shared clip (another person)
    open   the clip trimmed to start where the mouth is most open in its first seconds
    held   the clip's longest stretch whose lips stay apart (HELD_GAP), if one lasts HELD_FRAMES: a
           song or a shout cut from its middle, no frame of it shut
    flip   mirrored left-right
    hand   a hand (a skin-coloured patch with finger creases) over the mouth for HAND_FRAMES
    eyehand  the same over both eyes, its creases along them (a hand held over the eyes)
    oneeye   the same over one eye only (a hand over one eye; the other blinks and looks on)
    wide   the clip small in a landscape 1280x720 frame, off-centre (the rest its blurred border)
    tall   the clip in the upper third of a portrait 720x1280 phone frame (likewise)
    lowres the clip at a quarter of its size, compressed harder (LOWRES_CRF): a webcam's 128 px
           picture, a far wide shot's face (its mouth a fifth of a portrait's)
    turn   the clip redrawn by reenact's warp engine from its own first frame, its head turned
           TURN_YAW to each side and back on top of its own motion (no shared clip turns past 11°)
Source variants of each portrait: `grey` (greyscale in three channels), `padded` (the portrait
in a full-length canvas, three times its height, the extra filled with its blurred border), `soft`
(enlarged back 4x from a quarter of its size: a small face blown up, an old print), `faded` (its
blacks lifted to 75, its contrast to 0.6, and film grain of 6 levels: a faded old print), `small`
(the portrait a tenth of a 1920x1080 landscape photo's height, off-centre, the rest its border
spread out and blurred: a person far from the camera) and `toon` (drawn as a flat 2D cartoon: eight
flat colours inked with black lines).

    python tools/make_variants.py --out /tmp/reenact-variants [--frames 120]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np


DRIVING_VARIANTS = ("zoom", "pan", "shake", "whip", "cut", "recut", "open", "held", "flip", "hand", "turn", "tilt", "wide", "tall",
                    "eyehand", "oneeye", "lowres")
# only the camera moved, or the frame around it changed: the plain clip is the truth
CAMERA_VARIANTS = ("zoom", "pan", "shake", "whip", "cut", "tilt", "wide", "tall", "lowres")
SOURCE_VARIANTS = ("grey", "padded", "soft", "faded", "small", "toon")
# (canvas width, height, the clip's height as a share of the canvas's, its centre as shares of the canvas)
FRAMED = {"wide": (1280, 720, 0.5, (0.62, 0.45)), "tall": (720, 1280, 0.42, (0.5, 0.3))}
HAND_FRAMES = range(40, 71)   # the frames of a `hand` variant whose mouth is covered (the judge reads them)
COVERED = {"hand": "mouth", "eyehand": "eyes", "oneeye": "eye"}   # the variants with a hand over a part of the face
TURN_YAW = 35.0              # degrees each way of a `turn` variant: the largest yaw
WHIP_SWINGS = (24, 48, 72, 96)   # frames where a `whip` variant's swings start (out, back, out, back)
WHIP_FRAMES = 6                  # frames each swing takes
WHIP_EXPOSURE = 0.5              # of a frame: how long each frame's shutter stays open (its blur)
HELD_GAP = 0.08                  # inter-ocular distances between the inner lips' middles: apart
HELD_FRAMES = 20                 # the shortest stretch a `held` variant is made of
SMALL = (1920, 1080, 1 / 10, (0.62, 0.4))   # a `small` source's canvas, as FRAMED's: the portrait a tenth of it high
LOWRES, LOWRES_CRF = 4, 28    # a `lowres` clip: this many times smaller, at this x264 quality
TOON_COLOURS = 8              # flat colours of a `toon` source
FRAMES = 120                  # frames of each variant (--frames); a `recut` cuts at half of what the clip has


def recut_at(clip_frames: int, frames: int = FRAMES) -> int:
    """The first frame after a `recut` variant's cut, for a source clip of `clip_frames`."""
    return min(clip_frames, frames) // 2


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
    if kind == "whip":
        away = sum(np.clip((t - start) / WHIP_FRAMES, 0.0, 1.0) * (1 if k % 2 == 0 else -1)
                   for k, start in enumerate(WHIP_SWINGS))
        away = away * away * (3 - 2 * away)          # smoothstep: the swing starts and stops gently
        m = np.float64([[1, 0, 0], [0, 1, 0]])
        m[:, 2] = (w / 3.0 * away, h / 12.0 * away)
        return m
    if kind == "tilt":
        m = np.float64([[1, 0, 0], [0, 1, 0]])
        m[1, 2] = 0.25 * h * np.sin(np.pi * s)
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


def framed(frame: np.ndarray, layout: tuple) -> np.ndarray:
    """The frame placed in a larger landscape or portrait canvas (`layout`: FRAMED's or SMALL's form),
    the rest of the canvas its border stretched out and blurred, as in a video with a far wider or
    taller view than a face crop."""
    cw, ch, share, (cx, cy) = layout
    h, w = frame.shape[:2]
    size = int(round(share * ch))
    small = cv2.resize(frame, (size * w // h, size), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    x0, y0 = int(cx * cw - sw / 2), int(cy * ch - sh / 2)
    canvas = cv2.copyMakeBorder(small, y0, ch - sh - y0, x0, cw - sw - x0, cv2.BORDER_REPLICATE)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 8)
    canvas[y0:y0 + sh, x0:x0 + sw] = small
    return canvas


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


LIP_MIDDLES, IRISES = (13, 14), (468, 473)   # inner lips' middles (upper, lower); iris centres


def lip_gap(landmarks: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap: the lower lip's middle below the upper's, in inter-ocular distances."""
    upper, lower = (landmarks[:, k, :2] for k in LIP_MIDDLES)
    iod = np.linalg.norm(landmarks[:, IRISES[0], :2] - landmarks[:, IRISES[1], :2], axis=1)
    return np.linalg.norm(lower - upper, axis=1) / np.maximum(iod, 1e-9)


def held_stretch(path: Path, search: int = 300) -> tuple[int, int]:
    """(start, length) of the longest run of the clip's first `search` frames whose inner lips are
    more than HELD_GAP apart."""
    from reenact.faces import detect_in_file
    from reenact.faces.detect import runs

    track = detect_in_file(path, max_frames=search)
    return max(runs((lip_gap(track.landmarks) > HELD_GAP) & track.detected), key=lambda run: run[1], default=(0, 0))


def make_driving(path: Path, kind: str, out: Path, frames: int, seed: int, other: Path | None = None) -> Path | None:
    from reenact.io.video import probe_video
    from reenact.io.writer import write_video

    start = most_open_start(path) if kind == "open" else 0
    if kind == "held":
        start, length = held_stretch(path)
        if length < HELD_FRAMES:
            return None            # the clip's lips never stay apart that long
        frames = min(frames, length)
    clip = read_frames(path, start, frames)
    h, w = clip[0].shape[:2]
    if kind in COVERED:
        clip = cover(clip, seed, COVERED[kind])
    if kind == "turn":
        clip = turn_head(clip)
    if kind == "recut":
        half = recut_at(len(clip), frames)
        clip = clip[:half] + [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                              for f in read_frames(other or path, half, len(clip) - half)]

    def gen():
        for t, frame in enumerate(clip):
            if kind == "flip":
                yield np.ascontiguousarray(frame[:, ::-1])
            elif kind in ("open", "held", "recut", "turn", *COVERED):
                yield frame
            elif kind in FRAMED:
                yield framed(frame, FRAMED[kind])
            elif kind == "lowres":
                yield lowres(frame)
            elif kind == "whip":    # the shutter open over sub-frame times: a fast swing smears
                moments = t + WHIP_EXPOSURE * np.linspace(-0.5, 0.5, 9)
                yield np.mean([cv2.warpAffine(frame, camera(kind, u, len(clip), (h, w), seed), (w, h),
                                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                               for u in moments], axis=0).round().astype(np.uint8)
            else:
                yield cv2.warpAffine(frame, camera(kind, t, len(clip), (h, w), seed), (w, h),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    fps = probe_video(path).fps or 25.0
    return write_video(out, gen(), fps=fps, crf=LOWRES_CRF if kind == "lowres" else 18)


def lowres(frame: np.ndarray) -> np.ndarray:
    """The frame LOWRES times smaller (each side even, as H.264's 4:2:0 needs)."""
    h, w = frame.shape[:2]
    size = (max(2, w // LOWRES // 2 * 2), max(2, h // LOWRES // 2 * 2))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def cover(clip: list[np.ndarray], seed: int, part: str) -> list[np.ndarray]:
    """The clip with a hand over the mouth or the eyes (`part`) in HAND_FRAMES: a patch of the
    face's own cheek colour with four finger creases, following the part (as a hand over a talking
    mouth would) and sliding a little. Over the mouth 0.6 face widths across and 0.7 of that high,
    over the eyes 1.1 across and 0.41 of that high, its creases along them, over one eye (`eye`:
    the picture's left one) 0.5 across and 0.7 of that high."""
    from reenact.faces import FaceOptions, detect_faces

    track = detect_faces(clip, 25.0, FaceOptions(crop_rule="landmarks"))
    rng = np.random.default_rng(seed)
    (across, high), anchors = {"mouth": ((0.6, 0.7), [13, 14, 61, 291]),
                               "eyes": ((1.1, 0.41), [33, 133, 362, 263]),
                               "eye": ((0.5, 0.7), [33, 133])}[part]
    out = []
    for t, frame in enumerate(clip):
        frame = frame.copy()
        if t in HAND_FRAMES and track.detected[t]:
            pts = track.landmarks[t, :, :2]
            width = float(np.ptp(pts[:, 0])) * across
            cheek = np.median(frame[np.round(pts[[50, 280], 1]).astype(int), np.round(pts[[50, 280], 0]).astype(int)], 0)
            ph, pw = int(width * high), int(width)
            patch = np.empty((ph, pw, 3), np.float64)
            patch[:] = cheek * 1.05
            for k in range(1, 4):                                   # creases between four fingers
                y = int(ph * k / 4)
                patch[max(y - 1, 0):y + 2] *= 0.8
            patch += rng.normal(0, 4, patch.shape)
            patch = cv2.GaussianBlur(patch.clip(0, 255).astype(np.uint8), (0, 0), 1.5)
            centre = pts[anchors].mean(0) + (0.05 * width * np.sin(t / 5.0), 0)
            x0, y0 = int(centre[0] - pw / 2), int(centre[1] - ph / 2)
            xa, ya = max(x0, 0), max(y0, 0)
            region = frame[ya:y0 + ph, xa:x0 + pw]
            region[:] = patch[ya - y0:ya - y0 + region.shape[0], xa - x0:xa - x0 + region.shape[1]]
        out.append(frame)
    return out


def turn_yaw(t: int, n: int) -> float:
    """The yaw added at frame t of n by a `turn` variant: 0 -> +TURN_YAW -> 0 -> -TURN_YAW -> 0."""
    return TURN_YAW * float(np.sin(2 * np.pi * t / max(n - 1, 1)))


def turn_head(clip: list[np.ndarray]) -> list[np.ndarray]:
    """The clip redrawn from its first frame: each frame's landmarks turned by `turn_yaw` about the
    depth of the face oval's sides, so its expressions and its own head motion stay."""
    from scipy.spatial.transform import Rotation

    from reenact.faces import FaceOptions, detect_faces
    from reenact.generate.warp import WarpEngine

    track = detect_faces(clip, 25.0, FaceOptions(crop_rule="landmarks"))
    first = int(np.argmax(track.detected))
    engine = WarpEngine(clip[first], track.landmarks[first])
    out = []
    for t, frame in enumerate(clip):
        if not track.detected[t]:
            out.append(out[-1] if out else clip[first])
            continue
        pts = track.landmarks[t].astype(np.float64)
        pivot = np.array([*pts[:, :2].mean(0), pts[[234, 454], 2].mean()])
        turn = Rotation.from_euler("y", turn_yaw(t, len(clip)), degrees=True).as_matrix()
        out.append(engine.render((pts - pivot) @ turn.T + pivot, driving=(frame, pts)))
    return out


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
    elif kind == "soft":
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    elif kind == "small":     # its border spread out and blurred: no second (large, blurred) face
        image = framed(image, SMALL)
    elif kind == "faded":
        grain = np.random.default_rng(0).normal(0.0, 6.0, image.shape[:2])[..., None]
        image = np.clip(75.0 + 0.6 * image + grain, 0, 255).astype(np.uint8)
    elif kind == "toon":
        image = toon(image)
    cv2.imwrite(str(out), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return out


def toon(image: np.ndarray, colours: int = TOON_COLOURS) -> np.ndarray:
    """The picture drawn as a flat 2D cartoon: smoothed, its colours cut to `colours` flat areas, and
    the dark edges of the original inked in black lines about a 60th of its shorter side apart."""
    smooth = image
    for _ in range(4):
        smooth = cv2.bilateralFilter(smooth, 9, 40, 7)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(smooth.reshape(-1, 3).astype(np.float32), colours, None, criteria, 3,
                                    cv2.KMEANS_PP_CENTERS)
    flat = cv2.medianBlur(centres.astype(np.uint8)[labels.ravel()].reshape(image.shape), 5)
    grey = cv2.medianBlur(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 7)
    block = max(9, min(image.shape[:2]) // 60 | 1)
    ink = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 6)
    return cv2.bitwise_and(flat, flat, mask=ink)


def main(argv: list[str] | None = None) -> int:
    # this checkout's reenact, here only: the judge imports this module and may judge another one
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/reenact-variants"))
    ap.add_argument("--frames", type=int, default=FRAMES)
    ap.add_argument("--kinds", default=",".join(DRIVING_VARIANTS))
    args = ap.parse_args(argv)
    (args.out / "driving").mkdir(parents=True, exist_ok=True)
    (args.out / "source").mkdir(parents=True, exist_ok=True)
    clips = sorted((args.data / "driving").glob("*.mp4"))
    for seed, clip in enumerate(clips):
        for kind in args.kinds.split(","):
            target = args.out / "driving" / f"{clip.stem}-{kind}.mp4"
            if not target.exists() and make_driving(clip, kind, target, args.frames, seed,
                                                    other=clips[(seed + 1) % len(clips)]):
                print(target)
    for image in sorted((args.data / "source").glob("*.jpg")):
        for kind in SOURCE_VARIANTS:
            target = args.out / "source" / f"{image.stem}-{kind}.jpg"
            if not target.exists():
                make_source(image, kind, target)
                print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
