"""Von Mises family on the circle: T(x) = [cos t, sin t] for x = (cos t, sin t)."""

import math
from dataclasses import dataclass

import jax.numpy as jnp
from jax.scipy.special import i0e

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.domains import Sphere
from nnef_dists.families.registry import register_family

# log I0(sqrt(s)) = s/4 - s^2/64 + s^3/576 - 11 s^4/49152 + ..., highest power first.
_LOG_I0_SERIES = (-11.0 / 49152.0, 1.0 / 576.0, -1.0 / 64.0, 0.25, 0.0)
_SERIES_BELOW = 1e-2  # use the series for s = |eta|^2 below this


def log_i0(s):
    """log I0(sqrt(s)) for s >= 0, smooth (twice differentiable) at s = 0."""
    small = s < _SERIES_BELOW
    kappa = jnp.sqrt(jnp.where(small, 1.0, s))
    return jnp.where(
        small, jnp.polyval(jnp.array(_LOG_I0_SERIES, s.dtype), s), jnp.log(i0e(kappa)) + kappa
    )


@register_family("von_mises")
@dataclass(frozen=True)
class VonMises(ExponentialFamily):
    """VonMises(mean t0, concentration k): eta = k (cos t0, sin t0); every eta is valid.

    x = (cos t, sin t) lies on the unit circle (x_shape (2,)) and the base
    measure is arc length dt, so A(eta) = log(2 pi I0(|eta|)).
    """

    x_shape: tuple = (2,)
    domain = Sphere(2)
    stat_shapes = {"cos": (1,), "sin": (1,)}

    def _compute_stats(self, x):
        return {"cos": x[:1], "sin": x[1:]}

    def natural_guess(self, mu):
        """kappa ~ r (2 - r^2) / (1 - r^2), r = |E[(cos, sin)]| (Banerjee et al.)."""
        r = jnp.sqrt(jnp.sum(mu**2))
        kappa = r * (2.0 - r**2) / (1.0 - r**2)
        return mu * jnp.where(r > 0, kappa / jnp.where(r > 0, r, 1.0), 0.0)

    def log_partition(self, eta):
        return math.log(2.0 * math.pi) + log_i0(jnp.sum(eta**2))
