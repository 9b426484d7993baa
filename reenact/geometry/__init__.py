"""Parametric alignment (source shape, driving motion) and the tracks -> guidance-maps stage.

`align` needs only numpy and scipy; the guidance maps need torch, imported when first used.
"""

from .align import AlignedFlame, AlignedMesh, AlignOptions, align

_GUIDANCE = ("FlameTopology", "GuidanceRenderer", "flame_forward", "flame_guidance", "guidance_from_tracks",
             "mesh_guidance")

__all__ = ["AlignOptions", "AlignedFlame", "AlignedMesh", "align", *_GUIDANCE]


def __getattr__(name: str):
    if name in _GUIDANCE:
        from . import guidance

        return getattr(guidance, name)
    raise AttributeError(name)
