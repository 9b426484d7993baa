"""Source + driving tracks -> guidance maps, batch by batch (alignment, posing, projection, maps)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from ..errors import InputError
from ..render.albedo import Albedo, RenderLook, choose_render_look, read_obj_uvs, uv_grid_corners
from ..render.camera import canvas_transform, flame_screen, in_plane_rotation, rotate_view
from ..render.maps import GuidanceFrames, render_guidance
from ..threads import torch_threads
from ..tracking.types import HeadTrack
from .align import AlignedFlame, AlignedMesh, AlignOptions, align
from .face_mesh import mediapipe_triangles

# A FLAME forward pass: shape (B, n_shape), expression (B, n_exp), pose (B, 15) as
# [global | neck | jaw | left eye | right eye] axis-angle -> posed vertices (B, V, 3) in
# FLAME model space (x right, y up, z toward the camera).
FlameFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class FlameTopology:
    """Triangles (F, 3) of the FLAME mesh and, for texturing, grid_sample UVs per corner (F, 3, 2)."""

    faces: torch.Tensor
    uv_corners: torch.Tensor | None = None

    @classmethod
    def from_obj(cls, path: str | Path) -> "FlameTopology":
        """From DECA's head_template.obj (5023 v, 5118 vt, 9976 `v/vt` faces)."""
        faces, uv_faces, uvs = read_obj_uvs(path)
        return cls(torch.from_numpy(faces), uv_grid_corners(uvs, uv_faces))


def choose_look(aligned: AlignedFlame | AlignedMesh, topology: FlameTopology | None = None,
                texture_path: str | Path | None = None, constant=None) -> RenderLook:
    """Albedo and light of the render map for these tracks (render/albedo.py: choose_render_look)."""
    if not isinstance(aligned, AlignedFlame):
        return choose_render_look(None, None, None, False, constant)
    has_uvs = topology is not None and topology.uv_corners is not None
    return choose_render_look(aligned.tex, aligned.light, texture_path, has_uvs, constant)


def _per_frame(m, n: int) -> torch.Tensor | None:
    if m is None:
        return None
    m = torch.as_tensor(np.asarray(m, dtype=np.float64))[..., :2, :]
    return m.expand(n, 2, 3) if m.dim() == 2 else m


def flame_guidance(aligned: AlignedFlame, flame: FlameFn, topology: FlameTopology, *, size: int = 512,
                   canvas_from_frame=None, albedo: Albedo | None = None, batch_size: int = 8,
                   backend: str = "torch", device: str | torch.device = "cpu",
                   look: RenderLook | None = None, threads: int = 1) -> Iterator[GuidanceFrames]:
    """Pose the aligned FLAME parameters and render them, `batch_size` frames at a time.

    canvas_from_frame: (2, 3) or (T, 2, 3) source frame -> output canvas pixels (None: the
    canvas is the source frame itself, as in the official tool where it is the 512 crop).
    threads: torch CPU threads while rendering a batch (0 = torch's setting; see reenact/threads.py).
    """
    n = len(aligned)
    canvas = _per_frame(canvas_from_frame, n)
    faces = topology.faces.to(device)
    if look is not None:
        albedo = look.albedo
        light = None if look.light is None else torch.as_tensor(look.light, dtype=torch.float32)
    else:
        light = None if aligned.light is None else torch.as_tensor(aligned.light, dtype=torch.float32)
    for start in range(0, n, batch_size):
        with torch_threads(threads if torch.device(device).type == "cpu" else 0):
            frames = _flame_batch(aligned, flame, faces, topology, canvas, start, min(n, start + batch_size),
                                  size, albedo, light, backend, device)
        if look is not None:
            frames.meta["render_look"] = look.description
        yield frames


def _flame_batch(aligned: AlignedFlame, flame: FlameFn, faces, topology: FlameTopology, canvas, start: int,
                 stop: int, size: int, albedo, light, backend: str, device) -> GuidanceFrames:
    """Frames start..stop of `flame_guidance`: pose, project, render."""
    b = stop - start
    with torch.no_grad():
        verts = flame(torch.as_tensor(aligned.shape, dtype=torch.float32, device=device).expand(b, -1),
                      torch.as_tensor(aligned.expression[start:stop], dtype=torch.float32, device=device),
                      torch.as_tensor(aligned.pose[start:stop], dtype=torch.float32, device=device))
    crop = torch.as_tensor(aligned.crop_transform[start:stop], dtype=torch.float64)
    cam = torch.as_tensor(aligned.cam[start:stop], dtype=torch.float32, device=device)
    part = None if canvas is None else canvas[start:stop]
    screen = flame_screen(verts, cam, crop.to(device), aligned.crop_size, None if part is None else part.to(device))
    # World normals, turned by the canvas's in-plane rotation (the identity in the official chain).
    view = rotate_view(verts, in_plane_rotation(canvas_transform(crop, part)).to(device))
    frames = render_guidance(screen, view, faces, image_size=size, albedo=albedo, light=light,
                             uv_corners=topology.uv_corners, backend=backend)
    frames.meta.update(geometry="flame", alignment=aligned.mode)
    return frames


def mesh_guidance(aligned: AlignedMesh, *, size: int = 512, canvas_from_frame=None, albedo: Albedo | None = None,
                  light=None, batch_size: int = 8, backend: str = "torch", device: str | torch.device = "cpu",
                  triangles: np.ndarray | None = None, threads: int = 1) -> Iterator[GuidanceFrames]:
    """Render posed MediaPipe points (crop pixels) with the face-mesh tessellation."""
    n = len(aligned)
    canvas = _per_frame(canvas_from_frame, n)
    faces = torch.tensor(mediapipe_triangles() if triangles is None else triangles, dtype=torch.int64, device=device)
    for start in range(0, n, batch_size):
        with torch_threads(threads if torch.device(device).type == "cpu" else 0):
            frames = _mesh_batch(aligned, faces, canvas, start, min(n, start + batch_size), size, albedo, light,
                                 backend, device)
        yield frames


def _mesh_batch(aligned: AlignedMesh, faces, canvas, start: int, stop: int, size: int, albedo, light,
                backend: str, device) -> GuidanceFrames:
    """Frames start..stop of `mesh_guidance`."""
    pts = torch.as_tensor(aligned.points[start:stop], dtype=torch.float32, device=device)
    crop = torch.as_tensor(aligned.crop_transform[start:stop], dtype=torch.float64)
    m = canvas_transform(crop, None if canvas is None else canvas[start:stop])
    uv = pts[..., :2] @ m[:, :, :2].transpose(1, 2).to(pts) + m[:, None, :, 2].to(pts)
    screen = torch.cat([uv, pts[..., 2:]], -1)
    view = rotate_view(pts * pts.new_tensor([1.0, -1.0, -1.0]), in_plane_rotation(m).to(device))
    frames = render_guidance(screen, view, faces, image_size=size, albedo=albedo, light=light, backend=backend)
    frames.meta.update(geometry="mediapipe_mesh", alignment=aligned.mode)
    return frames


def guidance_from_tracks(source: HeadTrack, driving: HeadTrack, *, options: AlignOptions | None = None,
                         flame: FlameFn | None = None, topology: FlameTopology | None = None,
                         texture_path: str | Path | None = None, constant_albedo=None, size: int = 512,
                         canvas_from_frame=None, batch_size: int = 8, backend: str = "torch",
                         device: str | torch.device = "cpu", threads: int = 1) -> tuple[int, Iterator[GuidanceFrames]]:
    """(frame count, batches of guidance maps) for a source and a driving track.

    FLAME tracks need `flame` (the forward pass) and `topology` (head_template.obj); the
    texture is used when `texture_path` (FLAME_texture.npz) exists and the source track has
    a texture code. Mesh tracks need neither.
    """
    aligned = align(source, driving, options or AlignOptions())
    look = choose_look(aligned, topology, texture_path, constant_albedo)
    if isinstance(aligned, AlignedFlame):
        if flame is None or topology is None:
            raise InputError("FLAME tracks need the FLAME model and head_template.obj to render guidance maps")
        batches = flame_guidance(aligned, flame, topology, size=size, canvas_from_frame=canvas_from_frame,
                                 batch_size=batch_size, backend=backend, device=device, look=look, threads=threads)
    else:
        batches = mesh_guidance(aligned, size=size, canvas_from_frame=canvas_from_frame, albedo=look.albedo,
                                batch_size=batch_size, backend=backend, device=device, threads=threads)
    return len(aligned), batches


@dataclass
class GuidanceRenderer:
    """The one tracks -> aligned parameters -> guidance maps path, with the config's render settings.

    Built once per run (FLAME is loaded once); `batches` gives the maps as arrays, on the source
    crop's canvas (the official tool's 512 source crop). `reenact guidance`, the diffusion engine,
    training-data preparation and the evaluation all render through it; files are written only by
    whoever asks for them (reenact.render.write).
    """

    size: int = 512
    batch_size: int = 8
    backend: str = "torch"
    constant_albedo: tuple[float, ...] | None = None
    texture_path: Path | None = None
    flame: FlameFn | None = None
    topology: FlameTopology | None = None
    device: str | torch.device = "cpu"
    threads: int = 1      # torch CPU threads while rendering (reenact/threads.py)

    @classmethod
    def from_config(cls, cfg, geometry: str, device: str | torch.device = "cpu") -> "GuidanceRenderer":
        """For tracks of `geometry` ("flame" loads the user's FLAME model and DECA's template)."""
        from ..config import resolve_path

        flame = topology = None
        if geometry == "flame":
            flame, topology = flame_forward(cfg)
        render = cfg.render
        return cls(size=int(render.size), batch_size=int(render.batch_size), backend=str(render.backend),
                   constant_albedo=tuple(render.constant_albedo), texture_path=resolve_path(render.flame_texture),
                   flame=flame, topology=topology, device=device, threads=int(render.cpu_threads))

    def canvas(self, source: HeadTrack) -> np.ndarray:
        """Source frame pixels -> canvas pixels: the source's square crop scaled to `size`."""
        return source.crop_transforms[0].astype(np.float64) * (self.size / source.crop_size)

    def batches(self, source: HeadTrack, aligned: AlignedFlame | AlignedMesh) -> tuple[int, Iterator[GuidanceFrames]]:
        """(frame count, batches of maps) for an alignment whose source track is `source`."""
        look = choose_look(aligned, self.topology, self.texture_path, self.constant_albedo)
        common = dict(size=self.size, canvas_from_frame=self.canvas(source), batch_size=self.batch_size,
                      backend=self.backend, device=self.device, threads=self.threads)
        if isinstance(aligned, AlignedFlame):
            if self.flame is None or self.topology is None:
                raise InputError("FLAME tracks need the FLAME model to render guidance maps (see `reenact doctor`)")
            return len(aligned), flame_guidance(aligned, self.flame, self.topology, look=look, **common)
        return len(aligned), mesh_guidance(aligned, albedo=look.albedo, **common)


def flame_forward(cfg) -> tuple[FlameFn, FlameTopology]:
    """The user's FLAME forward pass and the mesh topology the guidance maps are rendered with."""
    import logging

    from ..config import resolve_path
    from ..errors import AssetError
    from ..flame.assets import find_flame_files
    from ..flame.model import FlameModel, load_flame_data

    files = find_flame_files(cfg)
    if files.model is None:
        raise AssetError("FLAME guidance maps need the FLAME model in flame_assets/ (see `reenact doctor`)")
    data = load_flame_data(files.model)
    # issue 12: as many coefficients as the tracks carry (a saved track may differ from the config)
    models: dict[tuple[int, int], FlameModel] = {}
    template = resolve_path(cfg.render.head_template)
    if template.is_file():
        topology = FlameTopology.from_obj(template)
    else:
        # without DECA's head_template.obj there are no texture coordinates: the model's own
        # triangles, and the render map in its constant albedo
        logging.getLogger("reenact").info("no %s: the render map uses a constant albedo", template)
        topology = FlameTopology(torch.as_tensor(np.asarray(data.faces), dtype=torch.int64))

    def flame(shape, expression, pose):
        # pose (B, 15) = [global | neck | jaw | left eye | right eye], FLAME's joint order
        key = (int(shape.shape[-1]), int(expression.shape[-1]))
        if key not in models:
            models[key] = FlameModel(data, *key)
        return models[key](shape=shape, expression=expression, global_rot=pose[:, :3], neck=pose[:, 3:6],
                           jaw=pose[:, 6:9], eyes=pose[:, 9:15]).vertices

    return flame, topology
