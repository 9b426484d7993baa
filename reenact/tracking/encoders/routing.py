"""Run the official encoders over a clip and route their outputs into a landmark-fitted HeadTrack.

The official routing (guidance-maps.md §3): DECA gives shape, texture code, SH light and camera
(used from the source) and the global head rotation (used from the driving); SMIRK gives
expression and jaw (driving); neck and eyes stay zero; SMIRK's eyelids are dropped. The
tracker keeps every parameter for every frame and alignment picks the source's or the
driving's. Whatever an absent encoder would give comes from the landmark fit; the track's
meta records the source of each parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np
import torch

from ...faces.types import FaceTrack
from ...flame.landmarks import MEDIAPIPE_TO_IBUG68
from ..types import HeadTrack
from .deca import DecaCode
from .preprocess import ENCODER_INPUT, deca_input, smirk_input
from .smirk import SmirkCode

LANDMARK_FIT = "landmark_fit"


@dataclass
class EncoderOutputs:
    """Per-frame encoder results for a clip (None for an encoder that did not run).

    deca_transforms: (T, 3, 3) frame -> DECA 224-crop similarity of each frame (the crop DECA's
    camera lives in).
    """

    deca: DecaCode | None
    deca_transforms: np.ndarray | None
    smirk: SmirkCode | None


def _concat(codes: list, cls):
    return cls(**{k: np.concatenate([getattr(c, k) for c in codes]) for k in cls.__dataclass_fields__})


@torch.no_grad()
def encode_clip(frames: Iterable[np.ndarray], face_track: FaceTrack, deca=None, smirk=None,
                batch_size: int = 8, device: str | torch.device = "cpu") -> EncoderOutputs:
    """Run `deca` / `smirk` (either may be None) on every frame, cropped by the official rules from the
    face track's landmarks (frame pixels). Frames are RGB uint8 (H, W, 3), in track order."""
    deca_codes, smirk_codes, transforms = [], [], []
    pending_d, pending_s = [], []

    def flush():
        if pending_d:
            deca_codes.append(deca.encode(torch.stack(pending_d).to(device)))
            pending_d.clear()
        if pending_s:
            smirk_codes.append(smirk.encode(torch.stack(pending_s).to(device)))
            pending_s.clear()

    count = 0
    for t, frame in enumerate(frames):
        if t >= len(face_track):
            break
        points = face_track.landmarks[t][:, :2]
        if deca is not None:
            crop, transform = deca_input(frame, points[MEDIAPIPE_TO_IBUG68])
            pending_d.append(crop)
            transforms.append(transform)
        if smirk is not None:
            pending_s.append(smirk_input(frame, points)[0])
        count += 1
        if max(len(pending_d), len(pending_s)) >= batch_size:
            flush()
    flush()
    if count != len(face_track):
        raise ValueError(f"the encoders got {count} frames for a face track of {len(face_track)}")
    return EncoderOutputs(_concat(deca_codes, DecaCode) if deca is not None else None,
                          np.stack(transforms) if deca is not None else None,
                          _concat(smirk_codes, SmirkCode) if smirk is not None else None)


def deca_cam_in_crop(cam: np.ndarray, deca_transform: np.ndarray, crop_transform: np.ndarray,
                     crop_size: int) -> np.ndarray:
    """(T, 3) DECA cameras re-expressed for the track's crop, so both chains place every vertex on
    the same frame pixel.

    DECA: frame px = T^-1 ((s (X + tx) + 1) * 112, (-s (Y + ty) + 1) * 112), with T = [[a, 0, b],
    [0, a, c]] (the 224 crop; the 112 = 224 / 2 against T's 223 is DECA's own). Track: crop px =
    M frame px with M = [[k, 0, m1], [0, k, m2]], and crop px = (s' (X + tx') + 1) * C / 2.
    Both maps are scale-and-shift, so s' = 224 k s / (a C) and tx', ty' follow exactly.
    """
    cam = np.asarray(cam, np.float64)
    s, tx, ty = cam[:, 0], cam[:, 1], cam[:, 2]
    a, b, c = deca_transform[:, 0, 0], deca_transform[:, 0, 2], deca_transform[:, 1, 2]
    m = np.asarray(crop_transform, np.float64)
    k, m1, m2 = m[:, 0, 0], m[:, 0, 2], m[:, 1, 2]
    half = ENCODER_INPUT / 2
    s2 = ENCODER_INPUT * k * s / (a * crop_size)
    tx2 = (2 / crop_size * (k * (half * s * tx + half - b) / a + m1) - 1) / s2
    ty2 = (1 - 2 / crop_size * (k * (half - half * s * ty - c) / a + m2)) / s2
    return np.stack([s2, tx2, ty2], 1).astype(np.float32)


def _fit_width(values: np.ndarray, width: int) -> np.ndarray:
    """Truncate or zero-pad the last axis (the encoders give 100 shape / 50 expression values)."""
    values = np.asarray(values, np.float32)
    if values.shape[-1] >= width:
        return values[..., :width]
    pad = np.zeros(values.shape[:-1] + (width - values.shape[-1],), np.float32)
    return np.concatenate([values, pad], -1)


def route(fit: HeadTrack, enc: EncoderOutputs) -> HeadTrack:
    """The landmark-fitted track with every parameter the encoders give replaced by theirs."""
    params = dict(fit.params)
    n = len(fit)
    sources = {k: LANDMARK_FIT for k in ("shape", "expression", "jaw", "global_rot", "cam")}
    sources.update(neck="zero", eyes="zero", tex="none", light="none")
    if enc.deca is not None:
        d = enc.deca
        mean_shape = d.shape.mean(0)     # one identity per track (a photo: its only frame)
        params["shape"] = _fit_width(mean_shape, params["shape"].shape[-1])
        params["tex"] = d.tex.astype(np.float32)
        params["light"] = d.light.astype(np.float32)
        params["global_rot"] = d.pose[:, :3].astype(np.float32)
        crop_ok = np.allclose(fit.crop_transforms[:, 0, 1], 0) and np.allclose(fit.crop_transforms[:, 1, 0], 0)
        if crop_ok:  # an axis-aligned crop (always, from reenact.faces); a rotated one keeps the fit's camera
            params["cam"] = deca_cam_in_crop(d.cam, enc.deca_transforms, fit.crop_transforms, fit.crop_size)
            sources["cam"] = "deca"
        sources.update(shape="deca", tex="deca", light="deca", global_rot="deca")
    if enc.smirk is not None:
        params["expression"] = _fit_width(enc.smirk.expression, params["expression"].shape[-1])
        params["jaw"] = enc.smirk.jaw.astype(np.float32)
        sources.update(expression="smirk", jaw="smirk")
    if "eyelids" in params:  # the fit's eyelid blendshapes: reported, never fed to the maps
        sources["eyelids"] = LANDMARK_FIT
    params["neck"] = np.zeros((n, 3), np.float32)
    params["eyes"] = np.zeros((n, 6), np.float32)
    meta = dict(fit.meta)
    meta["sources"] = ", ".join(f"{k}={v}" for k, v in sources.items())
    if enc.smirk is not None:
        meta["smirk_eyelids"] = "dropped (as the official MagicPortrait code)"
    return replace(fit, params=params, meta=meta)


def parameter_sources(track: HeadTrack) -> dict[str, str]:
    """{parameter: source} from a track's meta (empty for tracks made before encoders existed)."""
    text = track.meta.get("sources", "")
    return dict(part.split("=", 1) for part in text.split(", ") if "=" in part)
