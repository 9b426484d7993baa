"""Helpers that build test inputs from the astronaut portrait (importable from any test folder)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def similarity(angle_deg: float, scale: float, tx: float, ty: float, centre=(256.0, 256.0)) -> np.ndarray:
    """2x3 similarity: rotate/scale about `centre`, then translate."""
    m = cv2.getRotationMatrix2D(centre, angle_deg, scale)
    m[:, 2] += (tx, ty)
    return m


def warp(image: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def write_test_video(path: Path, frames, fps: float = 25.0) -> Path:
    from reenact.io.writer import write_video

    return write_video(path, frames, fps, crf=12)


SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"


def _skip_without_shared():
    import pytest

    return pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


shared_data = _skip_without_shared()


def write_clip_with_tone(path: Path, frames, fps: int = 25, seconds: float = 2.0, amplitude: float = 0.3,
                         rate: int = 16000) -> Path:
    """An H.264 clip of `frames` with a 440 Hz AAC tone of `seconds` as its audio track."""
    import av

    with av.open(str(path), "w") as c:
        video = c.add_stream("libx264", rate=fps)
        audio = c.add_stream("aac", rate=rate)
        for i, frame in enumerate(frames):
            if i == 0:
                video.height, video.width = frame.shape[:2]
                video.pix_fmt = "yuv420p"
            for p in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        tone = (amplitude * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)).astype(np.float32)[None]
        for k in range(0, tone.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, k:k + 1024]), format="fltp", layout="mono")
            chunk.sample_rate = rate
            for p in audio.encode(chunk):
                c.mux(p)
        for stream in (video, audio):
            for p in stream.encode():
                c.mux(p)
    return path


def write_tagged_clip(path: Path, frames, fps: int = 25, rotation: int = 0, faststart: bool = False,
                      pts=None, gop: int | None = None, hflip: bool = False, vflip: bool = False) -> Path:
    """An H.264 mp4 with a display-matrix rotation (as phones write it) and optional mirroring
    after it (`hflip`/`vflip`, as some selfie cameras and editors write it), the index at the front
    (`faststart`, so a truncated copy still opens) and optional frame times in ms (`pts`)."""
    from fractions import Fraction

    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as c:
        stream = c.add_stream("libx264", rate=fps)
        stream.time_base = Fraction(1, 1000)
        if gop:
            stream.gop_size = gop
        for i, frame in enumerate(frames):
            if i == 0:
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                if rotation or hflip or vflip:
                    stream.set_display_rotation(rotation, hflip=hflip, vflip=vflip)
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts = pts[i] if pts is not None else i * 1000 // fps
            vf.time_base = Fraction(1, 1000)
            for packet in stream.encode(vf):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return path
