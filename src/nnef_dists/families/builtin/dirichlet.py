"""Dirichlet family: T(x) = log x on the probability simplex in R^K."""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.builtin._common import dirichlet_guess, resolve_x_shape
from nnef_dists.families.domains import Simplex
from nnef_dists.families.registry import register_family


@register_family("dirichlet")
@dataclass(frozen=True)
class Dirichlet(ExponentialFamily):
    """Dirichlet(alpha) on the simplex: eta = alpha - 1 (K,), valid for every eta_i > -1.

    The density is with respect to Lebesgue measure on x_1..x_(K-1) (as in
    ``Simplex``), so A(eta) = sum_i lgamma(eta_i + 1) - lgamma(sum_i (eta_i + 1)).

    Args:
      K: number of components; x has shape (K,).
    """

    x_shape: tuple | None = None
    K: int = 3

    def __post_init__(self):
        resolve_x_shape(self, (self.K,))

    @property
    def domain(self):
        return Simplex(self.K)

    @cached_property
    def stat_shapes(self):
        return {"log_x": (self.K,)}

    def _compute_stats(self, x):
        return {"log_x": jnp.log(x)}

    def eta_bounds(self):
        return {"log_x": (-1.0, np.inf)}

    def natural_guess(self, mu):
        """psi(a) ~ log(a - 1/2) in psi(a_k) - psi(a_0) = E[log x_k], solved for a."""
        return dirichlet_guess(mu)

    def log_partition(self, eta):
        alpha = eta + 1.0
        return jnp.sum(gammaln(alpha)) - gammaln(jnp.sum(alpha))
