"""Product of two Laplace kernels: T(x) = [-|x - 1|, -|x + 1|] on the real line."""

import math
from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.registry import register_family

# log(sinh(r) / r) = q/6 - q^2/180 + q^3/2835 - q^4/37800 + q^5/467775 - ..., q = r^2,
# highest power first; used for |r| below _SERIES_BELOW, where the omitted
# terms are below float64 round-off in A and its first two derivatives.
_LOG_SINHC_SERIES = (1 / 467775, -1 / 37800, 1 / 2835, -1 / 180, 1 / 6, 0.0)
_SERIES_BELOW = 0.2


def log_sinhc(r):
    """log(sinh(r) / r), smooth (twice differentiable) at r = 0."""
    small = jnp.abs(r) < _SERIES_BELOW
    a = jnp.abs(jnp.where(small, 1.0, r))
    series = jnp.polyval(jnp.array(_LOG_SINHC_SERIES, r.dtype), r**2)
    return jnp.where(small, series, a + jnp.log(-jnp.expm1(-2.0 * a) / (2.0 * a)))


@register_family("laplace_product")
@dataclass(frozen=True)
class LaplaceProduct(ExponentialFamily):
    """p(x) ~ exp(-eta_1 |x - 1| - eta_2 |x + 1|): valid iff eta_1 + eta_2 > 0.

    Either entry may be negative. Integrating the three exponential pieces
    (x < -1, -1 < x < 1, x > 1), with s = eta_1 + eta_2 and r = eta_1 - eta_2:

        A(eta) = log(exp(-2 eta_1) / s + exp(-2 eta_2) / s + exp(-s) 2 sinh(r) / r).
    """

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"neg_abs_x_minus_1": (1,), "neg_abs_x_plus_1": (1,)}

    def _compute_stats(self, x):
        return {"neg_abs_x_minus_1": -jnp.abs(x - 1.0), "neg_abs_x_plus_1": -jnp.abs(x + 1.0)}

    def in_natural_space(self, eta):
        return eta[..., 0] + eta[..., 1] > 0

    def reference_eta(self):
        """Both Laplace factors of rate 1."""
        return np.ones(2)

    def quadrature_breakpoints(self):
        return (-1.0, 1.0)

    def log_partition(self, eta):
        s, r = eta[0] + eta[1], eta[0] - eta[1]
        outer = -2.0 * eta - jnp.log(s)  # pieces x < -1 and x > 1
        middle = -s + math.log(2.0) + log_sinhc(r)
        return logsumexp(jnp.append(outer, middle))
