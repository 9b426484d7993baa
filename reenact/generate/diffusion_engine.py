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

from ..config import cache_dir, resolve_path
from .pasteback import ColourTransform, feathered_mask, paste_back

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
        self._pipe = None

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

    def pipeline(self):
        """The loaded pipeline, loaded on first use and kept: weights are read once per generator."""
        if self._pipe is None:
            from .diffusion import GenerationSettings, load_pipeline

            d = self.cfg.generate.diffusion
            settings = GenerationSettings.from_config(d)
            self._pipe = load_pipeline(resolve_path(self.cfg.paths.weights_dir), device=d.device,
                                       dtype=settings.dtype, cache_dir=cache_dir(self.cfg))
        return self._pipe

    def frames(self, source, aligned, pasteback: bool, progress=None):
        from ..faces.crop import warp_to_crop
        from .diffusion import GenerationSettings
        from .diffusion.pipeline import to_uint8

        settings = GenerationSettings.from_config(self.cfg.generate.diffusion)
        crop_tf = source.head.crop_transforms[0]
        side = source.head.crop_size
        reference = warp_to_crop(source.image, crop_tf, side)
        pipe = self.pipeline()
        total, batches = self.renderer(source.head.geometry).batches(source.head, aligned)
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
