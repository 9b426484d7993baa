"""Closed-form FLAME landmarks and their exact Jacobians, for Gauss-Newton fitting.

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
    a_e: torch.Tensor   # (L, 3, E)
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
        dirs = np.concatenate([data.shapedirs[:, :, :ns], data.shapedirs[:, :, 300:300 + ne]], axis=2).astype(np.float64)
        tri = data.faces[lset.faces]                                    # (L, 3)
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


# ----------------------------------------------------------------------------------------------
# Levenberg-Marquardt over frames

@dataclass
class FitWeights:
    """Objective terms, all in squared reference pixels (a 512 crop)."""

    prior: float = 4.0            # weight of |expression|^2 and |shape|^2: the landmark noise variance
    robust2: float = 36.0         # pseudo-Huber scale squared
    jaw_side_sigma: float = 0.05  # radians; the jaw barely yaws or rolls, and never opens backwards
    accel: float = 0.5            # landmark acceleration penalty per point
    rotation_accel: float = 0.0   # head-rotation acceleration penalty, px^2 per rad^2
    expression_change: float = 1.0  # expression-change penalty, in units of the prior


def _robust(e: torch.Tensor, robust2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-Huber on squared distances: value and derivative (the IRLS weight)."""
    root = torch.sqrt(1 + e / robust2)
    return 2 * robust2 * (root - 1), 1 / root


def _jaw_prior(jaw: torch.Tensor, sigma: float, with_jacobian: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Residuals (T, 3) = [opening below zero, yaw, roll] / sigma of the jaw's axis-angle."""
    phi = so3_log(jaw)
    r = torch.stack([torch.relu(-phi[:, 0]), phi[:, 1], phi[:, 2]], -1) / sigma
    if not with_jacobian:
        return r, None
    jl = so3_left_jacobian_inverse(phi) / sigma                              # d phi / d increment
    jl[:, 0] = jl[:, 0] * torch.where(phi[:, 0:1] < 0, -1.0, 0.0).to(jl)
    return r, jl


def _gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched a^T b, the bulk of each iteration's arithmetic. Done in float32 (twice the speed
    of float64 on a CPU): it only shapes the step, which the float64 energy test then accepts or
    rejects, so rounding here cannot move the optimum."""
    return (a.float().transpose(1, 2) @ b.float()).to(a.dtype)


def _difference_gram(n: int, order: int) -> np.ndarray:
    """D^T D for the finite-difference operator of the given order on n samples."""
    if n <= order:
        return np.zeros((n, n))
    d = np.diff(np.eye(n), n=order, axis=0)
    return d.T @ d


def _banded_solve(blocks: list[torch.Tensor], g: torch.Tensor) -> torch.Tensor:
    """Solve H x = g exactly, H symmetric positive definite and block-banded: blocks[0] (T,D,D)
    diagonal blocks, blocks[d] (T-d,D,D) the blocks d frames above the diagonal (d <= 2).

    Pairs of frames form super-blocks, which makes H block-tridiagonal; a block Cholesky sweep
    (forward elimination, back substitution) then costs T/2 small dense factorisations."""
    t, dim = g.shape
    if len(blocks) == 1:
        return torch.linalg.solve(blocks[0], g)
    h0 = blocks[0]
    h1 = blocks[1] if len(blocks) > 1 else h0.new_zeros(max(t - 1, 0), dim, dim)
    h2 = blocks[2] if len(blocks) > 2 else h0.new_zeros(max(t - 2, 0), dim, dim)
    if t % 2:  # pad with a decoupled dummy frame
        eye = torch.eye(dim, dtype=g.dtype, device=g.device)[None]
        h0 = torch.cat([h0, eye])
        h1 = torch.cat([h1, h1.new_zeros(1, dim, dim)])
        h2 = torch.cat([h2, h2.new_zeros(1, dim, dim)])
        g = torch.cat([g, g.new_zeros(1, dim)])
    k = g.shape[0] // 2
    z = torch.zeros(dim, dim, dtype=g.dtype, device=g.device)
    diag = torch.cat([torch.cat([h0[0::2], h1[0::2]], 2),
                      torch.cat([h1[0::2].transpose(1, 2), h0[1::2]], 2)], 1)      # (K, 2D, 2D)
    # coupling of super-block i (frames 2i, 2i+1) with i+1 (frames 2i+2, 2i+3)
    up = torch.cat([torch.cat([h2[0::2][: k - 1], z.expand(k - 1, dim, dim)], 2),
                    torch.cat([h1[1::2][: k - 1], h2[1::2][: k - 1]], 2)], 1)      # (K-1, 2D, 2D)
    rhs = g.reshape(k, 2 * dim)
    chols, ys = [], []
    w_prev = None
    for i in range(k):
        s_i = diag[i] if i == 0 else diag[i] - up[i - 1].T @ w_prev
        y_i = rhs[i] if i == 0 else rhs[i] - w_prev.T @ ys[-1]
        chol = torch.linalg.cholesky(s_i)
        if i < k - 1:
            w_prev = torch.cholesky_solve(up[i], chol)                             # S_i^-1 C_i
        chols.append(chol)
        ys.append(y_i)
    x = [None] * k
    x[k - 1] = torch.cholesky_solve(ys[k - 1][:, None], chols[k - 1])[:, 0]
    for i in range(k - 2, -1, -1):
        x[i] = torch.cholesky_solve((ys[i] - up[i] @ x[i + 1])[:, None], chols[i])[:, 0]
    return torch.stack(x).reshape(-1, dim)[:t]


@dataclass
class History:
    """The last fitted frames of the previous chunk, held fixed for the temporal terms."""

    proj: torch.Tensor        # (h, L, 2)
    expression: torch.Tensor  # (h, E)
    rotation: torch.Tensor    # (h, 3) axis-angle of the global rotation


@dataclass
class Observations:
    """What the landmarks say about a run of frames, in reference pixels."""

    target: torch.Tensor  # (T, L, 3) u, v, depth (depth only up to an offset per frame)
    weight: torch.Tensor  # (T, L) 0 where a point is missing; point and frame confidence otherwise
    depth: torch.Tensor   # (T,) weight of the depth residuals relative to u, v (0 = no depth)

    def __len__(self) -> int:
        return len(self.target)

    def index(self, sl: slice | np.ndarray) -> "Observations":
        return Observations(self.target[sl], self.weight[sl], self.depth[sl])


class FrameFitter:
    """Least squares over per-frame parameters (and optionally the shared shape).

    Data term: pseudo-Huber of the squared distance between model and observed landmarks, where
    the distance counts u and v in full and the depth (each frame's depths centred on their
    weighted mean, since MediaPipe's depth has an arbitrary offset) with the frame's depth weight.
    """

    def __init__(self, maps: LandmarkMaps, weights: FitWeights, point_weights: torch.Tensor) -> None:
        self.maps, self.w, self.point_w = maps, weights, point_weights

    def project(self, shape: torch.Tensor, p: FrameParams) -> torch.Tensor:
        """(T, L, 3) model landmarks in reference pixels."""
        return project(world_landmarks(self.maps, shape, p), p.cam)

    # -- objective ------------------------------------------------------------------------------
    def _residuals(self, proj: torch.Tensor, obs: Observations, jac: torch.Tensor | None = None,
                   j_shape: torch.Tensor | None = None):
        """Data residuals (T, 3, L), scaled so that their squared norm over the channels is the
        distance, and the matching channel-major Jacobians (modified in place); the depth channel is
        centred per frame."""
        wn = obs.weight / obs.weight.sum(1, keepdim=True).clamp(min=1e-12)      # (T, L)
        scale = obs.depth.sqrt()

        def centre_depth(x: torch.Tensor) -> None:                               # x (T, 3, L, ...)
            z = x[:, 2]
            z -= torch.einsum("tl,tl...->t...", wn, z)[:, None]
            z *= scale.view(-1, *([1] * (z.dim() - 1)))

        r = (proj - obs.target).transpose(1, 2).contiguous()
        centre_depth(r)
        for j in (jac, j_shape):
            if j is not None:
                centre_depth(j)
        return r, jac, j_shape

    def energy(self, shape: torch.Tensor, p: FrameParams, obs: Observations, temporal: bool,
               history: History | None, shape_prior: bool) -> torch.Tensor:
        return self._energy(self.project(shape, p), shape, p, obs, temporal, history, shape_prior)

    def _energy(self, proj, shape, p, obs, temporal, history, shape_prior) -> torch.Tensor:
        w = self.w
        r = self._residuals(proj, obs)[0]
        total = (obs.weight * _robust((r ** 2).sum(1), w.robust2)[0]).sum()
        total = total + w.prior * (p.expression ** 2).sum()
        total = total + w.prior * (_jaw_prior(p.jaw, w.jaw_side_sigma, False)[0] ** 2).sum()
        if shape_prior:
            total = total + w.prior * (shape ** 2).sum()
        if temporal:
            uv = proj[..., :2]
            seq = uv if history is None else torch.cat([history.proj, uv])
            if len(seq) >= 3:
                acc = seq[2:] - 2 * seq[1:-1] + seq[:-2]
                total = total + w.accel * ((acc ** 2).sum(-1) * self.point_w).sum()
            ex = p.expression if history is None else torch.cat([history.expression[-1:], p.expression])
            total = total + w.prior * w.expression_change * ((ex[1:] - ex[:-1]) ** 2).sum()
            phi = so3_log(p.rot) if history is None else torch.cat([history.rotation, so3_log(p.rot)])
            if len(phi) >= 3:
                total = total + w.rotation_accel * ((phi[2:] - 2 * phi[1:-1] + phi[:-2]) ** 2).sum()
        return total

    # -- normal equations -----------------------------------------------------------------------
    def _normal_equations(self, shape, p, obs, temporal, history, with_shape):
        w = self.w
        proj, jac, j_shape = landmarks_and_jacobians(self.maps, shape, p, shape_jacobian=with_shape)
        r, jac, j_shape = self._residuals(proj, obs, jac, j_shape)               # centring touches depth only
        t, n_c, n_l, dim = jac.shape
        _, irls = _robust((r ** 2).sum(1), w.robust2)
        root = (obs.weight * irls).sqrt()[:, None, :, None]                        # (T, 1, L, 1)
        jw = (jac * root).reshape(t, n_c * n_l, dim)
        rw = (r * root[..., 0]).reshape(t, n_c * n_l)
        h0 = _gram(jw, jw)
        g = (jw.transpose(1, 2) @ rw[..., None])[..., 0]
        e_idx = slice(9, dim)
        h0[:, e_idx, e_idx] += w.prior * torch.eye(dim - 9, dtype=h0.dtype, device=h0.device)
        g[:, e_idx] += w.prior * p.expression
        jr, jj = _jaw_prior(p.jaw, w.jaw_side_sigma, True)
        h0[:, 3:6, 3:6] += w.prior * jj.transpose(1, 2) @ jj
        g[:, 3:6] += w.prior * torch.einsum("tri,tr->ti", jj, jr)
        blocks = [h0]
        if temporal:
            self._add_temporal(blocks, g, proj[..., :2], jac[:, :2], p, history)
        extra = None
        if with_shape:
            js = (j_shape * root).reshape(t, n_c * n_l, -1)
            h_ss = torch.einsum("tks,tkr->sr", js, js) + w.prior * torch.eye(js.shape[-1], dtype=js.dtype,
                                                                                  device=js.device)
            h_fs = jw.transpose(1, 2) @ js
            g_s = torch.einsum("tks,tk->s", js, rw) + w.prior * shape
            extra = (h_ss, h_fs, g_s)
        energy = self._energy(proj, shape, p, obs, temporal, history, with_shape)
        return blocks, g, extra, energy

    def _add_temporal(self, blocks, g, uv, jac_uv, p, history) -> None:
        """Landmark acceleration and expression change, coupling frames up to two apart.
        uv (T, L, 2); jac_uv (T, 2, L, D)."""
        w = self.w
        t, _, n_l, dim = jac_uv.shape
        h = 0 if history is None else len(history.proj)
        dev, dt = uv.device, uv.dtype
        full_gram = torch.as_tensor(_difference_gram(h + t, 2), dtype=dt, device=dev)   # D^T D
        gram = full_gram[h:, h:]
        seq = uv if history is None else torch.cat([history.proj, uv])
        pull = torch.einsum("ij,jlc->icl", full_gram, seq)[h:]                     # (T, 2, L)
        pw = self.point_w[None, None, :, None]
        jf = jac_uv.reshape(t, 2 * n_l, dim)
        jw = (jac_uv * (w.accel * pw)).reshape(t, 2 * n_l, dim)
        g += (jw.transpose(1, 2) @ pull.reshape(t, -1, 1))[..., 0]
        for d in range(min(3, t)):
            coef = torch.diagonal(gram, offset=d)[:, None, None]
            prod = coef * _gram(jw[: t - d], jf[d:])
            if d == 0:
                blocks[0] = blocks[0] + prod
            else:
                blocks.append(prod)
        e_idx = slice(9, dim)
        he = 0 if history is None else 1
        ex = p.expression if history is None else torch.cat([history.expression[-1:], p.expression])
        g1 = torch.as_tensor(_difference_gram(t + he, 1), dtype=dt, device=dev)
        mu = w.prior * w.expression_change
        g[:, e_idx] += mu * (g1 @ ex)[he:]
        eye_e = torch.eye(dim - 9, dtype=dt, device=dev)
        blocks[0][:, e_idx, e_idx] += mu * torch.diagonal(g1[he:, he:])[:, None, None] * eye_e
        if len(blocks) > 1:
            blocks[1][:, e_idx, e_idx] += mu * torch.diagonal(g1[he:, he:], offset=1)[:, None, None] * eye_e
        if w.rotation_accel > 0:
            phi_t = so3_log(p.rot)
            jr = so3_left_jacobian_inverse(phi_t)                                     # d phi / d increment
            phi = phi_t if history is None else torch.cat([history.rotation, phi_t])
            pull = (full_gram @ phi)[h:]
            g[:, 0:3] += w.rotation_accel * torch.einsum("tri,tr->ti", jr, pull)
            for d in range(min(3, t)):
                coef = torch.diagonal(gram, offset=d)[:, None, None]
                blocks[d][:, 0:3, 0:3] += w.rotation_accel * coef * jr[: t - d].transpose(1, 2) @ jr[d:]

    # -- Levenberg-Marquardt --------------------------------------------------------------------
    def fit(self, shape: torch.Tensor, p: FrameParams, obs: Observations, iterations: int, temporal: bool,
            history: History | None = None, fit_shape: bool = False) -> tuple[torch.Tensor, FrameParams]:
        damping = 1e-3
        for _ in range(iterations):
            blocks, g, extra, energy = self._normal_equations(shape, p, obs, temporal, history, fit_shape)
            improved = False
            while damping < 1e8:
                step_p, step_s = self._solve(blocks, g, extra, damping)
                new_p = p.updated(step_p)
                new_s = shape + step_s if step_s is not None else shape
                new_energy = self.energy(new_s, new_p, obs, temporal, history, fit_shape)
                if new_energy < energy:
                    improved = True
                    break
                damping *= 5
            if not improved:
                break
            gain = float((energy - new_energy) / energy.clamp(min=1e-12))
            p, shape = new_p, new_s
            damping = max(damping / 3, 1e-7)
            if gain < 1e-6:
                break
        return shape, p

    @staticmethod
    def _damped(block: torch.Tensor, damping: float) -> torch.Tensor:
        diag = torch.diagonal(block, dim1=-2, dim2=-1)
        return block + torch.diag_embed(damping * diag + 1e-9)

    def _solve(self, blocks, g, extra, damping):
        h0 = self._damped(blocks[0], damping)
        if extra is None:
            if len(blocks) == 1:
                return -torch.linalg.solve(h0, g), None
            return -_banded_solve([h0, *blocks[1:]], g), None
        # frames are independent given the shape: eliminate them (Schur complement on the shape)
        h_ss, h_fs, g_s = extra
        h_ss = self._damped(h_ss, damping)
        chol = torch.linalg.cholesky(h0)
        inv_hfs = torch.cholesky_solve(h_fs, chol)                                  # (T, D, S)
        inv_g = torch.cholesky_solve(g[..., None], chol)[..., 0]                    # (T, D)
        reduced = h_ss - torch.einsum("tds,tdr->sr", h_fs, inv_hfs)
        rhs = g_s - torch.einsum("tds,td->s", h_fs, inv_g)
        step_s = -torch.linalg.solve(reduced, rhs)
        step_p = -(inv_g + torch.einsum("tds,s->td", inv_hfs, step_s))
        return step_p, step_s
