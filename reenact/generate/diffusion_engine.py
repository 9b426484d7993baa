"""The MagicPortrait diffusion model behind the generator interface.

Guidance maps are rendered on the source's square crop (the official layout), written to a
scratch folder that the pipeline reads one context window at a time, and the generated crops are
pasted back into the full source picture with colour matching.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..config import cache_dir, resolve_path
from .pasteback import paste_back

log = logging.getLogger("reenact")


class DiffusionGenerator:
    name = "diffusion"
    # The checkpoint was trained on FLAME maps; the mesh maps are an approximation.
    trackers = ("flame", "mesh")
    renders_guidance = True

    @classmethod
    def readiness(cls, cfg, inventory, device) -> str | None:
        import importlib.util

        # the engine's libraries are an extra: a warp-only install (`pip install reenact`) lacks them
        absent = [m for m in ("diffusers", "transformers") if importlib.util.find_spec(m) is None]
        if absent:
            return f"{absent[0]} is not installed (pip install 'reenact[diffusion]')"
        return inventory.diffusion_problem()

    def __init__(self, cfg):
        self.cfg = cfg
        self._renderers: dict = {}

    @classmethod
    def from_cfg(cls, cfg) -> "DiffusionGenerator":
        return cls(cfg)

    def renderer(self, geometry: str):
        """The guidance-map renderer for tracks of `geometry` (FLAME loaded once per engine)."""
        from ..geometry.guidance import GuidanceRenderer

        if geometry not in self._renderers:
            if geometry == "mesh":
                log.warning("diffusion engine without FLAME: guidance maps come from the MediaPipe mesh, which the "
                            "MagicPortrait checkpoint was not trained on; add FLAME to flame_assets/ for its real input")
            self._renderers[geometry] = GuidanceRenderer.from_config(self.cfg, geometry)
        return self._renderers[geometry]

    def frames(self, source, aligned, pasteback: bool, progress=None):
        from ..faces.crop import warp_to_crop
        from ..render.write import write_guidance
        from .diffusion import GenerationSettings, load_pipeline

        cfg = self.cfg
        settings = GenerationSettings.from_config(cfg.generate.diffusion)
        crop_tf = source.head.crop_transforms[0]
        reference = warp_to_crop(source.image, crop_tf, source.head.crop_size)
        scratch = Path(tempfile.mkdtemp(prefix="reenact-guidance-"))
        try:
            total, batches = self.renderer(source.head.geometry).batches(source.head, aligned)
            write_guidance(scratch / "maps", progress(batches, None, "guidance") if progress else batches,
                           total=total, overwrite=True)
            pipe = load_pipeline(resolve_path(cfg.paths.weights_dir), device=cfg.generate.diffusion.device,
                                 dtype=str(cfg.generate.diffusion.dtype), cache_dir=cache_dir(cfg))
            video = pipe(reference, scratch / "maps", settings, num_frames=total, progress=progress is not None)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        side = source.head.crop_size
        for frame in video.to_uint8():
            if frame.shape[0] != side:
                import cv2

                frame = cv2.resize(frame, (side, side), interpolation=cv2.INTER_CUBIC)
            yield paste_back(source.image, frame, crop_tf, colour_reference=reference) if pasteback else frame

