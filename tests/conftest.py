"""Shared test inputs the project can always make: the public-domain astronaut portrait and videos of it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from portrait_helpers import write_test_video

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA's public-domain portrait of Eileen Collins, 512x512 RGB, as scikit-image ships it."""
    from skimage import data

    return data.astronaut()


@pytest.fixture
def make_video(tmp_path):
    def make(frames, name="clip.mp4", fps=25.0):
        return write_test_video(tmp_path / name, frames, fps)

    return make


shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


def shared_clips() -> list[Path]:
    return sorted((SHARED_DATA / "driving").glob("*.mp4")) if SHARED_DATA.is_dir() else []


os.environ.setdefault("GLOG_minloglevel", "2")
