"""Levenberg-Marquardt over frames for the FLAME tracker.

Unknowns per frame: head rotation, jaw rotation (left increments, 3 each), camera (log scale and
offset, 3) and expression; optionally one shared shape. The objective, in squared pixels of a
512 crop: robust landmark distances (x, y and a down-weighted, per-frame-centred depth), Gaussian
priors, a jaw prior, and temporal terms (landmark and head-rotation acceleration, expression
change) that couple frames up to two apart. Normal equations come from the exact Jacobians of
flame_closed_form; with temporal terms they are block-banded and solved exactly, with a shared
shape the frames are eliminated first (Schur complement). Every step is accepted only if the
float64 energy drops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .flame_closed_form import (FrameParams, LandmarkMaps, landmarks_and_jacobians, project, so3_left_jacobian_inverse,
                                so3_log, world_landmarks)

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

    def __init__(self, maps: LandmarkMaps, weights: FitWeights, point_weights: torch.Tensor,
                 coefficient_scale: torch.Tensor | None = None) -> None:
        """coefficient_scale (E,): per expression-block coefficient, a factor on its prior and change
        penalty (1 for expression; the tracker makes eyelid columns cheaper, so a blink lands there)."""
        self.maps, self.w, self.point_w = maps, weights, point_weights
        n_e = maps.a_e.shape[-1]
        self.coef_scale = (coefficient_scale if coefficient_scale is not None
                           else torch.ones(n_e, dtype=point_weights.dtype, device=point_weights.device))

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
        total = total + w.prior * (p.expression ** 2 * self.coef_scale).sum()
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
            total = total + w.prior * w.expression_change * ((ex[1:] - ex[:-1]) ** 2 * self.coef_scale).sum()
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
        h0[:, e_idx, e_idx] += w.prior * torch.diag(self.coef_scale).to(h0)
        g[:, e_idx] += w.prior * p.expression * self.coef_scale
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
        g[:, e_idx] += mu * (g1 @ ex)[he:] * self.coef_scale
        eye_e = torch.diag(self.coef_scale).to(dtype=dt, device=dev)
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
