"""Gaussianization flow layers (Meng et al. 2020, arXiv:2003.01941): a learned rotation,
then an elementwise monotone map built from a mixture of logistic CDFs.

In the density direction, for x (..., D),

    v = R x,   R = H_1 ... H_D  (Householder reflections, |det R| = 1),
    z_i = logit F_i(v_i),   F_i(v) = sum_k w_ik sigmoid((v - m_ik) / s_ik),
    log |det dz/dx| = sum_i [log F_i'(v_i) - log F_i(v_i) - log(1 - F_i(v_i))],

with the weights, means and scales a function of the context. The paper
takes the normal quantile of F; the logistic quantile (logit) used here has
linear tails (logit F(v) ~ v / max s as v -> inf), so the map and its log-
derivative stay exact in float32 far into the tails; the stack of layers
still ends on an N(0, I) base. All terms are evaluated in log space. The
inverse solves the increasing scalar equation by bisection and Newton
(``roots.solve_increasing``), differentiably.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.flows.conditioner import Conditioner
from nnef_dists.flows.roots import solve_increasing


def logistic_mixture_logit(v, log_w, means, log_scales):
    """y = logit F(v) and log dy/dv = log F' - log F - log(1 - F), for
    F = sum_k w_k sigmoid((v - m_k) / s_k).

    Args: v (...,); log_w (normalised), means, log_scales: (..., K).
    Returns: (y, log dy/dv), each (...,).
    """
    u = (v[..., None] - means) * jnp.exp(-log_scales)
    log_f = jax.nn.logsumexp(log_w + jax.nn.log_sigmoid(u), -1)
    log_1mf = jax.nn.logsumexp(log_w + jax.nn.log_sigmoid(-u), -1)
    terms = log_w + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u) - log_scales
    return log_f - log_1mf, jax.nn.logsumexp(terms, -1) - log_f - log_1mf


class GaussianizationLayer(nnx.Module):
    """A rotation and an elementwise logistic-mixture map: x (..., D), context (..., C) or None.

    Args:
      dim: D; context_dim: C; components: K logistic components per dimension;
      hidden: the conditioner's width. Starting means are spread over [-2, 2].
    """

    def __init__(self, dim, context_dim, *, components=8, hidden=64, rngs: nnx.Rngs):
        self.dim, self.components = dim, components
        self.reflections = nnx.Param(jax.random.normal(rngs.params(), (dim, dim)))
        start = np.zeros((dim, 3, components), np.float32)
        start[:, 1] = np.linspace(-2.0, 2.0, components)
        self.mixture = Conditioner(
            context_dim, start.size, bias=start.ravel(), hidden=hidden, rngs=rngs
        )

    def _rotate(self, x, transpose=False):
        """R x (or R^T x): each Householder reflection x - 2 v (v.x) / |v|^2 in turn."""
        vs = self.reflections[...]
        for i in range(self.dim) if transpose else reversed(range(self.dim)):
            v = vs[i]
            x = x - 2 * (x @ v)[..., None] * v / (v @ v)
        return x

    def _mixture(self, context, batch_shape):
        p = self.mixture(context, batch_shape)  # batch: that of x and context, broadcast
        p = p.reshape(*p.shape[:-1], self.dim, 3, self.components)
        return jax.nn.log_softmax(p[..., 0, :], -1), p[..., 1, :], p[..., 2, :]

    def forward(self, x: jax.Array, context: jax.Array | None = None):
        """x (..., D) -> (z (..., D), log |det dz/dx| (...))."""
        log_w, means, log_s = self._mixture(context, x.shape[:-1])
        z, log_dz = logistic_mixture_logit(self._rotate(x), log_w, means, log_s)
        return z, log_dz.sum(-1)

    def inverse(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """z (..., D) -> x (..., D). At hi = max m + max s (max(z, 0) + 1) every component's
        CDF exceeds sigmoid(z), so F(hi) > sigmoid(z); likewise at lo: [lo, hi] brackets."""
        log_w, means, log_s = self._mixture(context, z.shape[:-1])
        s_max = jnp.exp(log_s.max(-1))
        lo = means.min(-1) - s_max * (jnp.maximum(-z, 0) + 1)
        hi = means.max(-1) + s_max * (jnp.maximum(z, 0) + 1)
        f = lambda v: logistic_mixture_logit(v, log_w, means, log_s)[0]
        return self._rotate(solve_increasing(f, z, lo, hi), transpose=True)
