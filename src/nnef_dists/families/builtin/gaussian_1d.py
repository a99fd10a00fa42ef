"""Univariate normal family: T(x) = [x, x^2] on the real line."""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.registry import register_family


@register_family("gaussian_1d")
@dataclass(frozen=True)
class Gaussian1D(ExponentialFamily):
    """N(m, v): eta = [m / v, -1 / (2 v)], valid for eta_2 < 0 (eta_1 free).

    A(eta) = -eta_1^2 / (4 eta_2) + log(pi / -eta_2) / 2.
    """

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"x": (1,), "x2": (1,)}

    def _compute_stats(self, x):
        return {"x": x, "x2": x**2}

    def eta_bounds(self):
        return {"x2": (-np.inf, 0.0)}

    def log_partition(self, eta):
        return -(eta[0] ** 2) / (4.0 * eta[1]) + 0.5 * jnp.log(jnp.pi / -eta[1])
