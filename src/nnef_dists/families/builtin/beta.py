"""Beta family: T(x) = [log x, log(1 - x)] on 0 < x < 1."""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.registry import register_family


@register_family("beta")
@dataclass(frozen=True)
class Beta(ExponentialFamily):
    """Beta(a, b): eta = [a - 1, b - 1], valid for eta_1, eta_2 > -1.

    A(eta) = log B(eta_1 + 1, eta_2 + 1).
    """

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"log_x": (1,), "log_1mx": (1,)}

    def _compute_stats(self, x):
        return {"log_x": jnp.log(x), "log_1mx": jnp.log1p(-x)}

    def x_bounds(self):
        return np.zeros(self.x_shape), np.ones(self.x_shape)

    def eta_bounds(self):
        return {"log_x": (-1.0, np.inf), "log_1mx": (-1.0, np.inf)}

    def log_partition(self, eta):
        # Not jax.scipy.special.betaln: its min/max split gives a wrong Hessian at a == b.
        a, b = eta[0] + 1.0, eta[1] + 1.0
        return gammaln(a) + gammaln(b) - gammaln(a + b)
