"""The affine autoregressive layer of MAF (Papamakarios et al. 2017): one MADE, shift and scale.

In the density direction (data x -> noise z), for every dimension i,

    z_i = (x_i - m_i(x_<i, c)) * exp(-a_i(x_<i, c)),
    log |det dz/dx| = -sum_i a_i,

with the log-scale ``a = s * tanh(raw / s)`` soft-clamped to (-s, s), so that
a deep stack cannot blow up on held-out data. The inverse (sampling) solves
the recursion ``x_i = z_i exp(a_i) + m_i`` in D passes of the MADE.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from nnef_dists.flows.made import MADESpec, autoregressive_inverse
from nnef_dists.numerics import soft_clamp


class AffineMADE(nnx.Module):
    """One MAF layer: x (..., D), context (..., C) or None <-> z (..., D).

    Args:
      spec: the MADE's dimensions and size (``MADESpec``).
      order: (D,) autoregressive order of the MADE (default 0..D-1).
      max_log_scale: bound s of the per-dimension log-scale.
    """

    def __init__(self, spec: MADESpec, *, order=None, max_log_scale=3.0, rngs: nnx.Rngs):
        self.dim, self.max_log_scale = spec.dim, max_log_scale
        self.made = spec.build(2, order, rngs)

    def _shift_log_scale(self, x, context):
        out = self.made(x, context)
        return out[..., 0], soft_clamp(out[..., 1], self.max_log_scale)

    def forward(self, x: jax.Array, context: jax.Array | None = None):
        """x (..., D) -> (z (..., D), log |det dz/dx| (...))."""
        shift, log_scale = self._shift_log_scale(x, context)
        return (x - shift) * jnp.exp(-log_scale), -log_scale.sum(-1)

    def inverse(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """z (..., D) -> x (..., D), by D passes of the MADE."""

        def step(x):
            shift, log_scale = self._shift_log_scale(x, context)
            return z * jnp.exp(log_scale) + shift

        return autoregressive_inverse(step, z, self.dim, context)
