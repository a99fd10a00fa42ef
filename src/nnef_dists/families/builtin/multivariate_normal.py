"""Multivariate normal family: T(x) = [x, x x^T] on R^d."""

import math
from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.builtin._common import resolve_x_shape
from nnef_dists.families.registry import register_family


@register_family("multivariate_normal")
@dataclass(frozen=True)
class MultivariateNormal(ExponentialFamily):
    """N(m, S) on R^d with eta = [eta_x (d,), eta_xxT (d, d)].

    With the symmetric natural-parameter matrix M = sym(eta_xxT) and the
    precision P = -2 M: eta_x = P m, and eta is valid iff M is negative
    definite (eta_x free). A depends on eta_xxT only through M, so grad A
    gives E[x x^T] in every entry:

        A(eta) = eta_x^T P^-1 eta_x / 2 + (d / 2) log(2 pi) - log det(P) / 2.

    ``reparam_eta`` symmetrises M and, where the smallest eigenvalue of P is
    below ``min_precision``, shifts M's diagonal so that it is exactly
    ``min_precision``: the eta stored in a data set is the reparametrised one.

    Args:
      d: dimension of x.
      min_precision: smallest eigenvalue of P that ``reparam_eta`` allows.
    """

    x_shape: tuple | None = None
    d: int = 2
    min_precision: float = 0.1

    def __post_init__(self):
        resolve_x_shape(self, (self.d,))

    @cached_property
    def stat_shapes(self):
        return {"x": (self.d,), "xxT": (self.d, self.d)}

    def _compute_stats(self, x):
        return {"x": x, "xxT": jnp.outer(x, x)}

    # The tril variant overrides these two (and the statistics); the rest is shared.
    def _split(self, eta):
        """eta (..., stat_dim) -> (eta_x (..., d), symmetric M (..., d, d))."""
        parts = self.unflatten(eta)
        e2 = parts["xxT"]
        return parts["x"], 0.5 * (e2 + jnp.swapaxes(e2, -1, -2))

    def _join(self, eta_x, M):
        """Inverse of ``_split`` for symmetric M: -> eta (..., stat_dim)."""
        return self.flatten({"x": eta_x, "xxT": M})

    def in_natural_space(self, eta):
        """M negative definite, batched over the leading dims of eta."""
        _, M = self._split(eta)
        return jnp.linalg.eigvalsh(M)[..., -1] < 0

    def reference_eta(self):
        """The standard normal: eta_x = 0, M = -I / 2."""
        return np.asarray(self._join(jnp.zeros(self.d), -0.5 * jnp.eye(self.d)))

    def reparam_eta(self, eta):
        """Symmetrise M and lift the precision's spectrum to >= min_precision."""
        eta_x, M = self._split(eta)
        lowest = -2.0 * jnp.linalg.eigvalsh(M)[..., -1]  # smallest eigenvalue of P
        shift = jnp.maximum(self.min_precision - lowest, 0.0)
        return self._join(eta_x, M - 0.5 * shift[..., None, None] * jnp.eye(self.d, dtype=M.dtype))

    def log_partition(self, eta):
        eta_x, M = self._split(eta)
        chol = jnp.linalg.cholesky(-2.0 * M)
        z = solve_triangular(chol, eta_x, lower=True)
        return (
            0.5 * jnp.dot(z, z)
            + 0.5 * self.d * math.log(2.0 * math.pi)
            - jnp.sum(jnp.log(jnp.diag(chol)))
        )
