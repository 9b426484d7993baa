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
