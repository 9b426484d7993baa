"""What the tracking stage hands to alignment and rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HEAD_TRACK_SCHEMA = 1


@dataclass(frozen=True)
class FlameParams:
    """Typed view of a "flame"-geometry track's parameters (shapes as HeadTrack documents)."""

    shape: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    global_rot: np.ndarray
    neck: np.ndarray
    eyes: np.ndarray
    cam: np.ndarray
    tex: np.ndarray | None = None       # texture code, when an encoder estimated it
    light: np.ndarray | None = None     # SH light (9, 3), likewise


@dataclass(frozen=True)
class MeshParams:
    """Typed view of a "mesh"-geometry track's parameters."""

    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray
    canonical: np.ndarray


_VIEWS = {"flame": FlameParams, "mesh": MeshParams}


@dataclass
class HeadTrack:
    """Per-frame head parameters from one tracker backend, in the crop frame of the video.

    geometry "flame": params holds
        shape (n_shape,)  expression (T, n_exp)  jaw (T, 3)  global_rot (T, 3)  neck (T, 3)
        eyes (T, 6)  cam (T, 3) weak-perspective [scale, tx, ty]  (axis-angle rotations, radians)
        A posed FLAME point (X, Y, Z) (metres, y up) lands on crop pixel
        u = (scale * (X + tx) + 1) * crop_size / 2,  v = (-scale * (Y + ty) + 1) * crop_size / 2
        (DECA's camera, with the crop in place of DECA's 224 image; pixel coordinates as in
        FaceTrack.landmarks_in_crop). The tracker keeps neck and eyes at zero.
    geometry "mesh" (MediaPipe face mesh, relative motion only): params holds
        rotation (T, 3) axis-angle  translation (T, 3)  scale (T,)  canonical (T, 478, 3)
        pose-free landmarks, so that crop landmarks = scale * R @ canonical + translation, with
        crop landmarks as FaceTrack.landmarks_in_crop gives them (x right, y down, z away from the
        camera, pixels) and canonical in MediaPipe's canonical-face units (cm) on the same axes;
        R is the identity for a frontal face (exactly so for each frame's own pose; the stored pose
        is smoothed over time, tracking.mesh.pose_sigma, and the canonical is not, so the identity
        holds up to what that smoothing removed). Triangles: reenact.faces.topology.face_triangles.

    Either geometry may also hold shot (T,) int32: the shot of each frame, a cut in the picture
    starting the next (faces/shots.py); alignment measures each shot from its own reference.
    Both trackers keep in_picture (T,), the share of the face each frame shows; the mesh tracker
    also jaw_open (T,), MediaPipe's jawOpen score: alignment takes its reference where both allow.

    residuals: per frame, RMS distance in crop pixels between the fitted and the observed
    landmarks (flame), or of MediaPipe's rigid reference points from the posed canonical face (mesh).
    """

    backend: str
    params: dict[str, np.ndarray]
    fps: float
    image_size: tuple[int, int]         # (height, width) of the original frames
    crop_size: int
    crop_transforms: np.ndarray         # (T, 2, 3) frame pixels -> crop pixels
    residuals: np.ndarray               # (T,) RMS landmark residual per frame, crop pixels
    meta: dict[str, str] = field(default_factory=dict)
    # the parameter family ("flame" or "mesh", documented above) that alignment and rendering
    # read; a new tracker backend produces one of them, so `geometry` defaults to `backend`
    geometry: str = ""

    def __post_init__(self) -> None:
        self.geometry = self.geometry or self.backend

    def __len__(self) -> int:
        return int(self.crop_transforms.shape[0])

    def typed(self) -> FlameParams | MeshParams:
        """The parameters as the typed view of this track's geometry; a missing one is an InputError."""
        from dataclasses import MISSING, fields

        from ..errors import InputError

        view = _VIEWS.get(self.geometry)
        if view is None:
            raise InputError(f"unknown track geometry {self.geometry!r}")
        values = {}
        for f in fields(view):
            if f.name in self.params:
                values[f.name] = self.params[f.name]
            elif f.default is MISSING:
                raise InputError(f"{self.backend} track lacks its {f.name!r} parameters; re-run `reenact track`")
        return view(**values)

    def save(self, path: str | Path) -> None:
        arrays = {f"param_{k}": np.asarray(v) for k, v in self.params.items()}
        meta = {f"meta_{k}": np.asarray(str(v)) for k, v in self.meta.items()}
        np.savez_compressed(
            path, kind="head_track", schema=HEAD_TRACK_SCHEMA, backend=self.backend, geometry=self.geometry,
            fps=self.fps,
            image_size=np.asarray(self.image_size), crop_size=self.crop_size,
            crop_transforms=self.crop_transforms, residuals=self.residuals, **arrays, **meta,
        )

    @classmethod
    def load(cls, path: str | Path) -> "HeadTrack":
        from ..errors import InputError

        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read track file {path}: {exc}") from None
        with z:
            if str(z.get("kind", "")) != "head_track":
                raise InputError(f"{path} is not a reenact head-track file")
            if int(z["schema"]) != HEAD_TRACK_SCHEMA:
                raise InputError(f"{path} has track schema {int(z['schema'])}; this reenact reads {HEAD_TRACK_SCHEMA}."
                                 " Re-run `reenact track`.")
            return cls(
                backend=str(z["backend"]),
                params={k[6:]: z[k] for k in z.files if k.startswith("param_")},
                fps=float(z["fps"]),
                image_size=tuple(int(v) for v in z["image_size"]),
                crop_size=int(z["crop_size"]),
                crop_transforms=z["crop_transforms"],
                residuals=z["residuals"],
                meta={k[5:]: str(z[k]) for k in z.files if k.startswith("meta_")},
                geometry=str(z["geometry"]) if "geometry" in z.files else "",
            )
