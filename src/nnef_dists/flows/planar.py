"""Planar flow layers (Rezende and Mohamed 2015, arXiv:1505.05770), with context.

In the density direction, for x (..., D),

    z = x + u' tanh(w.x + b),     log |det dz/dx| = log(1 + (w.u') tanh'(w.x + b)),

where u' = u + (m(w.u) - w.u) w / |w|^2 and m(a) = -1 + softplus(a) make
w.u' = m(w.u) > -1: the map is then invertible (the paper's constraint on u).
The inverse solves the scalar equation w.z = a + (w.u') tanh(a + b) for
a = w.x, increasing in a, bracketed by w.z -+ |w.u'|, by bisection and Newton
(``roots.solve_increasing``); then x = z - u' tanh(a + b). u, w, b are a
function of the context.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.flows.conditioner import Conditioner
from nnef_dists.flows.roots import solve_increasing

#: w.u at which m(w.u) = 0, so that u' = 0
IDENTITY_WU = float(np.log(np.e - 1))


class PlanarLayer(nnx.Module):
    """One planar layer: x (..., D), context (..., C) or None <-> z (..., D).

    Args:
      dim: D; context_dim: C; hidden: the conditioner's width. w starts as a
      random unit vector and u at log(e - 1) w, where u' = 0 (the identity).
    """

    def __init__(self, dim: int, context_dim: int, *, hidden: int = 64, rngs: nnx.Rngs):
        self.dim = dim
        w = np.asarray(jax.random.normal(rngs.params(), (dim,)))
        w = w / np.linalg.norm(w)
        start = np.concatenate([IDENTITY_WU * w, w, [0.0]])  # u' = 0: the identity
        self.params = Conditioner(context_dim, 2 * dim + 1, bias=start, hidden=hidden, rngs=rngs)

    def _uwb(self, context, batch_shape):
        """(u' (..., D), w (..., D), b (...)) with w.u' > -1."""
        p = self.params(context, batch_shape)
        u, w, b = p[..., : self.dim], p[..., self.dim : -1], p[..., -1]
        wu = jnp.sum(w * u, -1, keepdims=True)
        u = u + (jax.nn.softplus(wu) - 1 - wu) * w / jnp.sum(w**2, -1, keepdims=True)
        return u, w, b

    def forward(self, x: jax.Array, context: jax.Array | None = None):
        """x (..., D) -> (z (..., D), log |det dz/dx| (...))."""
        u, w, b = self._uwb(context, x.shape[:-1])
        h = jnp.tanh(jnp.sum(w * x, -1) + b)
        return x + u * h[..., None], jnp.log1p(jnp.sum(w * u, -1) * (1 - h**2))

    def inverse(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """z (..., D) -> x (..., D)."""
        u, w, b = self._uwb(context, z.shape[:-1])
        wz, wu = jnp.sum(w * z, -1), jnp.sum(w * u, -1)
        a = solve_increasing(
            lambda a: a + wu * jnp.tanh(a + b), wz, wz - jnp.abs(wu), wz + jnp.abs(wu)
        )
        return z - u * jnp.tanh(a + b)[..., None]
