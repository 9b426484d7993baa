"""Rasterisation and the depth / normal / render guidance maps."""

from .albedo import CONSTANT_ALBEDO, Albedo, flame_albedo, read_obj_uvs, uv_grid_corners
from .camera import flame_screen, weak_perspective
from .fragments import Fragments
from .maps import MAP_NAMES, GuidanceFrames, render_guidance
from .mesh import interpolate_corner_attributes, interpolate_vertex_attributes, vertex_normals
from .rasterizer import available_backends, get_rasterizer, rasterize
from .shading import DEFAULT_LIGHT, SH_CONSTANTS, sh_shading
from .write import GuidanceWriter, iter_preview_frames, preview_frame, read_guidance, write_guidance

__all__ = [
    "Albedo", "CONSTANT_ALBEDO", "DEFAULT_LIGHT", "Fragments", "GuidanceFrames", "GuidanceWriter", "MAP_NAMES",
    "SH_CONSTANTS", "available_backends", "flame_albedo", "flame_screen", "get_rasterizer",
    "interpolate_corner_attributes", "interpolate_vertex_attributes", "iter_preview_frames", "preview_frame",
    "rasterize", "read_guidance", "read_obj_uvs", "render_guidance", "sh_shading", "uv_grid_corners",
    "vertex_normals", "weak_perspective", "write_guidance",
]
