"""Tiny training setups: an SD1.5 stand-in folder, a prompt embedding, and a dataset prepared by
`reenact train prepare` from a clip of the astronaut portrait moving (made here, once per session)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _setup import SMALL_UNET, TINY, moving_astronaut, write_sd15_standin  # noqa: E402
from portrait_helpers import write_test_video  # noqa: E402


@pytest.fixture(scope="session")
def train_assets(tmp_path_factory):
    """Paths: small and fixture-sized SD stand-ins, the tiny VAE, a fixed prompt embedding."""
    root = tmp_path_factory.mktemp("train-assets")
    prompt = root / "prompt.pt"
    torch.save(torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(7)), prompt)
    return {"small": write_sd15_standin(root / "sd15-small", SMALL_UNET),
            "tiny": write_sd15_standin(root / "sd15-tiny", None),
            "vae": TINY / "vae", "prompt": prompt, "motion_module": TINY / "motion_module.pth"}


@pytest.fixture(scope="session")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train-videos")
    frames = moving_astronaut(10)
    write_test_video(folder / "astronaut.mp4", frames)
    write_test_video(folder / "short.mp4", frames[:3])
    cut = frames[:5] + [np.ascontiguousarray(f[::-1]) for f in frames[:5]]     # a hard cut at frame 5
    write_test_video(folder / "cut.mp4", cut)
    return folder


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, videos):
    """A dataset prepared at 128 px maps (the render size only changes the cost, not the path)."""
    from reenact.config import load_config
    from reenact.train import PrepareOptions, prepare_dataset

    out = tmp_path_factory.mktemp("train-data") / "dataset"
    cfg = load_config(None, ["render.size=128", "faces.crop_size=256"])
    report = prepare_dataset(videos, out, PrepareOptions(min_frames=8), config=cfg)
    return out, report, cfg


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Training steps on a shared 2-core machine: several torch threads fight over the cores and make
    each step many times slower; one thread also keeps the numbers reproducible. Module scope: set before the
    module-scoped training runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
