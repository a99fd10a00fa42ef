"""Polynomial exponential family: T(x) = [x, x^2, ..., x^p] on the real line."""

import numbers
from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.registry import register_family


@register_family("polynomial")
@dataclass(frozen=True)
class Polynomial(ExponentialFamily):
    """p(x) ~ exp(sum_k eta_k x^k), k = 1..p, for even p: valid iff eta_p < 0.

    No closed-form A(eta) for p > 2.

    Args:
      p: the (even, >= 2) degree; T(x) has shape (p,).
    """

    x_shape: tuple = (1,)
    p: int = 4

    def __post_init__(self):
        p = self.p
        if isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 2 or p % 2:
            raise ValueError(f"polynomial family: p must be an even integer >= 2, got {self.p!r}")

    @cached_property
    def stat_shapes(self):
        return {"x_powers": (self.p,)}

    def _compute_stats(self, x):
        return {"x_powers": jnp.cumprod(jnp.broadcast_to(x, (self.p,)))}

    def in_natural_space(self, eta):
        return eta[..., -1] < 0

    def reference_eta(self):
        """exp(-x^p): the highest power's coefficient -1, the others 0."""
        return np.append(np.zeros(self.p - 1), -1.0)
