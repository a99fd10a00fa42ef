"""A family the package does not ship: the generalised inverse Gaussian.

p(x) proportional to x^(p - 1) exp(-(a x + b / x) / 2) on x > 0:
T(x) = [log x, x, 1 / x], eta = (p - 1, -a / 2, -b / 2).
"""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np

from nnef_dists.families import ExponentialFamily


@dataclass(frozen=True)
class GeneralisedInverseGaussian(ExponentialFamily):
    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"log_x": (1,), "x": (1,), "inv_x": (1,)}

    def _compute_stats(self, x):
        return {"log_x": jnp.log(x), "x": x, "inv_x": 1.0 / x}

    def x_bounds(self):
        return np.zeros(1), np.full(1, np.inf)

    def eta_bounds(self):
        return {"x": (-np.inf, 0.0), "inv_x": (-np.inf, 0.0)}
