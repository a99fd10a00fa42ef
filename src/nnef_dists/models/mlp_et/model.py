"""mlp_et: residual MLP, each block h -> h + W2 a(W1 h + b1) + b2."""

from __future__ import annotations

from flax import nnx

from nnef_dists.models.registry import register_model
from nnef_dists.models.residual import ResidualET


class MLPBranch(nnx.Module):
    """f(h) = W2 a(W1 h + b1) + b2: (width,) -> (width,)."""

    def __init__(self, width, activation, *, out_init, rngs: nnx.Rngs):
        self.activation = activation
        self.hidden = nnx.Linear(width, width, rngs=rngs)
        self.out = nnx.Linear(width, width, kernel_init=out_init, rngs=rngs)

    def __call__(self, h):
        return self.out(self.activation(self.hidden(h)))


@register_model("mlp_et")
class MLPET(ResidualET):
    """Residual MLP ET network: eta (k,) -> mu_T (k,).

    Standardised eta -> dense (k -> hidden_sizes[0]) -> one block
    h + W2 a(W1 h + b1) + b2 per entry of hidden_sizes -> dense (-> k)
    -> unstandardised mu_T. Options as in ``ResidualET``: hidden_sizes
    (block widths, default (64, 64)) and activation (default "swish").
    """

    branch = MLPBranch
