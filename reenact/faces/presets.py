"""Bundled driving motions (`--driving preset:NAME`), authored procedurally on the source's own face.

A preset turns the source's landmarks into a synthetic driving FaceTrack: the same face, moved
by a scripted head rotation and scripted expression changes. It then flows through tracking and
alignment like a real driving video, so every engine and backend can use it.

    nod    head nods twice (pitch ±12°) with a slight turn
    talk   the jaw opens and closes in syllable-like beats, with a gentle head sway
    blink  still head, natural blinks every ~1.3 s
    smile  a smile grows, holds and relaxes, with a small head tilt
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .types import FaceTrack

PRESETS = ("nod", "talk", "blink", "smile")

_UPPER_INNER_LIP = (191, 80, 81, 82, 13, 312, 311, 310, 415)
# The lower lip (its inner and outer contours between the corners) and how far its middle drops with
# the jaw: a real jaw's opening is round, the lip's middle dropping nearly as far as the chin and its
# corners hardly; by depth below the lip line alone a closed mouth opened as a slot, an open one as a V
_LOWER_LIP = (95, 88, 178, 87, 14, 317, 402, 318, 324, 146, 91, 181, 84, 17, 314, 405, 321, 375)
_LIP_DROP = 0.6


@dataclass
class Motion:
    """Per-frame scripted motion: head angles in degrees and expression amounts in [0, 1]."""

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    jaw: np.ndarray
    blink: np.ndarray
    smile: np.ndarray


def script(name: str, frames: int, fps: float) -> Motion:
    t = np.arange(frames) / fps
    zero = np.zeros(frames)
    if name == "nod":
        return Motion(yaw=4 * np.sin(2 * np.pi * t / 3.2), pitch=12 * np.sin(2 * np.pi * t / 2.0) ** 2,
                      roll=zero, jaw=zero, blink=zero, smile=zero)
    if name == "talk":
        beats = 0.5 * (1 - np.cos(2 * np.pi * 3.1 * t)) * (0.55 + 0.45 * np.sin(2 * np.pi * 0.7 * t) ** 2)
        return Motion(yaw=5 * np.sin(2 * np.pi * t / 2.7), pitch=3 * np.sin(2 * np.pi * t / 1.9), roll=2 * np.sin(2 * np.pi * t / 3.3),
                      jaw=beats, blink=_blinks(t, every=2.1), smile=zero)  # yaw etc. start at 0 too
    if name == "blink":
        return Motion(yaw=zero, pitch=zero, roll=zero, jaw=zero, blink=_blinks(t, every=1.3), smile=zero)
    if name == "smile":
        ramp = np.clip(np.minimum(t / 1.0, (t[-1] - t) / 1.0), 0, 1) if frames > 1 else zero
        ramp = ramp * ramp * (3 - 2 * ramp)
        return Motion(yaw=zero, pitch=-3 * ramp, roll=5 * ramp, jaw=0.15 * ramp, blink=zero, smile=ramp)
    raise InputError(f"unknown preset {name!r}; choose one of: {', '.join('preset:' + p for p in PRESETS)}")


def _blinks(t: np.ndarray, every: float, length: float = 0.16) -> np.ndarray:
    phase = (t - 0.5) % every
    return np.clip(1 - np.abs(phase - length) / length, 0, 1) ** 0.7


def _eye_lids(name: str) -> tuple[list[int], list[int]]:
    """Upper and lower lid landmarks of one eye, paired left-to-right along the contour."""
    from .topology import contour

    loop = list(contour(name))
    pts_order = {i: k for k, i in enumerate(loop)}
    corner_a, corner_b = (33, 133) if name == "right_eye" else (263, 362)
    a, b = pts_order[corner_a], pts_order[corner_b]
    first = loop[min(a, b) + 1:max(a, b)]
    second = (loop[max(a, b) + 1:] + loop[:min(a, b)])[::-1]
    return first, second


def deform(points: np.ndarray, yaw: float, pitch: float, roll: float, jaw: float, blink: float,
           smile: float) -> np.ndarray:
    """Scripted expression and head rotation applied to one face's (478, 3) pixel landmarks."""
    p = points.astype(np.float64).copy()
    width = np.linalg.norm(p[234, :2] - p[454, :2])
    down = p[152, :2] - p[10, :2]
    down /= np.linalg.norm(down)
    # Jaw: points below the lip line turn about an axis near the ears, more the lower they sit.
    mouth_line = (p[13, :2] + p[14, :2]) / 2
    depth_below = (p[:, :2] - mouth_line) @ down
    chin_depth = (p[152, :2] - mouth_line) @ down
    rel = depth_below / chin_depth
    weight = np.clip((rel + 0.05) / 0.15, 0, 1) * (0.6 + 0.4 * np.clip(rel, 0, 1))
    weight[list(_UPPER_INNER_LIP)] = 0
    lower = list(_LOWER_LIP)
    across = p[291, :2] - p[61, :2]
    u = (p[lower, :2] - (p[61, :2] + p[291, :2]) / 2) @ across / max(float(across @ across) / 2, 1e-9)
    weight[lower] = np.maximum(weight[lower], _LIP_DROP * np.sqrt(np.clip(1.0 - u ** 2, 0.0, 1.0)))
    p[:, :2] += (jaw * 0.3 * width) * weight[:, None] * down
    # Blink: upper lids meet the lower lids.
    for eye in ("right_eye", "left_eye"):
        upper, lower = _eye_lids(eye)
        if np.mean(p[upper, :2] @ down) > np.mean(p[lower, :2] @ down):
            upper, lower = lower, upper
        n = min(len(upper), len(lower))
        for u, lo in zip(upper[:n], lower[:n]):
            p[u, :2] += blink * 0.9 * (p[lo, :2] - p[u, :2])
    # Smile: the mouth corners go out and up, the cheeks follow a little.
    centre = (p[61, :2] + p[291, :2]) / 2
    for corner in (61, 291):
        out = p[corner, :2] - centre
        out /= np.linalg.norm(out)
        lift = smile * (0.06 * width * out - 0.05 * width * down)
        falloff = np.exp(-np.sum((points[:, :2] - points[corner, :2]) ** 2, 1) / (2 * (0.12 * width) ** 2))
        p[:, :2] += falloff[:, None] * lift
    # Head rotation about a centre behind the face.
    from scipy.spatial.transform import Rotation  # here: the preset names are read at CLI start-up

    pivot = p[:, :3].mean(0) + np.array([0, 0, 0.6 * width])
    rot = Rotation.from_euler("YXZ", [yaw, -pitch, roll], degrees=True).as_matrix()
    # image axes: x right, y down, z away; a positive pitch tips the face down
    p[:, :3] = (p[:, :3] - pivot) @ rot.T + pivot
    return p.astype(np.float32)


def preset_track(name: str, source: FaceTrack, fps: float = 25.0, seconds: float = 4.0) -> FaceTrack:
    """A synthetic driving FaceTrack: the source's face performing preset `name`."""
    from scipy.spatial.transform import Rotation

    from .crop import corner_boxes, crop_transforms
    from .types import FaceTrack

    frames = max(1, int(round(fps * seconds)))
    motion = script(name, frames, fps)
    base = source.landmarks[0]
    landmarks = np.stack([deform(base, motion.yaw[i], motion.pitch[i], motion.roll[i], motion.jaw[i],
                                 motion.blink[i], motion.smile[i]) for i in range(frames)])
    blend = np.zeros((frames, 52), np.float32)
    blend[:, 9] = blend[:, 10] = motion.blink       # eyeBlinkLeft/Right
    blend[:, 25] = motion.jaw                       # jawOpen
    blend[:, 44] = blend[:, 45] = motion.smile      # mouthSmileLeft/Right
    transforms = np.repeat(source.transforms[:1], frames, 0).copy()
    for i in range(frames):
        r = Rotation.from_euler("YXZ", [motion.yaw[i], motion.pitch[i], -motion.roll[i]], degrees=True).as_matrix()
        transforms[i, :3, :3] = r @ transforms[i, :3, :3]
    # A still camera: every frame uses the source's crop.
    boxes = np.repeat(np.concatenate([(source.boxes[:1, :2] + source.boxes[:1, 2:]) / 2,
                                      source.boxes[:1, 2:3] - source.boxes[:1, :1]], axis=1), frames, 0)
    return FaceTrack(landmarks=landmarks, blendshapes=blend, transforms=transforms.astype(np.float32),
                     boxes=corner_boxes(boxes), crop_transforms=crop_transforms(boxes, source.crop_size),
                     detected=np.ones(frames, bool), image_size=source.image_size, crop_size=source.crop_size,
                     fps=float(fps))


def parse_preset(spec: str) -> str | None:
    """'preset:nod' -> 'nod'; anything else -> None."""
    if isinstance(spec, str) and spec.startswith("preset:"):
        name = spec.split(":", 1)[1]
        if name not in PRESETS:
            raise InputError(f"unknown preset {spec!r}; choose one of: {', '.join('preset:' + p for p in PRESETS)}")
        return name
    return None
