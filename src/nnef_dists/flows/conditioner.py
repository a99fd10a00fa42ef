"""The parameters of a layer as a function of its context: a small MLP, or constants.

    theta(c) = bias + W_out relu(... relu(W_1 c + b_1) ...)     (C > 0)
    theta    = bias                                             (C = 0)

The output weights start small (``output_scale``) and ``bias`` is the
layer's chosen starting point, so a fresh layer starts near a fixed map.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class Conditioner(nnx.Module):
    """context (..., C) or None -> parameters (..., P), broadcast to ``batch_shape`` when C = 0.

    Args:
      context_dim: C (0: the parameters are free constants); size: P.
      bias: (P,) starting parameters (default zeros).
      hidden, hidden_layers: the MLP's width and depth.
      output_scale: initial scale of the output weights.
    """

    def __init__(
        self,
        context_dim: int,
        size: int,
        *,
        bias=None,
        hidden: int = 64,
        hidden_layers: int = 2,
        output_scale: float = 1e-2,
        rngs: nnx.Rngs,
    ):
        self.context_dim, self.size = context_dim, size
        start = np.zeros(size, np.float32) if bias is None else np.asarray(bias, np.float32)
        self.bias = nnx.Param(jnp.asarray(start.reshape(size)))
        widths = [context_dim] + [hidden] * hidden_layers
        self.hidden = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:], strict=True)]
            if context_dim
            else []
        )
        init = nnx.initializers.normal(output_scale / np.sqrt(hidden))
        self.output = (
            nnx.Linear(hidden, size, use_bias=False, kernel_init=init, rngs=rngs)
            if context_dim
            else None
        )

    def __call__(self, context: jax.Array | None, batch_shape: tuple = ()) -> jax.Array:
        if self.output is None:
            return jnp.broadcast_to(self.bias[...], (*batch_shape, self.size))
        h = context
        for layer in self.hidden:
            h = jax.nn.relu(layer(h))
        out = self.output(h) + self.bias[...]
        return jnp.broadcast_to(
            out, (*jnp.broadcast_shapes(out.shape[:-1], batch_shape), self.size)
        )
