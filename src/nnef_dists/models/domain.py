"""Where a trained network may be trusted: the box and the neighbourhood of its training eta.

A query eta is in the domain when it lies in the box of the training eta
(per-coordinate min and max) and within ``radius`` of one of up to
MAX_POINTS training eta kept with the model, distances measured in units of
each coordinate's spread. ``radius`` covers the training eta themselves: it
is RADIUS_FACTOR times the 95th percentile of the distance from a training
eta to the nearest kept one, so a query in a hole of the training set, or
off a curved edge of it, is out even inside the box.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

#: Training eta kept for the neighbourhood test (a random subset when there are more).
MAX_POINTS = 512
#: The radius as a multiple of the typical distance of a training eta to the kept ones.
RADIUS_FACTOR = 2.0


class TrainingDomain(NamedTuple):
    """lo, hi (k,): the box; points (M, k) and scale (k,): the kept eta and the units; radius."""

    lo: np.ndarray
    hi: np.ndarray
    points: np.ndarray
    scale: np.ndarray
    radius: float

    @classmethod
    def fit(cls, eta, seed: int = 0) -> TrainingDomain:
        """The domain of training eta (N, k)."""
        eta = np.asarray(eta, np.float64)
        scale = np.where(eta.std(0) > 0, eta.std(0), 1.0)
        kept = np.random.default_rng(seed).permutation(len(eta))[:MAX_POINTS]
        points = eta[kept]
        gaps = _distances(eta / scale, points / scale)
        gaps[kept, np.arange(len(kept))] = np.inf  # a kept eta is not its own neighbour
        nearest = np.min(gaps, axis=1)
        radius = RADIUS_FACTOR * float(np.quantile(nearest, 0.95)) + 1e-12
        return cls(eta.min(0), eta.max(0), points, scale, radius)

    def contains(self, eta):
        """Whether each eta (..., k) is in the domain: bool (...,); works under jit and vmap."""
        eta = jnp.asarray(eta)
        in_box = jnp.all((eta >= self.lo) & (eta <= self.hi), axis=-1)
        scaled = eta / self.scale
        points = jnp.asarray(self.points / self.scale, eta.dtype)
        gap = jnp.min(jnp.sum((scaled[..., None, :] - points) ** 2, axis=-1), axis=-1)
        return in_box & (gap <= self.radius**2)

    def to_dict(self) -> dict:
        """Plain lists, for config.yaml."""
        return {
            "box": [self.lo.tolist(), self.hi.tolist()],
            "points": self.points.tolist(),
            "scale": self.scale.tolist(),
            "radius": self.radius,
        }

    @classmethod
    def from_dict(cls, record: dict) -> TrainingDomain:
        lo, hi = (np.asarray(b, np.float64) for b in record["box"])
        points = np.asarray(record["points"], np.float64)
        return cls(lo, hi, points, np.asarray(record["scale"], np.float64), float(record["radius"]))


def _distances(a, b):
    """Euclidean distances (N, M) between rows of a (N, k) and b (M, k)."""
    return np.sqrt(np.maximum(np.sum(a**2, 1)[:, None] - 2 * a @ b.T + np.sum(b**2, 1), 0.0))
