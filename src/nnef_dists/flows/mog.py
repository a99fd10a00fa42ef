"""An autoregressive mixture-of-Gaussians density (MADE-MoG; Papamakarios et al. 2017).

    p(z | c) = prod_i sum_k pi_ik N(z_i; m_ik, sigma_ik^2),

with (logits of pi_i, m_i, log sigma_i) of dimension i from a MADE of the z_j
earlier in the order and of the context c. Used on its own (MADE-MoG) or as
the base density of a MAF (MAF-MoG). Sampling draws each z_i given the
earlier ones (D passes of the MADE); ``to_normal`` is the Rosenblatt map
u_i = Phi^-1(F_i(z_i | z_<i, c)), standard normal when z ~ p(. | c).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax.scipy.special import ndtr, ndtri

from nnef_dists.flows.made import MADESpec, autoregressive_inverse
from nnef_dists.numerics import soft_clamp


class MADEMoG(nnx.Module):
    """Base density over z (..., D) given context (..., C) or None, with K components.

    Args:
      spec: the MADE's dimensions and size (``MADESpec``).
      components: K; order: (D,) autoregressive order (default 0..D-1).
      max_log_scale: bound of |log sigma|.
    """

    def __init__(self, spec: MADESpec, *, components=5, order=None, max_log_scale=5.0, rngs):
        self.dim, self.components, self.max_log_scale = spec.dim, components, max_log_scale
        self.made = spec.build(3 * components, order, rngs, output_scale=0.1)
        # distinct initial means break the symmetry between the components
        bias = self.made.output.bias[...].reshape(spec.dim, 3, components)
        means = jax.random.normal(rngs.params(), (spec.dim, components))
        self.made.output.bias[...] = bias.at[:, 1].set(means).reshape(-1)

    def _mixture(self, z, context):
        """Per dimension: log pi, means, log sigma, each (..., D, K)."""
        out = self.made(z, context).reshape(*z.shape, 3, self.components)
        log_pi = jax.nn.log_softmax(out[..., 0, :], axis=-1)
        return log_pi, out[..., 1, :], soft_clamp(out[..., 2, :], self.max_log_scale)

    def log_prob(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """log p(z | c): z (..., D) -> (...)."""
        log_pi, mean, log_sigma = self._mixture(z, context)
        u = (z[..., None] - mean) * jnp.exp(-log_sigma)
        log_n = -0.5 * u**2 - log_sigma - 0.5 * jnp.log(2 * jnp.pi)
        return jax.nn.logsumexp(log_pi + log_n, axis=-1).sum(-1)

    def sample(self, key: jax.Array, shape: tuple, context: jax.Array | None = None):
        """Draws (*shape, D); context, when given, is (*shape, C)."""
        k_comp, k_noise = jax.random.split(key)
        gumbel = jax.random.gumbel(k_comp, (*shape, self.dim, self.components))
        noise = jax.random.normal(k_noise, (*shape, self.dim))

        def step(z):
            log_pi, mean, log_sigma = self._mixture(z, context)
            pick = jax.nn.one_hot(jnp.argmax(log_pi + gumbel, -1), self.components)
            return jnp.sum(pick * (mean + jnp.exp(log_sigma) * noise[..., None]), -1)

        return autoregressive_inverse(step, noise, self.dim, context)

    def to_normal(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """The Rosenblatt map to N(0, I): z (..., D) -> (..., D)."""
        log_pi, mean, log_sigma = self._mixture(z, context)
        cdf = jnp.sum(jnp.exp(log_pi) * ndtr((z[..., None] - mean) * jnp.exp(-log_sigma)), -1)
        eps = jnp.finfo(z.dtype).eps
        return ndtri(jnp.clip(cdf, eps, 1 - eps))
