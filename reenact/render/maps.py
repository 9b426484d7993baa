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
from .shading import DEFAULT_LIGHT, scaled_light, sh_basis

MAP_NAMES = ("depth", "normal", "render")


@dataclass
class GuidanceFrames:
    """A batch of guidance maps before quantisation, kept sparse: values at covered pixels only.

    pixel (N,) flat indices `b*H*W + row*W + col`; values (N, 7) = depth in [0, 1], the raw
    interpolated normal (negative components included; they are clipped only when written)
    and the unclamped shaded albedo. Background is 0 in all maps. Dense (B, H, W[, 3]) views:
    `depth`, `normal`, `render`, `mask`; `to_uint8` gives what the official files hold.
    """

    pixel: torch.Tensor
    values: torch.Tensor
    batch_size: int
    image_size: tuple[int, int]
    meta: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.batch_size

    @classmethod
    def from_dense(cls, depth: torch.Tensor, normal: torch.Tensor, render: torch.Tensor, mask: torch.Tensor,
                   meta: dict | None = None) -> "GuidanceFrames":
        """From (B, H, W), (B, H, W, 3), (B, H, W, 3) maps and their (B, H, W) coverage."""
        b, h, w = depth.shape
        pixel = mask.reshape(-1).nonzero().squeeze(1)
        values = torch.cat([depth.reshape(-1, 1), normal.reshape(-1, 3), render.reshape(-1, 3)], 1)[pixel]
        return cls(pixel, values, b, (h, w), dict(meta or {}))

    def _dense(self, columns: slice, fill: float = 0.0) -> torch.Tensor:
        h, w = self.image_size
        out = self.values.new_full((self.batch_size * h * w, columns.stop - columns.start), fill)
        out[self.pixel] = self.values[:, columns]
        return out.view(self.batch_size, h, w, -1)

    @property
    def depth(self) -> torch.Tensor:
        return self._dense(slice(0, 1))[..., 0]

    @property
    def normal(self) -> torch.Tensor:
        return self._dense(slice(1, 4))

    @property
    def render(self) -> torch.Tensor:
        return self._dense(slice(4, 7))

    @property
    def mask(self) -> torch.Tensor:
        h, w = self.image_size
        out = torch.zeros(self.batch_size * h * w, dtype=torch.bool, device=self.pixel.device)
        out[self.pixel] = True
        return out.view(self.batch_size, h, w)

    def to_uint8(self) -> dict[str, np.ndarray]:
        """{'depth'|'normal'|'render': (B, H, W, 3) uint8} as torchvision's save_image writes them.

        save_image computes floor(clamp(255 x + 0.5, 0, 255)) in float32; the background (0)
        stays 0; depth becomes three equal channels.
        """
        h, w = self.image_size
        # NaN is set to 0 after the clamp (clamp keeps NaN): the same bytes as zeroing it first.
        q = self.values.detach().to("cpu", torch.float32).mul(255).add_(0.5).clamp_(0, 255).nan_to_num_(0.0)
        q = q.to(torch.uint8)
        pixel = self.pixel.cpu()
        out = {}
        for name, (first, last) in (("depth", (0, 1)), ("normal", (1, 4)), ("render", (4, 7))):
            part = q[:, first:last]
            image = torch.zeros((self.batch_size * h * w, 3), dtype=torch.uint8)
            image.index_copy_(0, pixel, part.expand(-1, 3) if name == "depth" else part)  # torch's scatter: ~2x numpy's
            out[name] = image.view(self.batch_size, h, w, 3).numpy()
        return out


def _broadcast_light(light, batch: int, device, dtype) -> torch.Tensor:
    if not isinstance(light, torch.Tensor):
        light = torch.as_tensor(np.asarray(DEFAULT_LIGHT if light is None else light, dtype=np.float64))
    light = light.to(device=device, dtype=dtype)
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
    shading = _sh_per_sample(normal, light, fragments)
    if albedo.texture is not None:
        if uv_corners is None:
            raise ValueError("a texture albedo needs per-corner UVs")
        grid = interpolate_corner_attributes(fragments, uv_corners.to(device=device, dtype=dtype))
        tex = albedo.texture.to(device=device, dtype=dtype).unsqueeze(0)
        colour = F.grid_sample(tex, grid.view(1, 1, -1, 2), mode="bilinear", padding_mode="zeros",
                               align_corners=False)[0, :, 0].T
        render = colour * shading
    else:
        render = shading * torch.tensor(albedo.constant, dtype=dtype, device=device)

    return GuidanceFrames(fragments.pixel, torch.cat([depth.unsqueeze(1), normal, render], 1), batch,
                          fragments.image_size, {"albedo": albedo.source, "light": light_source})


def _sh_per_sample(normal: torch.Tensor, light: torch.Tensor, fragments: Fragments) -> torch.Tensor:
    """SH shading with each sample's own light; pixels are sorted by sample, so one matmul each."""
    basis = sh_basis(normal, scaled=False)
    light = scaled_light(light)
    if bool((light == light[:1]).all()):
        return basis @ light[0]
    counts = torch.bincount(fragments.batch_index, minlength=light.shape[0]).tolist()
    parts = [part @ light[b] for b, part in enumerate(torch.split(basis, counts))]
    return torch.cat(parts) if parts else basis.new_zeros(0, 3)


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
