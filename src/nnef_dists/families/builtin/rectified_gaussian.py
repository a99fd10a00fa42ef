"""Rectified (truncated to x >= 0) normal family: T(x) = [x, x^2] on x >= 0."""

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import log_ndtr

from nnef_dists.families.builtin.gaussian_1d import Gaussian1D
from nnef_dists.families.registry import register_family

# z below which A is computed as an exponential perturbed by eta_2, per dtype: above
# it the normal form loses about eps * z^8 in the Hessian, below it the continued
# fraction of depth _CF_DEPTH is accurate to < 1e-15 (float64) / 1e-7 (float32).
_TAIL_BELOW = {"float64": -3.5, "float32": -1.5}
_CF_DEPTH = 40


def log_f(c):
    """log F(c), F(c) = int_0^inf exp(-t - c t^2) dt, for 0 <= c <= 1 / (2 z^2) (z < _TAIL_BELOW).

    Laplace's continued fraction for the Mills ratio, F = 1 / (1 + 2c / (1 +
    4c / (1 + 6c / ...))): all terms positive, so A and its derivatives keep
    full precision where the normal form would cancel z^2 / 2 against log Phi(z).
    """

    def step(i, denom):  # k = _CF_DEPTH - i runs from _CF_DEPTH down to 1
        k = (_CF_DEPTH - i).astype(c.dtype)
        return 1.0 + 2.0 * k * c / denom

    return -jnp.log(lax.fori_loop(0, _CF_DEPTH, step, jnp.ones_like(c)))


@register_family("rectified_gaussian")
@dataclass(frozen=True)
class RectifiedGaussian(Gaussian1D):
    """N(m, v) truncated to x >= 0: eta = [m / v, -1 / (2 v)], valid for eta_2 < 0.

    With z = eta_1 / sqrt(-2 eta_2) (= m / sqrt(v)),

        A(eta) = z^2 / 2 + log(2 pi / (-2 eta_2)) / 2 + log Phi(z),

    and, for z < -3.5 (float64; -1.5 in float32), substituting x = t / -eta_1,
    the same value as A(eta) = -log(-eta_1) + log F(-eta_2 / eta_1^2) with F
    as in ``log_f``.
    """

    def x_bounds(self):
        return np.zeros(self.x_shape), np.full(self.x_shape, np.inf)

    def log_partition(self, eta):
        eta1, precision = eta[0], -2.0 * eta[1]
        z = eta1 / jnp.sqrt(precision)
        tail = z < _TAIL_BELOW.get(jnp.result_type(z).name, _TAIL_BELOW["float32"])
        # Safe arguments keep the branch that is not taken finite (and its gradient).
        z_body, eta1_tail = jnp.where(tail, 0.0, z), jnp.where(tail, eta1, -1.0)
        body = 0.5 * z_body**2 + 0.5 * jnp.log(2.0 * math.pi / precision) + log_ndtr(z_body)
        tail_value = -jnp.log(-eta1_tail) + log_f(0.5 * precision / eta1_tail**2)
        return jnp.where(tail, tail_value, body)
