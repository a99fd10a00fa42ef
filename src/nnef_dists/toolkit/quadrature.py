"""What the toolkit needs of a quadrature rule beyond mu_T, cov_TT and A: E[log h(x)]
and the nodes themselves (for sampling by the inverse CDF).

Both come from the family's own rule run on ``WithBaseAndX``: the same family
with log h(x) and x appended to T(x), at eta padded with zeros, so the nodes,
weights and integration limits are exactly those of the family.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from nnef_dists.families import ExponentialFamily
from nnef_dists.sampling.quadrature import rule_for


@dataclass(frozen=True)
class WithBaseAndX(ExponentialFamily):
    """``base`` with statistics T(x), then log h(x) and x (flattened)."""

    base: ExponentialFamily | None = None

    def __post_init__(self):
        object.__setattr__(self, "x_shape", tuple(self.base.x_shape))

    @cached_property
    def stat_shapes(self):
        return {**self.base.stat_shapes, "__log_h": (1,), "__x": self.base.x_shape}

    def _compute_stats(self, x):
        log_h = jnp.reshape(self.base.log_base_measure(x), (1,))
        return {**self.base._compute_stats(x), "__log_h": log_h, "__x": x}

    @property
    def domain(self):
        return self.base.domain

    def log_base_measure(self, x):
        return self.base.log_base_measure(x)

    def quadrature_breakpoints(self):
        return self.base.quadrature_breakpoints()


def nodes(family: ExponentialFamily, eta):
    """Quadrature nodes at eta (k,): probabilities p (M,), log h (M,), x (M, *x_shape)."""
    wide = WithBaseAndX(base=family)
    padded = jnp.concatenate([eta, jnp.zeros(wide.stat_dim - family.stat_dim, eta.dtype)])
    log_w, stats, _ = rule_for(wide)(padded)
    p = jnp.exp(log_w - logsumexp(log_w))
    k = family.stat_dim
    return p, stats[:, k], stats[:, k + 1 :].reshape(-1, *family.x_shape)


def expected_log_base(family: ExponentialFamily, eta):
    """E[log h(x) | eta] (): 0 where h is the default 1, else by the family's rule."""
    if type(family).log_base_measure is ExponentialFamily.log_base_measure:
        return jnp.zeros((), eta.dtype)
    p, log_h, _ = nodes(family, eta)
    return p @ log_h


def inverse_cdf_sample(family: ExponentialFamily, key, eta, n: int):
    """n draws (n, 1) of a 1-D family at eta (k,) by the inverse of the quadrature CDF.

    The CDF is piecewise linear through (x_j, sum_{i<j} p_i + p_j / 2) at the
    sorted nodes x_j, whose spacing follows the mass (double-exponential rules).
    """
    p, _, x = nodes(family, eta)
    x = jnp.where(p > 0, x[:, 0], jnp.inf)  # dropped nodes (no mass) sort last
    order = jnp.argsort(x)
    x, p = x[order], p[order]
    cdf = jnp.cumsum(p) - 0.5 * p
    top = jnp.max(jnp.where(p > 0, cdf, -jnp.inf))
    u = jax.random.uniform(key, (n,), eta.dtype, minval=cdf[0], maxval=top)
    return jnp.interp(u, cdf, x)[:, None]


def is_one_dimensional(family: ExponentialFamily) -> bool:
    return int(np.prod(family.x_shape)) == 1
