"""quadratic_et: residual second-order blocks, h -> h + W_o (a(W_1 h) + (W_2 h) * (W_3 h))."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from nnef_dists.models.registry import register_model
from nnef_dists.models.residual import ResidualET

#: Variance scale (x 1 / fan_in) of the initial W_2, W_3: the product starts at
#: about 0.1 of h^2, so stacked blocks (polynomials of degree 2^L) stay of order one.
PRODUCT_INIT_SCALE = 0.1


class QuadraticBranch(nnx.Module):
    """f(h) = W_o (a(W_1 h + b_1) + (W_2 h + b_2) * (W_3 h + b_3)) + b_o: (width,) -> (width,).

    W_2 and W_3 are one dense layer (width -> 2 width), initialised with
    variance PRODUCT_INIT_SCALE / width, so each factor starts at about 0.3 h
    and the product at about 0.1 h^2; W_1 has the standard LeCun
    initialisation and W_o variance 1 / (L * width).
    """

    def __init__(self, width, activation, *, out_init, rngs: nnx.Rngs):
        self.activation = activation
        self.first = nnx.Linear(width, width, rngs=rngs)
        self.factors = nnx.Linear(
            width,
            2 * width,
            kernel_init=nnx.initializers.variance_scaling(
                PRODUCT_INIT_SCALE, "fan_in", "truncated_normal"
            ),
            rngs=rngs,
        )
        self.out = nnx.Linear(width, width, kernel_init=out_init, rngs=rngs)

    def __call__(self, h):
        left, right = jnp.split(self.factors(h), 2, axis=-1)
        return self.out(self.activation(self.first(h)) + left * right)


@register_model("quadratic_et")
class QuadraticET(ResidualET):
    """Residual ET network with multiplicative interactions: eta (k,) -> mu_T (k,).

    Standardised eta -> dense (k -> hidden_sizes[0]) -> one block
    h + W_o (a(W_1 h) + (W_2 h) * (W_3 h)) per entry of hidden_sizes -> dense
    (-> k) -> unstandardised mu_T. Options as in ``ResidualET``: hidden_sizes
    (block widths, default (64, 64)) and activation a of the first-order path
    (default "swish").
    """

    branch = QuadraticBranch
