"""Albedo for the render map: the FLAME texture space (when the user has it) or a constant."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import AssetError, InputError

# Used without FLAME_texture.npz: a mid skin tone (linear RGB in [0, 1]). It is a choice, not a
# measurement of the FLAME mean texture; the output metadata records which albedo was used.
CONSTANT_ALBEDO = (0.7, 0.55, 0.45)
OFFICIAL_ALBEDO_SIZE = 256      # the official tool samples a 256x256 albedo (nearest from 512)
OFFICIAL_TEX_COMPONENTS = 50


@dataclass
class Albedo:
    """What the render map is coloured with.

    texture: (3, h, w) RGB float sampled with `grid_sample` at interpolated UVs, or None for a
    constant colour. `source` goes into the output metadata.
    """

    texture: torch.Tensor | None
    constant: tuple[float, float, float]
    source: str

    @classmethod
    def constant_colour(cls, rgb=CONSTANT_ALBEDO) -> "Albedo":
        rgb = tuple(float(v) for v in rgb)
        if len(rgb) != 3:
            raise InputError(f"constant albedo needs 3 values (R, G, B), got {len(rgb)}")
        return cls(None, rgb, f"constant {rgb[0]:g},{rgb[1]:g},{rgb[2]:g}")


def load_flame_texture_space(path: str | Path, n_components: int = OFFICIAL_TEX_COMPONENTS):
    """(mean (M,), basis (M, n)) float32 in [0, 1] scale from FLAME_texture.npz (flame-assets.md §4).

    `mean` is (N, N, 3) and `tex_dir` (N, N, 3, K) in 0..255, BGR; both are flattened in C
    order, divided by 255 in their stored precision, then cast to float32, as the official
    loader does. Only the first `n_components` columns are kept.
    """
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"FLAME texture space not found: {path} (download FLAME_texture.npz from the FLAME site)")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "mean" not in z.files or "tex_dir" not in z.files:
                raise AssetError(f"{path} has no 'mean'/'tex_dir' arrays; is it FLAME_texture.npz?")
            mean, tex_dir = z["mean"], z["tex_dir"]
    except (OSError, ValueError) as exc:
        raise AssetError(f"cannot read {path}: {exc}") from None
    if mean.ndim != 3 or mean.shape[0] != mean.shape[1] or mean.shape[2] != 3:
        raise AssetError(f"{path}: 'mean' should be (N, N, 3), got {mean.shape}")
    if tex_dir.shape[:3] != mean.shape or tex_dir.ndim != 4 or tex_dir.shape[3] < n_components:
        raise AssetError(f"{path}: 'tex_dir' should be {mean.shape + (f'>={n_components}',)}, got {tex_dir.shape}")
    mean = (mean.reshape(-1) / 255.0).astype(np.float32)
    basis = (tex_dir.reshape(-1, tex_dir.shape[3])[:, :n_components] / 255.0).astype(np.float32)
    return torch.from_numpy(mean), torch.from_numpy(basis), int(tex_dir.shape[0])


def flame_albedo(path: str | Path, texcode, size: int = OFFICIAL_ALBEDO_SIZE) -> Albedo:
    """The source's albedo map as the official tool builds it (guidance-maps.md §5.4).

    mean + basis[:, :n] @ texcode, reshaped (N, N, 3) to channels-first, nearest-resized to
    `size` (F.interpolate's default mode), BGR -> RGB, not clamped.
    """
    code = torch.as_tensor(np.asarray(texcode, dtype=np.float32)).reshape(-1)
    mean, basis, side = load_flame_texture_space(path, n_components=code.numel())
    texture = (mean + basis @ code).reshape(1, side, side, 3).permute(0, 3, 1, 2)
    texture = F.interpolate(texture, [size, size])[0, [2, 1, 0]]
    return Albedo(texture.contiguous(), CONSTANT_ALBEDO, f"flame_texture {Path(path).name} ({code.numel()} components)")


def read_obj_uvs(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangles, UV triangles and UVs of an OBJ with `f v/vt ...` faces (DECA's head_template.obj).

    Returns faces (F, 3) and uv_faces (F, 3) as 0-based int64, uvs (T, 2) float32.
    """
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"mesh template not found: {path}")
    uvs, faces, uv_faces = [], [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "vt":
                uvs.append((float(parts[1]), float(parts[2])))
            elif parts[0] == "f":
                if len(parts) != 4:
                    raise AssetError(f"{path}: only triangles are supported, found a {len(parts) - 1}-gon")
                corners = [p.split("/") for p in parts[1:]]
                if any(len(c) < 2 or not c[1] for c in corners):
                    raise AssetError(f"{path}: faces need v/vt indices for texturing")
                faces.append([int(c[0]) - 1 for c in corners])
                uv_faces.append([int(c[1]) - 1 for c in corners])
    if not faces or not uvs:
        raise AssetError(f"{path} has no textured triangles")
    return np.asarray(faces, np.int64), np.asarray(uv_faces, np.int64), np.asarray(uvs, np.float32)


def uv_grid_corners(uvs: np.ndarray | torch.Tensor, uv_faces: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(F, 3, 2) grid_sample coordinates per triangle corner: (2u - 1, 1 - 2v) (OBJ v=1 is the top row)."""
    uvs = torch.as_tensor(np.asarray(uvs), dtype=torch.float32)
    grid = torch.stack([uvs[:, 0] * 2 - 1, 1 - uvs[:, 1] * 2], -1)
    return grid[torch.as_tensor(np.asarray(uv_faces), dtype=torch.int64)]


@dataclass
class RenderLook:
    """What colours the render map: the albedo, the SH light (None: shading.DEFAULT_LIGHT) and a
    one-line description for guidance.json."""

    albedo: Albedo
    light: np.ndarray | None
    description: str


def choose_render_look(tex, light, texture_path: str | Path | None, has_uvs: bool, constant=None) -> RenderLook:
    """The three asset situations (issue 12):

    * DECA's texture code and SH light with FLAME_texture.npz (and UVs): the official render map,
      FLAME texture mean + basis @ code, lit by the source's light;
    * FLAME_texture.npz without a texture code: the texture mean, lit by the fixed
      shading.DEFAULT_LIGHT (documented in docs/guidance.md);
    * no texture space (or no UVs): the constant albedo, lit by the source's light when DECA gave
      one, else by DEFAULT_LIGHT.
    """
    fallback = Albedo.constant_colour() if constant is None else Albedo.constant_colour(constant)
    texture_ok = texture_path is not None and Path(texture_path).is_file() and has_uvs
    light = None if light is None else np.asarray(light, np.float32).reshape(9, 3)
    if texture_ok and tex is not None:
        return RenderLook(flame_albedo(texture_path, tex), light,
                          "flame texture with the source's DECA texture code, source DECA light"
                          if light is not None else "flame texture with the source's texture code, fixed light")
    if texture_ok:
        zero = np.zeros(OFFICIAL_TEX_COMPONENTS, np.float32)
        albedo = flame_albedo(texture_path, zero)
        albedo.source = f"flame_texture_mean {Path(texture_path).name}"
        return RenderLook(albedo, None, "flame texture mean, fixed light")
    if light is not None:
        return RenderLook(fallback, light, "constant albedo, source DECA light")
    return RenderLook(fallback, None, "constant albedo, fixed light")
