"""Batch normalisation as a bijection (Dinh et al. 2017; used between MAF layers).

    z = (x - m) / sqrt(v + eps) * exp(log_gamma) + beta,
    log |det dz/dx| = sum_i (log_gamma_i - log(v_i + eps) / 2).

In training mode (``use_running_average=False``; ``module.train()``) m and v
are the batch's mean and variance over axis 0 and the running averages
(``nnx.BatchStat``) are updated; in evaluation mode (``module.eval()``) the
running averages are used, and the layer is an elementwise affine map. A
pure training step must therefore return the updated BatchStat state
(see ``estimator.fit``). The inverse always uses the running averages.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class BatchNormFlow(nnx.Module):
    """x (N, D) or (..., D) in evaluation mode <-> z of the same shape; context is ignored."""

    def __init__(self, dim: int, *, momentum: float = 0.9, eps: float = 1e-5):
        self.momentum, self.eps = momentum, eps
        self.use_running_average = False
        self.log_gamma = nnx.Param(jnp.zeros(dim))
        self.beta = nnx.Param(jnp.zeros(dim))
        self.mean = nnx.BatchStat(jnp.zeros(dim))
        self.var = nnx.BatchStat(jnp.ones(dim))

    def _stats(self, x):
        if self.use_running_average:
            return self.mean[...], self.var[...]
        axes = tuple(range(x.ndim - 1))
        mean, var = x.mean(axes), x.var(axes)
        m = self.momentum
        self.mean[...] = m * self.mean[...] + (1 - m) * jax.lax.stop_gradient(mean)
        self.var[...] = m * self.var[...] + (1 - m) * jax.lax.stop_gradient(var)
        return mean, var

    def forward(self, x: jax.Array, context: jax.Array | None = None):
        """x (..., D) -> (z (..., D), log |det dz/dx| (...))."""
        mean, var = self._stats(x)
        z = (x - mean) * jax.lax.rsqrt(var + self.eps) * jnp.exp(self.log_gamma[...])
        logdet = jnp.sum(self.log_gamma[...] - 0.5 * jnp.log(var + self.eps))
        return z + self.beta[...], jnp.broadcast_to(logdet, x.shape[:-1])

    def inverse(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """z (..., D) -> x (..., D) with the running averages."""
        scale = jnp.sqrt(self.var[...] + self.eps) * jnp.exp(-self.log_gamma[...])
        return (z - self.beta[...]) * scale + self.mean[...]
