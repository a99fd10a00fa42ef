"""A family this package does not ship, written as a user would: T(x) = [log x, x^2] on x > 0.

p(x | eta) is proportional to x^eta_1 exp(eta_2 x^2), a Nakagami (generalised
gamma) family, normalisable for eta_1 > -1 and eta_2 < 0. ``nnef fit
--config configs/fit/nakagami.yaml`` finds this module in the config's folder.
"""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp

from nnef_dists.families import ExponentialFamily


@dataclass(frozen=True)
class Nakagami(ExponentialFamily):
    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"log_x": (1,), "x2": (1,)}

    def _compute_stats(self, x):
        return {"log_x": jnp.log(x), "x2": x**2}

    def x_bounds(self):
        return jnp.zeros(self.x_shape), jnp.full(self.x_shape, jnp.inf)

    def eta_bounds(self):
        return {"log_x": (-1.0, jnp.inf), "x2": (-jnp.inf, 0.0)}
