"""The MagicPortrait diffusion model behind the generator interface.

Guidance maps are rendered on the source's square crop (the official layout) and streamed into the
pipeline as arrays; the weights are loaded once per generator (a `Reenactor` keeps its generator
across runs). Output frames are decoded, colour-matched with one transform per clip, pasted back
into the full source picture and handed to the writer a chunk at a time, so host memory does not
grow with the clip.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ..config import resolve_path
from .diffusion.pipeline import to_uint8
from .pasteback import ColourTransform, feathered_mask, paste_back

log = logging.getLogger("reenact")


class DiffusionGenerator:
    name = "diffusion"

    def __init__(self, cfg):
        from ..doctor import flame_ready

        self.cfg = cfg
        self._pipe = None
        # The checkpoint was trained on FLAME maps; the mesh maps are an approximation.
        self.backend = "flame" if flame_ready(cfg) else "mesh"
        if self.backend == "mesh":
            log.warning("diffusion engine without FLAME: guidance maps come from the MediaPipe mesh, which the "
                        "MagicPortrait checkpoint was not trained on; add FLAME to flame_assets/ for its real input")

    @classmethod
    def from_cfg(cls, cfg) -> "DiffusionGenerator":
        return cls(cfg)

    def pipeline(self):
        """The loaded pipeline, loaded on first use and kept: weights are read once per generator."""
        if self._pipe is None:
            from .diffusion import GenerationSettings, load_pipeline

            d = self.cfg.generate.diffusion
            settings = GenerationSettings.from_config(d)
            self._pipe = load_pipeline(resolve_path(self.cfg.paths.weights_dir), device=d.device,
                                       dtype=settings.dtype, cache_dir=resolve_path(self.cfg.paths.cache_dir))
        return self._pipe

    def frames(self, source, aligned, pasteback: bool, progress=None):
        from ..faces.crop import warp_to_crop
        from .diffusion import GenerationSettings

        cfg = self.cfg
        settings = GenerationSettings.from_config(cfg.generate.diffusion)
        crop_tf = source.head.crop_transforms[0]
        side = source.head.crop_size
        reference = warp_to_crop(source.image, crop_tf, side)
        pipe = self.pipeline()
        total, batches = _guidance_for(source, aligned, cfg)
        if progress:
            batches = progress(batches, total, "guidance")
        latents = pipe.generate_latents(reference, batches, settings, num_frames=total,
                                        progress=progress is not None)
        colour = None
        for chunk in pipe.iter_decoded(latents, settings.decode_chunk):
            crops = [frame if frame.shape[0] == side else
                     cv2.resize(frame, (side, side), interpolation=cv2.INTER_CUBIC) for frame in to_uint8(chunk)]
            if pasteback and colour is None:    # one colour transform per clip, fitted on its first chunk
                colour = ColourTransform.fit(crops, reference, feathered_mask(side) > 0.5)
            for crop in crops:
                yield paste_back(source.image, crop, crop_tf, colour=colour) if pasteback else crop


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
