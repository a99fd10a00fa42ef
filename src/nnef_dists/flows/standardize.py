"""Per-column standardisation learned from data and stored with a model.

    z = (x - mean) / std,        log |det dz/dx| = -sum_j log std_j,

so a density of standardised values q(z) is the density p(x) = q(z) / prod std
of raw values. Columns that do not vary get std 1. With ``clip`` = c (used for
features, never for densities' variables) the standardised values are then
squashed smoothly into (-c, c) by ``c tanh(z / c)``: a held-out feature far
outside the training range (a pixel that was almost always 0) cannot push the
networks into extrapolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """Column means and standard deviations, each (D,) float32, and an optional clip."""

    mean: np.ndarray
    std: np.ndarray
    clip: float | None = None

    @classmethod
    def fit(cls, x, clip: float | None = None) -> Standardizer:
        """From data x (N, D)."""
        x = np.asarray(x, np.float64)
        std = x.std(0)
        std = np.where(std > 1e-8 * np.maximum(1.0, np.abs(x.mean(0))), std, 1.0)
        return cls(x.mean(0).astype(np.float32), std.astype(np.float32), clip)

    @property
    def dim(self) -> int:
        return len(self.mean)

    def transform(self, x) -> np.ndarray:
        """Raw x (..., D) -> standardised z (..., D), float32 (squashed when clipping)."""
        z = (np.asarray(x, np.float32) - self.mean) / self.std
        if self.clip is not None:
            z = self.clip * np.tanh(z / self.clip)
        return z.astype(np.float32)

    def inverse(self, z) -> np.ndarray:
        """Standardised z (..., D) -> raw x (..., D) (without clipping only)."""
        return np.asarray(z) * self.std + self.mean

    @property
    def log_det(self) -> float:
        """log |det dz/dx| = -sum log std: add it to a log-density of z to get one of x."""
        return float(-np.sum(np.log(self.std.astype(np.float64))))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "clip": self.clip}

    @classmethod
    def from_dict(cls, record: dict) -> Standardizer:
        mean, std = (np.asarray(record[k], np.float32).reshape(-1) for k in ("mean", "std"))
        if mean.shape != std.shape or not np.all(std > 0):
            raise ValueError("standardisation needs mean and std of one length, std > 0")
        clip = record.get("clip")
        return cls(mean, std, None if clip is None else float(clip))
