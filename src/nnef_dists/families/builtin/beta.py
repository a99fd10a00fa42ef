"""Beta family: T(x) = [log x, log(1 - x)] on 0 < x < 1.

x is kept as the point (x, 1 - x) of the 2-simplex: both coordinates are then
computed without cancellation, so log(1 - x) stays exact near x = 1, where a
float32 x on the interval would round to 1 (and log(1 - x) to -inf).
"""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.builtin._common import dirichlet_guess
from nnef_dists.families.domains import Simplex
from nnef_dists.families.registry import register_family


@register_family("beta")
@dataclass(frozen=True)
class Beta(ExponentialFamily):
    """Beta(a, b): eta = [a - 1, b - 1], valid for eta_1, eta_2 > -1.

    A(eta) = log B(eta_1 + 1, eta_2 + 1).
    """

    x_shape: tuple = (2,)

    @cached_property
    def stat_shapes(self):
        return {"log_x": (1,), "log_1mx": (1,)}

    def _compute_stats(self, x):
        return {"log_x": jnp.log(x[:1]), "log_1mx": jnp.log(x[1:])}

    @property
    def domain(self):
        return Simplex(2)

    def eta_bounds(self):
        return {"log_x": (-1.0, np.inf), "log_1mx": (-1.0, np.inf)}

    def natural_guess(self, mu):
        """psi(a) ~ log(a - 1/2) in psi(a_k) - psi(a_0) = E[log x_k], solved for a."""
        return dirichlet_guess(mu)

    def log_partition(self, eta):
        # Not jax.scipy.special.betaln: its min/max split gives a wrong Hessian at a == b.
        a, b = eta[0] + 1.0, eta[1] + 1.0
        return gammaln(a) + gammaln(b) - gammaln(a + b)
