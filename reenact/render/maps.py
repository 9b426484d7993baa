"""The three guidance maps (depth, normal, render) from screen- and view-space vertices.

Everything follows guidance-maps.md §5.2-§5.4: depth is the per-frame min-max of view z
over all vertices (near = 1), interpolated; normals are area-weighted view-space vertex
normals, interpolated and not re-normalised; render is albedo x SH shading of that normal.
All three are zero where no triangle covers the pixel centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .albedo import Albedo
from .fragments import Fragments
from .mesh import interpolate_corner_attributes, interpolate_vertex_attributes, vertex_normals
from .rasterizer import rasterize
from .shading import DEFAULT_LIGHT, sh_shading

MAP_NAMES = ("depth", "normal", "render")


@dataclass
class GuidanceFrames:
    """A batch of guidance maps, as float tensors before quantisation.

    depth (T, H, W) in [0, 1]; normal (T, H, W, 3) raw interpolated normals (negative
    components included, they are clipped only when written); render (T, H, W, 3) shaded
    albedo, unclamped; mask (T, H, W) coverage. `to_uint8` gives what the official files hold.
    """

    depth: torch.Tensor
    normal: torch.Tensor
    render: torch.Tensor
    mask: torch.Tensor
    meta: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.depth.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.depth.shape[1]), int(self.depth.shape[2])

    def to_uint8(self) -> dict[str, np.ndarray]:
        """{'depth'|'normal'|'render': (T, H, W, 3) uint8} as torchvision's save_image writes them.

        save_image computes floor(clamp(255 x + 0.5, 0, 255)) in float32; depth becomes three
        equal channels.
        """
        out = {}
        for name in MAP_NAMES:
            x = getattr(self, name).detach().to("cpu", torch.float32)
            if name == "depth":
                x = x.unsqueeze(-1).expand(*x.shape, 3)
            x = torch.nan_to_num(x, nan=0.0)
            out[name] = x.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).numpy()
        return out


def _broadcast_light(light, batch: int, device, dtype) -> torch.Tensor:
    light = torch.as_tensor(np.asarray(DEFAULT_LIGHT if light is None else light), dtype=dtype, device=device)
    if light.shape[-2:] != (9, 3):
        raise ValueError(f"SH light must be (9, 3) or (B, 9, 3), got {tuple(light.shape)}")
    return light.expand(batch, 9, 3) if light.dim() == 2 else light


def shade_fragments(fragments: Fragments, faces: torch.Tensor, view_vertices: torch.Tensor, *,
                    albedo: Albedo, light=None, uv_corners: torch.Tensor | None = None) -> GuidanceFrames:
    """Depth, normal and render maps for already rasterised fragments."""
    batch = view_vertices.shape[0]
    dtype, device = view_vertices.dtype, view_vertices.device
    z = view_vertices[..., 2]
    z_min = z.amin(1, keepdim=True)
    z_range = z.amax(1, keepdim=True) - z_min
    # Depth over ALL vertices (hidden ones too), per sample; near (large view z) = 1.
    depth_v = (z - z_min) / torch.where(z_range > 0, z_range, torch.ones_like(z_range))
    normals_v = vertex_normals(view_vertices, faces)
    per_pixel = interpolate_vertex_attributes(fragments, faces, torch.cat([depth_v.unsqueeze(-1), normals_v], -1))
    depth, normal = per_pixel[:, 0], per_pixel[:, 1:]

    light_source = "default" if light is None else "given"
    light = _broadcast_light(light, batch, device, dtype)
    shading = sh_shading(normal, light[fragments.batch_index])
    if albedo.texture is not None:
        if uv_corners is None:
            raise ValueError("a texture albedo needs per-corner UVs")
        grid = interpolate_corner_attributes(fragments, uv_corners.to(device=device, dtype=dtype))
        tex = albedo.texture.to(device=device, dtype=dtype).unsqueeze(0)
        colour = F.grid_sample(tex, grid.view(1, 1, -1, 2), mode="bilinear", padding_mode="zeros",
                               align_corners=False)[0, :, 0].T
    else:
        colour = torch.tensor(albedo.constant, dtype=dtype, device=device).expand(len(depth), 3)
    render = colour * shading

    meta = {"albedo": albedo.source, "light": light_source}
    return GuidanceFrames(
        depth=fragments.to_dense(depth),
        normal=fragments.to_dense(normal),
        render=fragments.to_dense(render),
        mask=fragments.mask,
        meta=meta,
    )


def render_guidance(screen_vertices: torch.Tensor, view_vertices: torch.Tensor, faces: torch.Tensor, *,
                    image_size: int | tuple[int, int] = 512, albedo: Albedo | None = None, light=None,
                    uv_corners: torch.Tensor | None = None, backend: str = "torch") -> GuidanceFrames:
    """Rasterise and shade a batch of posed meshes sharing one triangle list.

    screen_vertices (B, V, 3): output pixels (u, v) and z (smaller nearer), see render.camera.
    view_vertices (B, V, 3): the same vertices in view space (x right, y up, z toward the
    viewer; any scale): normals and depth come from these, as the official tool takes them
    from posed world vertices. light: SH (9, 3) or (B, 9, 3), None for DEFAULT_LIGHT.
    uv_corners (F, 3, 2): grid_sample coordinates per corner, needed with a texture albedo.
    """
    faces = torch.as_tensor(faces, dtype=torch.int64, device=screen_vertices.device)
    albedo = albedo or Albedo.constant_colour()
    fragments = rasterize(screen_vertices, faces, image_size, backend=backend)
    frames = shade_fragments(fragments, faces, view_vertices.to(screen_vertices.device), albedo=albedo,
                             light=light, uv_corners=uv_corners)
    frames.meta["rasterizer"] = backend
    return frames
