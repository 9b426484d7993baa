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


def guidance_from_config(cfg, source: HeadTrack, driving: HeadTrack, *, flame: FlameFn | None = None,
                         flame_faces=None, canvas_from_frame=None,
                         device: str | torch.device = "cpu") -> tuple[int, Iterator[GuidanceFrames]]:
    """guidance_from_tracks with the `render:` and `align:` sections of the config.

    FLAME triangles and UVs come from `render.head_template` when that file exists; otherwise
    from `flame_faces` (the FLAME model's own `f`), without UVs, hence with the constant albedo.
    """
    from ..config import resolve_path

    topology = None
    if source.backend == "flame":
        template = resolve_path(cfg.render.head_template)
        if template.is_file():
            topology = FlameTopology.from_obj(template)
        elif flame_faces is not None:
            topology = FlameTopology(torch.as_tensor(np.asarray(flame_faces, dtype=np.int64)))
    return guidance_from_tracks(
        source, driving, options=AlignOptions.from_config(cfg.align), flame=flame, topology=topology,
        texture_path=resolve_path(cfg.render.flame_texture), constant_albedo=list(cfg.render.constant_albedo),
        size=int(cfg.render.size), canvas_from_frame=canvas_from_frame, batch_size=int(cfg.render.batch_size),
        backend=str(cfg.render.backend), device=device, threads=int(cfg.render.get("cpu_threads", 1)))
