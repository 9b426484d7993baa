"""Closed-form FLAME landmarks and their exact Jacobians, for the tracker's Gauss-Newton solver.

With the neck and eyes at rest (the tracker keeps them there), FLAME's LBS (smplx `lbs`, the
reference implementation in reenact.flame.model) reduces for every vertex to

    v = R_g [ v_p - J_0 + w (R_j - I)(v_p - J_2) ] + J_0,     v_p = v_s + P vec(R_j - I)

with v_s = T + S beta + E psi the shaped vertex, J_0 / J_2 the root / jaw joints (linear in
beta, psi), w the vertex's jaw skinning weight, P its jaw pose correctives, R_g the global and
R_j the jaw rotation (FLAME's weights sum to one per vertex). A landmark is a barycentric
combination of three vertices, so all of that collapses into a few small linear maps per
landmark, precomputed once. Evaluating landmarks and their derivatives with respect to every
parameter is then a handful of batched matrix products: far cheaper than autograd through LBS,
which is what makes per-frame Gauss-Newton with exact Jacobians fast on a CPU.

Rotations are updated multiplicatively on the left (R <- exp([d]x) R), so the Jacobian columns
for rotations are derivatives with respect to that left increment d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import AssetError
from ..flame.head import FlameHead, LandmarkSet

REF = 512.0     # pixels of the reference crop the fit works in
T_UNIT = 100.0  # camera offsets are in units of 100 reference pixels
JAW_POSE_COLUMNS = slice(9, 18)  # pose feature block of joint 2 (jaw) in posedirs


def skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    z = torch.zeros_like(v[..., 0])
    return torch.stack([torch.stack([z, -v[..., 2], v[..., 1]], -1),
                        torch.stack([v[..., 2], z, -v[..., 0]], -1),
                        torch.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def so3_exp(v: torch.Tensor) -> torch.Tensor:
    """Rodrigues: (..., 3) axis-angle -> rotation matrices."""
    theta = v.norm(dim=-1, keepdim=True)[..., None]
    k = skew(v)
    small = theta < 1e-8
    safe = torch.where(small, torch.ones_like(theta), theta)
    a = torch.where(small, 1 - theta ** 2 / 6, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - theta ** 2 / 24, (1 - torch.cos(safe)) / safe ** 2)
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand(k.shape)
    return eye + a * k + b * (k @ k)


def so3_log(r: torch.Tensor) -> torch.Tensor:
    """Rotation matrices -> axis-angle (angles below pi)."""
    cos = ((r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1 + 1e-12, 1 - 1e-12)
    theta = torch.acos(cos)
    w = torch.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    scale = torch.where(theta < 1e-6, 0.5 + theta ** 2 / 12, theta / (2 * torch.sin(theta).clamp(min=1e-12)))
    return w * scale[..., None]


def so3_left_jacobian_inverse(phi: torch.Tensor) -> torch.Tensor:
    """d log(exp(d) R) / d d at d = 0, for phi = log(R)."""
    theta = phi.norm(dim=-1, keepdim=True)[..., None]
    k = skew(phi)
    safe = theta.clamp(min=1e-6)
    coef = torch.where(theta < 1e-6, torch.full_like(theta, 1 / 12),
                       1 / safe ** 2 - (1 + torch.cos(safe)) / (2 * safe * torch.sin(safe)))
    eye = torch.eye(3, dtype=phi.dtype, device=phi.device).expand(k.shape)
    return eye - 0.5 * k + coef * (k @ k)


@dataclass
class LandmarkMaps:
    """Per-landmark linear maps (float64), see the module docstring."""

    a_t: torch.Tensor   # (L, 3)       sum_k b_k T
    a_s: torch.Tensor   # (L, 3, S)
    a_e: torch.Tensor   # (L, 3, E)       expression columns, then the eyelid ones when the model has them
    a_p: torch.Tensor   # (L, 3, 9)    jaw pose correctives
    c_t: torch.Tensor   # (L, 3)       sum_k b_k w_k T
    c_s: torch.Tensor
    c_e: torch.Tensor
    c_p: torch.Tensor
    w: torch.Tensor     # (L,)         sum_k b_k w_k (jaw weight at the landmark)
    j0_t: torch.Tensor  # (3,)         root joint
    j0_s: torch.Tensor  # (3, S)
    j0_e: torch.Tensor  # (3, E)
    j2_t: torch.Tensor  # (3,)         jaw joint
    j2_s: torch.Tensor
    j2_e: torch.Tensor

    def __post_init__(self) -> None:
        # d world / d x = [R_g | R_g (R_j - I)] @ stack(A - J0, C - w J2) + J0 for x = shape or expression,
        # the stack laid out (6, L * n) so that one matrix product per frame gives all landmarks.
        w = self.w[:, None, None]
        n_l = len(self.w)

        def stacked(a: torch.Tensor, c: torch.Tensor, j0: torch.Tensor, j2: torch.Tensor) -> torch.Tensor:
            return torch.cat([(a - j0[None]).permute(1, 0, 2).reshape(3, -1),
                              (c - w * j2[None]).permute(1, 0, 2).reshape(3, -1)]).contiguous()

        self.basis_e = stacked(self.a_e, self.c_e, self.j0_e, self.j2_e)          # (6, L * E)
        self.basis_s = stacked(self.a_s, self.c_s, self.j0_s, self.j2_s)          # (6, L * S)
        self.n_landmarks = n_l

    @classmethod
    def build(cls, head: FlameHead, lset: LandmarkSet, device: torch.device) -> "LandmarkMaps":
        data, model = head.model.data, head.model
        ns, ne = model.n_shape, model.n_expression
        tri = data.faces[lset.faces]                                    # (L, 3)
        if np.abs(data.weights[tri].sum(-1) - 1).max() > 1e-3:
            raise AssetError(f"{data.source}: skinning weights do not sum to one at the landmarks; "
                             "not a FLAME model the tracker can fit")
        # the eyelid blendshapes, when the model has them, are fitted as expression-like columns
        # after the expression ones (the tracker splits them off again)
        dirs = data.blend_dirs(ns, ne).astype(np.float64)
        bary = lset.bary.astype(np.float64)[:, :, None]                 # (L, 3, 1)
        wj = data.weights[:, 2].astype(np.float64)
        t = data.v_template.astype(np.float64)
        pose = data.posedirs[:, :, JAW_POSE_COLUMNS].astype(np.float64)

        def per_landmark(x: np.ndarray, weighted: bool) -> np.ndarray:
            g = x[tri]                                                   # (L, 3, ...)
            b = bary * wj[tri][:, :, None] if weighted else bary
            return np.einsum("lk,lk...->l...", b[:, :, 0], g)

        jr = data.j_regressor.astype(np.float64)
        j_t, j_dirs = jr @ t, np.einsum("jv,vcn->jcn", jr, dirs)
        f = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=device)  # noqa: E731
        a_dirs, c_dirs = per_landmark(dirs, False), per_landmark(dirs, True)
        return cls(
            a_t=f(per_landmark(t, False)), a_s=f(a_dirs[..., :ns]), a_e=f(a_dirs[..., ns:]),
            a_p=f(per_landmark(pose, False)),
            c_t=f(per_landmark(t, True)), c_s=f(c_dirs[..., :ns]), c_e=f(c_dirs[..., ns:]),
            c_p=f(per_landmark(pose, True)),
            w=f((lset.bary.astype(np.float64) * wj[tri]).sum(1)),
            j0_t=f(j_t[0]), j0_s=f(j_dirs[0, :, :ns]), j0_e=f(j_dirs[0, :, ns:]),
            j2_t=f(j_t[2]), j2_s=f(j_dirs[2, :, :ns]), j2_e=f(j_dirs[2, :, ns:]),
        )

    @property
    def n_shape(self) -> int:
        return self.a_s.shape[-1]


@dataclass
class FrameParams:
    """Per-frame state of the fit (float64)."""

    rot: torch.Tensor         # (T, 3, 3) global rotation
    jaw: torch.Tensor         # (T, 3, 3) jaw rotation
    cam: torch.Tensor         # (T, 3) log scale, offset x, offset y (units of T_UNIT reference px)
    expression: torch.Tensor  # (T, E)

    def index(self, sl: slice | np.ndarray) -> "FrameParams":
        return FrameParams(self.rot[sl], self.jaw[sl], self.cam[sl], self.expression[sl])

    def updated(self, step: torch.Tensor) -> "FrameParams":
        """Apply a (T, 9 + E) step [d_rot, d_jaw, d_cam, d_expression]."""
        return FrameParams(so3_exp(step[:, 0:3]) @ self.rot, so3_exp(step[:, 3:6]) @ self.jaw,
                           self.cam + step[:, 6:9], self.expression + step[:, 9:])


def _posed(maps: LandmarkMaps, shape: torch.Tensor, p: FrameParams):
    """World landmarks (T, L, 3) and the intermediates the Jacobians need."""
    eye = torch.eye(3, dtype=shape.dtype, device=shape.device)
    pj = (p.jaw - eye).reshape(-1, 9)                                         # (T, 9)
    a = maps.a_t + maps.a_s @ shape + torch.einsum("lce,te->tlc", maps.a_e, p.expression) \
        + torch.einsum("lcn,tn->tlc", maps.a_p, pj)                           # sum b v_p  (T, L, 3)
    cw = maps.c_t + maps.c_s @ shape + torch.einsum("lce,te->tlc", maps.c_e, p.expression) \
        + torch.einsum("lcn,tn->tlc", maps.c_p, pj)                           # sum b w v_p
    j0 = maps.j0_t + maps.j0_s @ shape + p.expression @ maps.j0_e.T          # (T, 3)
    j2 = maps.j2_t + maps.j2_s @ shape + p.expression @ maps.j2_e.T
    c = cw - maps.w[None, :, None] * j2[:, None]                               # sum b w (v_p - J_2)
    g = a - j0[:, None] + torch.einsum("tij,tlj->tli", p.jaw - eye, c)
    world = torch.einsum("tij,tlj->tli", p.rot, g) + j0[:, None]
    return world, j0, c


def world_landmarks(maps: LandmarkMaps, shape: torch.Tensor, p: FrameParams) -> torch.Tensor:
    """(T, L, 3) posed landmarks in FLAME space (metres, y up)."""
    return _posed(maps, shape, p)[0]


def project(world: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Weak perspective into reference-crop pixels (T, L, 3): u, v and a depth z in the same pixel
    scale growing away from the camera (MediaPipe's convention, up to an offset); cam = (log s,
    offset x, offset y)."""
    s = cam[:, 0].exp()[:, None]
    half = REF / 2
    u = half * (s * world[..., 0] + 1) + T_UNIT * cam[:, None, 1]
    v = half * (-s * world[..., 1] + 1) - T_UNIT * cam[:, None, 2]
    return torch.stack([u, v, -half * s * world[..., 2]], -1)


def landmarks_and_jacobians(maps: LandmarkMaps, shape: torch.Tensor, p: FrameParams, jacobian: bool = True,
                            shape_jacobian: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Projected landmarks (T, L, 3) (u, v, depth) in reference pixels, and their Jacobians laid out
    channel-major: d/d[frame params] (T, 3, L, 9+E), d/d shape (T, 3, L, S) when asked."""
    eye = torch.eye(3, dtype=shape.dtype, device=shape.device)
    world, j0, c = _posed(maps, shape, p)
    proj = project(world, p.cam)
    if not jacobian:
        return proj, None, None
    s = p.cam[:, 0].exp()
    half = REF / 2
    t, n_l = world.shape[:2]
    n_e = p.expression.shape[1]
    scale_uvz = torch.stack([half * s, -half * s, -half * s], 1)[:, :, None, None]   # d proj / d world (diagonal)
    jac = world.new_empty(t, 3, n_l, 9 + n_e)
    jac[..., 0:3] = -skew(world - j0[:, None]).transpose(1, 2)                 # [e_a]x R_g g, left increment
    # jaw: d/d_a of g = a - J0 + (R_j - I) c, where a and c also carry the pose correctives
    d_rj = torch.einsum("aij,tjk->taik", skew(eye), p.jaw).reshape(-1, 3, 9)  # vec([e_a]x R_j)
    dg_jaw = torch.einsum("lcn,tan->tlca", maps.a_p, d_rj) \
        + torch.einsum("tij,tlja->tlia", p.jaw - eye, torch.einsum("lcn,tan->tlca", maps.c_p, d_rj)) \
        + torch.einsum("taij,tlj->tlia", d_rj.reshape(-1, 3, 3, 3), c)
    jac[..., 3:6] = torch.einsum("tij,tlja->tila", p.rot, dg_jaw)
    jac[..., 0:6] *= scale_uvz
    jac[..., 6:9] = 0
    jac[:, 0, :, 6] = half * s[:, None] * world[..., 0]
    jac[:, 1, :, 6] = -half * s[:, None] * world[..., 1]
    jac[:, 2, :, 6] = proj[..., 2]
    jac[:, 0, :, 7] = T_UNIT
    jac[:, 1, :, 8] = -T_UNIT
    mixer = torch.cat([p.rot, p.rot @ (p.jaw - eye)], dim=2)                  # (T, 3, 6)

    def d_linear(basis: torch.Tensor, j0_x: torch.Tensor) -> torch.Tensor:
        n = j0_x.shape[1]
        dw = (mixer @ basis).view(t, 3, n_l, n) + j0_x[None, :, None, :]
        return dw.mul_(scale_uvz)

    jac[..., 9:] = d_linear(maps.basis_e, maps.j0_e)
    j_shape = d_linear(maps.basis_s, maps.j0_s) if shape_jacobian else None
    return proj, jac, j_shape
