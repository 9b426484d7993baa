"""Training samples from a prepared dataset, drawn as a pure function of (seed, micro-step, slot).

Every random choice of a sample (clip, reference frame, target frames, noise, timestep, VAE sample)
comes from a generator seeded with (seed, micro-step, slot in the global batch). So the data order
needs no saved state: a resumed run draws what the uninterrupted run drew, and N processes with
batch B/N draw exactly the samples one process with batch B draws (process r takes slots r*B/N..).

Images are read the way inference reads them (generate/diffusion/inputs.py): the reference and the
target frames through the VAE image processor ([-1, 1]), the maps with PIL's bicubic resize ([0, 1]).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..generate.diffusion.inputs import guidance_frame, reference_tensor
from .prepare import DATASET_FORMAT, DATASET_VERSION

GUIDANCE_TYPES = ("depth", "normal", "render")


@dataclass(frozen=True)
class Clip:
    name: str
    folder: Path
    frames: int


def open_dataset(root: str | Path, min_frames: int = 1) -> list[Clip]:
    """The kept clips of a prepared dataset; InputError (one line) for anything that is not one."""
    root = Path(root)
    index_path = root / "index.json"
    if not index_path.is_file():
        raise InputError(f"{root} is not a prepared dataset (no index.json); run `reenact train prepare` first")
    try:
        index = json.loads(index_path.read_text())
    except ValueError as exc:
        raise InputError(f"{index_path} is not valid JSON ({exc}); prepare the dataset again") from None
    if index.get("format") != DATASET_FORMAT or index.get("version") != DATASET_VERSION:
        raise InputError(f"{root} was prepared by another version of `reenact train prepare`; prepare it again")
    clips = []
    for entry in index.get("clips", []):
        folder = root / "clips" / entry["name"]
        for sub in ("frames", *(f"maps/{t}" for t in GUIDANCE_TYPES)):
            if not (folder / sub).is_dir():
                raise InputError(f"{folder / sub} is missing; the dataset is incomplete, run prepare again (it resumes)")
        clips.append(Clip(entry["name"], folder, int(entry["frames"])))
    usable = [c for c in clips if c.frames >= min_frames]
    if not usable:
        raise InputError(f"{root} has no clip with at least {min_frames} frames ({len(clips)} clips kept by prepare)")
    return usable


def sample_seed(seed: int, micro_step: int, slot: int) -> int:
    return int(np.random.default_rng([seed, micro_step, slot]).integers(2 ** 62))


@dataclass
class Sample:
    reference: torch.Tensor         # (3, H, W) in [-1, 1]
    target: torch.Tensor            # (3, F, H, W) in [-1, 1]
    maps: torch.Tensor              # (3 * n_types, F, H, W) in [0, 1], type order
    seed: int                       # for this sample's noise, timestep and VAE draw


class SampleDrawer:
    """Draws one sample for (micro-step, slot): reference and targets from the same clip."""

    def __init__(self, clips: list[Clip], width: int, height: int, num_frames: int, frame_stride: int,
                 seed: int) -> None:
        self.clips, self.width, self.height = clips, width, height
        self.num_frames, self.stride, self.seed = num_frames, frame_stride, seed
        self.span = (num_frames - 1) * frame_stride + 1

    def _image(self, path: Path) -> Image.Image:
        with Image.open(path) as img:
            img.load()
            return img.copy()

    def draw(self, micro_step: int, slot: int) -> Sample:
        seed = sample_seed(self.seed, micro_step, slot)
        rng = np.random.default_rng(seed)
        eligible = [c for c in self.clips if c.frames >= self.span]
        clip = eligible[int(rng.integers(len(eligible)))]
        ref = int(rng.integers(clip.frames))
        start = int(rng.integers(clip.frames - self.span + 1))
        indices = [start + k * self.stride for k in range(self.num_frames)]
        reference = reference_tensor(self._image(clip.folder / "frames" / f"{ref:04d}.png"), self.width, self.height)[0]
        target = torch.stack([reference_tensor(self._image(clip.folder / "frames" / f"{i:04d}.png"),
                                               self.width, self.height)[0] for i in indices], dim=1)
        maps = []
        for t in GUIDANCE_TYPES:
            files = sorted(p for p in (clip.folder / "maps" / t).iterdir() if p.suffix in (".png", ".jpg"))
            frames = [guidance_frame(self._image(files[i]), self.width, self.height) for i in indices]
            maps.append(torch.stack(frames, dim=0).permute(3, 0, 1, 2))          # (3, F, H, W)
        return Sample(reference, target, torch.cat(maps, dim=0), seed)


class StepBatches(torch.utils.data.Dataset):
    """Item i = this process's share of micro-step i's global batch, stacked.

    With `repeat_every` = K > 0 micro-step i draws what micro-step i mod K draws (the `overfit_batches`
    option): the run sees the same K global batches, noise, timesteps and reference drops over and over."""

    def __init__(self, drawer: SampleDrawer, batch_size: int, process_index: int, num_processes: int,
                 repeat_every: int = 0) -> None:
        self.drawer, self.batch_size = drawer, batch_size
        self.process_index, self.num_processes = process_index, num_processes
        self.repeat_every = repeat_every

    def __len__(self) -> int:
        return 2 ** 31

    def __getitem__(self, micro_step: int) -> dict[str, torch.Tensor]:
        if self.repeat_every:
            micro_step %= self.repeat_every
        first = self.process_index * self.batch_size
        samples = [self.drawer.draw(micro_step, slot) for slot in range(first, first + self.batch_size)]
        return {"reference": torch.stack([s.reference for s in samples]),
                "target": torch.stack([s.target for s in samples]),
                "maps": torch.stack([s.maps for s in samples]),
                "seed": torch.tensor([s.seed for s in samples], dtype=torch.int64),
                "micro_step": torch.tensor(micro_step)}        # the drawn one (seeds the reference drop)


def step_loader(batches: StepBatches, start: int, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """Micro-steps start, start+1, ... in order (workers only prefetch; they add no randomness)."""
    return torch.utils.data.DataLoader(batches, sampler=range(start, len(batches)), batch_size=None,
                                       num_workers=num_workers, persistent_workers=False)
