"""Parametric alignment (source shape, driving motion) and the tracks -> guidance-maps stage."""

from .align import AlignedFlame, AlignedMesh, AlignOptions, align
from .guidance import FlameTopology, flame_guidance, guidance_from_config, guidance_from_tracks, mesh_guidance

__all__ = ["AlignOptions", "AlignedFlame", "AlignedMesh", "FlameTopology", "align", "flame_guidance",
           "guidance_from_config", "guidance_from_tracks", "mesh_guidance"]
