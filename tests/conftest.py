"""Shared test inputs the project can always make: the public-domain astronaut portrait and videos of it."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session", autouse=True)
def private_track_cache(tmp_path_factory):
    """Each session (each xdist worker) caches tracks in a folder of its own, never the user's
    cache or the checkout (read when paths.cache_dir is unset)."""
    before = os.environ.get("REENACT_CACHE_DIR")
    os.environ["REENACT_CACHE_DIR"] = str(tmp_path_factory.mktemp("track_cache"))
    yield
    if before is None:
        os.environ.pop("REENACT_CACHE_DIR", None)
    else:
        os.environ["REENACT_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """NASA's public-domain portrait of Eileen Collins, 512x512 RGB (skimage.data.astronaut()'s
    pixels), as reenact ships it for the demo."""
    from reenact.cli import DEMO_PORTRAIT
    from reenact.io.images import read_image

    return read_image(DEMO_PORTRAIT)


@pytest.fixture(scope="session")
def head_files(tmp_path_factory):
    """Paths of the synthetic FLAME-format test head and its embeddings (written once per session)."""
    from tests.synthetic_head import write_head_once

    return write_head_once(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def test_head(head_files):
    from tests.synthetic_head import load_head

    return load_head(head_files)
