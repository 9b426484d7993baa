"""The FLAME head model: file loading, validation and the batched forward pass (smplx's LBS).

Conventions (FLAME / DECA): metres; x to the subject's left (image right), y up, z toward the
camera. Joints 0 root (global), 1 neck, 2 jaw, 3 left eye, 4 right eye; the full pose vector is
[global | neck | jaw | left eye | right eye], axis-angle, 15 values. `shapedirs` is 400 wide:
columns 0-299 identity, 300-399 expression; a model keeps the first `n_shape` identity and the
first `n_expression` expression columns.

Eyelids: FLAME's own files (2020, 2023, 2023 Open) carry no eyelid blendshapes; FLAME 2023's
revised eye region closes the eyes through the expression basis. The eyelid blendshapes in use
are two extra rest-pose vertex offsets, metrical-tracker's `l_eyelid.npy` / `r_eyelid.npy` (each
(5023, 3), FLAME 2020 topology), which SMIRK ships and drives with its two eyelid parameters
[left, right]. When the user has them, `FlameData.eyelids` holds them and the model takes an
`eyelids` (B, 2) input. metrical-tracker and SMIRK add the offsets after skinning (unrotated);
here they are added before it, like every other blendshape, so they turn with the head. The
eyelid values are only reported, never rendered (the official routing drops them), so the
convention matters to the landmark fit alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import lbs

from ..errors import AssetError
from .pickle_safe import load_pickle

N_IDENTITY = 300
N_EXPRESSION = 100
N_JOINTS = 5
ROOT_PARENT_UINT32 = 4294967295


@dataclass
class FlameData:
    """The arrays of a FLAME file, validated and cast (float32 geometry, int64 indices)."""

    v_template: np.ndarray   # (V, 3)
    shapedirs: np.ndarray    # (V, 3, 400)
    posedirs: np.ndarray     # (V, 3, 36)
    j_regressor: np.ndarray  # (5, V) dense
    parents: np.ndarray      # (5,) with parents[0] = -1
    weights: np.ndarray      # (V, 5)
    faces: np.ndarray        # (F, 3)
    source: str = ""
    eyelids: np.ndarray | None = None  # (V, 3, 2) left, right eyelid-closure offsets, when the user has them

    @property
    def n_eyelids(self) -> int:
        return 0 if self.eyelids is None else int(self.eyelids.shape[2])

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def restricted_to(self, vertex_ids: np.ndarray) -> "FlameData":
        """The vertices `vertex_ids` plus the 5 joints as pseudo-vertices, with a regressor that picks them.

        Joints are linear in the blend-shape coefficients (J = R v_template + (R shapedirs) betas),
        so carrying them as extra vertices with template R v_template and blend shapes R shapedirs
        reproduces the full model's joints exactly; LBS then poses only the chosen vertices.
        """
        ids = np.asarray(vertex_ids, np.int64)
        n, nj = len(ids), N_JOINTS
        regressor = np.zeros((nj, n + nj), np.float32)
        regressor[:, n:] = np.eye(nj, dtype=np.float32)
        return FlameData(
            v_template=np.concatenate([self.v_template[ids], self.j_regressor @ self.v_template]),
            shapedirs=np.concatenate([self.shapedirs[ids], np.einsum("jv,vkl->jkl", self.j_regressor, self.shapedirs)]),
            posedirs=np.concatenate([self.posedirs[ids], np.zeros((nj, 3, 36), np.float32)]),
            j_regressor=regressor,
            parents=self.parents,
            weights=np.concatenate([self.weights[ids], np.zeros((nj, nj), np.float32)]),
            faces=np.zeros((0, 3), np.int64),
            source=f"{self.source} (subset of {n} vertices)",
            eyelids=None if self.eyelids is None else np.concatenate(
                [self.eyelids[ids], np.einsum("jv,vkl->jkl", self.j_regressor, self.eyelids)]),
        )

    def blend_dirs(self, n_shape: int, n_expression: int) -> np.ndarray:
        """(V, 3, n_shape + n_expression [+ 2]) the linear blendshape columns a model of that size
        uses: the first identity and expression ones, then the eyelid ones when present."""
        return np.concatenate([self.shapedirs[:, :, :n_shape], self.shapedirs[:, :, N_IDENTITY:N_IDENTITY + n_expression],
                               *([self.eyelids] if self.eyelids is not None else [])], axis=2)

    def with_eyelids(self, left: np.ndarray, right: np.ndarray, where: str = "") -> "FlameData":
        """This model with the two eyelid blendshapes (each (V, 3) rest-pose offsets) added."""
        from dataclasses import replace

        for name, arr in (("left", left), ("right", right)):
            if arr.shape != self.v_template.shape or not np.isfinite(arr).all():
                raise AssetError(f"{where or 'eyelid blendshape'}: the {name} eyelid has shape {arr.shape}, the model "
                                 f"{self.source} has {self.n_vertices} vertices; use the eyelid files made for this "
                                 "FLAME topology or remove them")
        return replace(self, eyelids=np.stack([left, right], axis=2).astype(np.float32))


def _dense(value: object) -> np.ndarray:
    return np.asarray(value.toarray() if hasattr(value, "toarray") else value)


def flame_data_from_dict(raw: dict, source: str = "") -> FlameData:
    """Validate a loaded FLAME dict (any field may have been chumpy or sparse) and cast it."""
    where = source or "FLAME file"
    needed = ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f")
    if not isinstance(raw, dict):
        raise AssetError(f"{where} does not hold a FLAME dictionary (got {type(raw).__name__})")
    missing = [k for k in needed if k not in raw]
    if missing:
        raise AssetError(f"{where} lacks FLAME fields {missing}; is it really a FLAME model pickle?")
    v_template = _dense(raw["v_template"]).astype(np.float32)
    n_v = v_template.shape[0]
    shapedirs = _dense(raw["shapedirs"]).astype(np.float32)
    posedirs = _dense(raw["posedirs"]).astype(np.float32)
    j_regressor = _dense(raw["J_regressor"]).astype(np.float32)
    kintree = _dense(raw["kintree_table"]).astype(np.int64)
    weights = _dense(raw["weights"]).astype(np.float32)
    faces = _dense(raw["f"]).astype(np.int64)

    def check(cond: bool, what: str) -> None:
        if not cond:
            raise AssetError(f"{where}: {what}; the file is not a FLAME 2020/2023 model or is damaged")

    check(v_template.ndim == 2 and v_template.shape[1] == 3, f"v_template has shape {v_template.shape}")
    check(shapedirs.shape == (n_v, 3, N_IDENTITY + N_EXPRESSION),
          f"shapedirs has shape {shapedirs.shape}, expected ({n_v}, 3, 400) = 300 identity + 100 expression")
    check(posedirs.shape == (n_v, 3, 9 * (N_JOINTS - 1)), f"posedirs has shape {posedirs.shape}")
    check(j_regressor.shape == (N_JOINTS, n_v), f"J_regressor has shape {j_regressor.shape}")
    check(kintree.shape == (2, N_JOINTS), f"kintree_table has shape {kintree.shape}")
    check(weights.shape == (n_v, N_JOINTS), f"weights has shape {weights.shape}")
    check(faces.ndim == 2 and faces.shape[1] == 3 and (faces.size == 0 or (faces.min() >= 0 and faces.max() < n_v)),
          "f is not a triangle list")
    parents = kintree[0].copy()
    parents[0] = -1  # stored as uint32 -1
    check(bool(np.all(parents[1:] >= 0) and np.all(parents[1:] < np.arange(1, N_JOINTS))), f"bad kinematic tree {parents}")
    for name, arr in (("v_template", v_template), ("shapedirs", shapedirs), ("posedirs", posedirs), ("weights", weights)):
        check(bool(np.isfinite(arr).all()), f"{name} contains NaN or inf")
    return FlameData(v_template, shapedirs, posedirs, j_regressor, parents, weights, faces, source=str(source))


def load_flame_data(path: str | Path) -> FlameData:
    """Read a FLAME 2020 / 2023 / 2023 Open pickle (chumpy or not) without chumpy."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"FLAME model not found: {path}. Download FLAME from https://flame.is.tue.mpg.de "
                         "and put generic_model.pkl into flame_assets/ (see flame_assets/README.md)")
    return flame_data_from_dict(load_pickle(path), source=str(path))


@dataclass
class FlameOutput:
    vertices: torch.Tensor  # (B, V, 3)
    joints: torch.Tensor    # (B, 5, 3) posed joints


class FlameModel(torch.nn.Module):
    """Batched FLAME forward pass. Parameters are (B, n) float32 tensors; missing ones are zero."""

    def __init__(self, data: FlameData, n_shape: int = 100, n_expression: int = 50) -> None:
        super().__init__()
        if not 0 < n_shape <= N_IDENTITY:
            raise AssetError(f"n_shape must be in 1..{N_IDENTITY}, got {n_shape}")
        if not 0 < n_expression <= N_EXPRESSION:
            raise AssetError(f"n_expression must be in 1..{N_EXPRESSION}, got {n_expression}")
        self.n_shape, self.n_expression = n_shape, n_expression
        self.data = data
        self.n_output_vertices = data.n_vertices
        self.n_eyelids = data.n_eyelids
        # eyelid blendshapes, when present, are two more linear columns after the expression ones
        dirs = data.blend_dirs(n_shape, n_expression)
        self.register_buffer("v_template", torch.from_numpy(data.v_template.copy()))
        self.register_buffer("shapedirs", torch.from_numpy(np.ascontiguousarray(dirs)))
        # smplx wants (36, V*3), vertex-major: v0x v0y v0z v1x ...
        self.register_buffer("posedirs", torch.from_numpy(np.ascontiguousarray(data.posedirs.reshape(-1, 36).T)))
        self.register_buffer("j_regressor", torch.from_numpy(data.j_regressor.copy()))
        self.register_buffer("parents", torch.from_numpy(data.parents.copy()))
        self.register_buffer("lbs_weights", torch.from_numpy(data.weights.copy()))
        self.register_buffer("faces", torch.from_numpy(data.faces.copy()))

    def forward(self, shape: torch.Tensor | None = None, expression: torch.Tensor | None = None,
                global_rot: torch.Tensor | None = None, neck: torch.Tensor | None = None,
                jaw: torch.Tensor | None = None, eyes: torch.Tensor | None = None,
                eyelids: torch.Tensor | None = None) -> FlameOutput:
        """eyelids (B, 2) [left, right] closure, used only by a model with eyelid blendshapes."""
        given = [t for t in (shape, expression, global_rot, neck, jaw, eyes, eyelids) if t is not None]
        batch = max([t.shape[0] for t in given], default=1)
        ref = self.v_template

        def part(t: torch.Tensor | None, n: int) -> torch.Tensor:
            if t is None:
                return ref.new_zeros(batch, n)
            return t.to(ref).expand(batch, n) if t.shape[0] == 1 else t.to(ref)

        betas = torch.cat([part(shape, self.n_shape), part(expression, self.n_expression),
                           *([part(eyelids, self.n_eyelids)] if self.n_eyelids else [])], dim=1)
        pose = torch.cat([part(global_rot, 3), part(neck, 3), part(jaw, 3), part(eyes, 6)], dim=1)
        vertices, joints = lbs(betas, pose, self.v_template, self.shapedirs, self.posedirs,
                               self.j_regressor, self.parents, self.lbs_weights)
        return FlameOutput(vertices[:, : self.n_output_vertices], joints)

    def restricted_to(self, vertex_ids: np.ndarray) -> "FlameModel":
        """A model that poses only `vertex_ids` (in that order) but regresses the same joints.

        Used by the tracker: landmarks need a few hundred vertices, not thousands. Its forward()
        returns exactly `vertices[:, vertex_ids]` of this model (see `FlameData.restricted_to`).
        """
        sub = FlameModel(self.data.restricted_to(vertex_ids), self.n_shape, self.n_expression)
        sub.n_output_vertices = len(vertex_ids)
        return sub.to(self.v_template.device)


def load_flame_model(path: str | Path, n_shape: int = 100, n_expression: int = 50) -> FlameModel:
    return FlameModel(load_flame_data(path), n_shape=n_shape, n_expression=n_expression)
