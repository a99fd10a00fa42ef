"""Per-column standardisation learned from data and stored with a model.

    z = (x - mean) / scale,        log |det dz/dx| = -sum_j log scale_j,

so a density q(z) of standardised values is the density p(x) = q(z) / prod scale
of raw values. The scale is the column's standard deviation; a column that
does not vary (std at most 1e-8 max(1, |mean|)) gets scale 1, so it stays 0
after standardising instead of being blown up. ET networks (eta and mu_T)
and flow estimators (params and features) standardise with the same rule.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: A column whose std is at most this times max(1, |mean|) counts as constant.
CONSTANT_RTOL = 1e-8


class Standardizer(NamedTuple):
    """Column means and scales, each (D,) float32 (NumPy or JAX arrays: a pytree)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x) -> Standardizer:
        """From data x (N, D): float32 means and scales (1 for constant columns)."""
        x = np.asarray(x, np.float64)
        mean, std = x.mean(0), x.std(0)
        std = np.where(std > CONSTANT_RTOL * np.maximum(1.0, np.abs(mean)), std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    @property
    def dim(self) -> int:
        return len(self.mean)

    def transform(self, x):
        """Raw x (..., D) -> standardised z (..., D)."""
        return (x - self.mean) / self.scale

    def inverse(self, z):
        """Standardised z (..., D) -> raw x (..., D)."""
        return self.mean + self.scale * z

    @property
    def log_det(self) -> float:
        """log |det dz/dx| = -sum log scale: add it to a log-density of z to get one of x."""
        return float(-np.sum(np.log(np.asarray(self.scale, np.float64))))

    def to_dict(self) -> dict:
        """Plain lists, for config.yaml."""
        return {"mean": np.asarray(self.mean).tolist(), "scale": np.asarray(self.scale).tolist()}

    @classmethod
    def from_dict(cls, record: dict) -> Standardizer:
        """The inverse of ``to_dict``; ValueError unless mean and scale match and scale > 0."""
        mean, scale = (np.asarray(record[k], np.float32).reshape(-1) for k in ("mean", "scale"))
        if mean.shape != scale.shape or not np.all(scale > 0):
            raise ValueError("standardisation needs mean and scale of one length, scale > 0")
        return cls(mean, scale)
