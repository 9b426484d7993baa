"""Fréchet distance between Gaussians fitted to feature sets (FID on Inception features, FVD on I3D).

Features are accumulated as sufficient statistics (count, sum, sum of outer products, float64), so
that per-clip statistics computed in different processes merge into exactly the statistics of the
whole set.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import linalg


@dataclass
class FeatureStats:
    count: int
    total: np.ndarray      # (D,)
    outer: np.ndarray      # (D, D)

    @classmethod
    def empty(cls, dim: int) -> "FeatureStats":
        return cls(0, np.zeros(dim), np.zeros((dim, dim)))

    def add(self, features: np.ndarray) -> None:
        f = np.asarray(features, np.float64).reshape(-1, self.total.shape[0])
        self.count += len(f)
        self.total += f.sum(0)
        self.outer += f.T @ f

    def merged(self, other: "FeatureStats") -> "FeatureStats":
        return FeatureStats(self.count + other.count, self.total + other.total, self.outer + other.outer)

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and unbiased covariance (needs at least two samples)."""
        if self.count < 2:
            raise ValueError("a covariance needs at least two feature vectors")
        mu = self.total / self.count
        cov = (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)
        return mu, cov

    def save(self, path: str | Path) -> None:
        np.savez(path, count=self.count, total=self.total, outer=self.outer)

    @classmethod
    def load(cls, path: str | Path) -> "FeatureStats":
        with np.load(path, allow_pickle=False) as z:
            return cls(int(z["count"]), z["total"], z["outer"])


def _sqrtm(m: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        return linalg.sqrtm(m)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||² + Tr(C1 + C2 - 2 (C1 C2)^½) (Dowson & Landau 1982)."""
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    covmean = _sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        # near-singular products (few samples): regularise both covariances slightly
        eps = np.eye(len(cov1)) * 1e-6
        covmean = _sqrtm((cov1 + eps) @ (cov2 + eps))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def stats_distance(a: FeatureStats, b: FeatureStats) -> float:
    return frechet_distance(*a.mean_cov(), *b.mean_cov())
