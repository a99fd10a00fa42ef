"""glu_et: residual gated linear units, each block h -> h + W_o (a(W_a h) * sigmoid(W_g h))."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from nnef_dists.models.registry import register_model
from nnef_dists.models.residual import ResidualET


class GLUBranch(nnx.Module):
    """f(h) = W_o (a(W_a h + b_a) * sigmoid(W_g h + b_g)) + b_o: (width,) -> (width,).

    The value and gate projections W_a, W_g are one dense layer (width -> 2 width).
    """

    def __init__(self, width, activation, *, out_init, rngs: nnx.Rngs):
        self.activation = activation
        self.value_gate = nnx.Linear(width, 2 * width, rngs=rngs)
        self.out = nnx.Linear(width, width, kernel_init=out_init, rngs=rngs)

    def __call__(self, h):
        value, gate = jnp.split(self.value_gate(h), 2, axis=-1)
        return self.out(self.activation(value) * nnx.sigmoid(gate))


@register_model("glu_et")
class GLUET(ResidualET):
    """Residual gated-linear-unit ET network: eta (k,) -> mu_T (k,).

    Standardised eta -> dense (k -> hidden_sizes[0]) -> one block
    h + W_o (a(W_a h) * sigmoid(W_g h)) per entry of hidden_sizes -> dense
    (-> k) -> unstandardised mu_T. Options as in ``ResidualET``: hidden_sizes
    (block widths, default (64, 64)) and activation a (default "swish").
    """

    branch = GLUBranch
