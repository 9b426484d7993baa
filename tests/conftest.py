"""Shared test inputs the project can always make: the public-domain astronaut portrait and videos of it."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA's public-domain portrait of Eileen Collins, 512x512 RGB, as scikit-image ships it."""
    from skimage import data

    return data.astronaut()
