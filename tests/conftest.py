"""Shared test inputs the project can always make: the public-domain astronaut portrait and videos of it."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA's public-domain portrait of Eileen Collins, 512x512 RGB, as scikit-image ships it."""
    from skimage import data

    return data.astronaut()


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


@pytest.fixture
def make_video(tmp_path):
    def make(frames, name="clip.mp4", fps=25.0):
        return write_test_video(tmp_path / name, frames, fps)

    return make


shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


def shared_clips() -> list[Path]:
    return sorted((SHARED_DATA / "driving").glob("*.mp4")) if SHARED_DATA.is_dir() else []


os.environ.setdefault("GLOG_minloglevel", "2")
