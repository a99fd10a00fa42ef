"""Gamma family: T(x) = [log x, x] on x > 0."""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.registry import register_family


@register_family("gamma")
@dataclass(frozen=True)
class Gamma(ExponentialFamily):
    """Gamma(shape a, rate b): eta = [a - 1, -b], valid for a > 0, b > 0.

    A(eta) = lgamma(eta_1 + 1) - (eta_1 + 1) log(-eta_2).
    """

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"log_x": (1,), "x": (1,)}

    def _compute_stats(self, x):
        return {"log_x": jnp.log(x), "x": x}

    def x_bounds(self):
        return np.zeros(self.x_shape), np.full(self.x_shape, np.inf)

    def eta_bounds(self):
        return {"log_x": (-1.0, np.inf), "x": (-np.inf, 0.0)}

    def natural_guess(self, mu):
        """Minka's approximation of the shape from s = log E[x] - E[log x] (> 0)."""
        s = jnp.log(mu[1]) - mu[0]
        shape = (3.0 - s + jnp.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)
        return jnp.stack([shape - 1.0, -shape / mu[1]])

    def log_partition(self, eta):
        shape = eta[0] + 1.0
        return gammaln(shape) - shape * jnp.log(-eta[1])
