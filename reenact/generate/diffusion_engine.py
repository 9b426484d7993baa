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

from ..cache import default_cache_dir
from ..config import resolve_path
from .pasteback import paste_back

log = logging.getLogger("reenact")


class DiffusionGenerator:
    name = "diffusion"

    def __init__(self, cfg):
        from ..doctor import flame_ready

        self.cfg = cfg
        # The checkpoint was trained on FLAME maps; the mesh maps are an approximation.
        self.backend = "flame" if flame_ready(cfg) else "mesh"
        if self.backend == "mesh":
            log.warning("diffusion engine without FLAME: guidance maps come from the MediaPipe mesh, which the "
                        "MagicPortrait checkpoint was not trained on; add FLAME to flame_assets/ for its real input")

    @classmethod
    def from_cfg(cls, cfg) -> "DiffusionGenerator":
        return cls(cfg)

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
            total, batches = _guidance_for(source, aligned, cfg)
            write_guidance(scratch / "maps", progress(batches, None, "guidance") if progress else batches,
                           total=total, overwrite=True)
            pipe = load_pipeline(resolve_path(cfg.paths.weights_dir), device=cfg.generate.diffusion.device,
                                 dtype=str(cfg.generate.diffusion.dtype), cache_dir=default_cache_dir(cfg.paths.cache_dir))
            video = pipe(reference, scratch / "maps", settings, num_frames=total, progress=progress is not None)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        side = source.head.crop_size
        for frame in video.to_uint8():
            if frame.shape[0] != side:
                import cv2

                frame = cv2.resize(frame, (side, side), interpolation=cv2.INTER_CUBIC)
            yield paste_back(source.image, frame, crop_tf, colour_reference=reference) if pasteback else frame


def _guidance_for(source, aligned, cfg):
    """Guidance batches for an alignment, on the source crop canvas."""
    from ..geometry.guidance import choose_albedo, flame_guidance, mesh_guidance

    size = int(cfg.render.size)
    canvas = source.head.crop_transforms[0].astype(np.float64) * (size / source.head.crop_size)
    common = dict(size=size, canvas_from_frame=canvas, batch_size=int(cfg.render.batch_size),
                  backend=str(cfg.render.backend))
    if hasattr(aligned, "points"):
        albedo = choose_albedo(aligned, None, None, list(cfg.render.constant_albedo))
        return len(aligned), mesh_guidance(aligned, albedo=albedo, **common)
    from ..pipeline import _flame_renderer

    flame, topology = _flame_renderer(cfg)
    albedo = choose_albedo(aligned, topology, resolve_path(cfg.render.flame_texture), list(cfg.render.constant_albedo))
    return len(aligned), flame_guidance(aligned, flame, topology, albedo=albedo, **common)
