"""A family defined outside the package, found by import path in test_registry."""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np

from nnef_dists.families import ExponentialFamily


@dataclass(frozen=True)
class Exponential(ExponentialFamily):
    """Exponential(rate): T(x) = [x] on x > 0, eta = -rate < 0, A(eta) = -log(-eta)."""

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"x": (1,)}

    def _compute_stats(self, x):
        return {"x": x}

    def x_bounds(self):
        return np.zeros(self.x_shape), np.full(self.x_shape, np.inf)

    def eta_bounds(self):
        return {"x": (-np.inf, 0.0)}

    def log_partition(self, eta):
        return -jnp.log(-eta[0])
