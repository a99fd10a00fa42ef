"""Shared skeleton of the residual ET networks (mlp_et, glu_et, quadratic_et).

For one eta (k,), with z = (eta - eta_mean) / eta_scale:

    h_0 = W_in z + b_in                                   (w_0,)
    h_i = P_i h_{i-1} + f_i(P_i h_{i-1})                  (w_i,), i = 1..L
    mu_T = mu_mean + mu_scale * (W_out h_L + b_out)       (k,)

where w_i = hidden_sizes[i-1], P_i is a dense projection when w_{i-1} != w_i
(the identity otherwise), and f_i is the model's residual branch. The last
dense layer of every branch is initialised with variance 1 / (L * fan_in), so
the L residual additions leave h (and the standardised output) of order one.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import jax
import jax.numpy as jnp
from flax import nnx

from nnef_dists.models.base import ETModel

#: Activation names accepted by the residual models' ``activation`` option.
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "swish": nnx.swish,
    "silu": nnx.silu,
    "gelu": nnx.gelu,
    "relu": nnx.relu,
    "elu": nnx.elu,
    "softplus": nnx.softplus,
    "tanh": jnp.tanh,
}


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The elementwise function called ``name``; ValueError naming it if unknown."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}"
        ) from None


class Branch(Protocol):
    """A residual branch f: (width,) -> (width,).

    Built as ``Branch(width, activation, out_init=..., rngs=...)``, where
    ``out_init`` is the kernel initialiser of its last dense layer.
    """

    def __init__(
        self,
        width: int,
        activation: Callable[[jax.Array], jax.Array],
        *,
        out_init: nnx.Initializer,
        rngs: nnx.Rngs,
    ): ...

    def __call__(self, h: jax.Array) -> jax.Array: ...


class _ResidualStage(nnx.Module):
    """h (w_in,) -> g + f(g) (w_out,), with g = P h (P dense only if w_in != w_out)."""

    def __init__(self, w_in: int, w_out: int, branch: Branch, rngs: nnx.Rngs):
        self.proj = nnx.Linear(w_in, w_out, rngs=rngs) if w_in != w_out else None
        self.branch = branch

    def __call__(self, h: jax.Array) -> jax.Array:
        if self.proj is not None:
            h = self.proj(h)
        return h + self.branch(h)


def _check_hidden_sizes(hidden_sizes) -> tuple[int, ...]:
    """hidden_sizes as a tuple of ints; ValueError unless a non-empty list of positive ints."""
    sizes = tuple(hidden_sizes) if isinstance(hidden_sizes, (list, tuple)) else ()
    if not sizes or not all(
        isinstance(w, numbers.Integral) and not isinstance(w, bool) and w >= 1 for w in sizes
    ):
        raise ValueError(
            f"hidden_sizes must be a non-empty list of positive ints, got {hidden_sizes!r}"
        )
    return tuple(int(w) for w in sizes)


@dataclass(frozen=True)
class ResidualOptions:
    """activation: elementwise nonlinearity of the branches, one of ``ACTIVATIONS``."""

    activation: str = "swish"

    def __post_init__(self):
        get_activation(self.activation)


class ResidualET(ETModel):
    """Base class: standardise eta -> input projection -> residual blocks -> output.

    A subclass sets only ``branch`` (a ``Branch`` class) and its docstring.
    ``hidden_sizes``: the width of each residual block, in order; a dense
    projection joins consecutive blocks of different widths. Options:
    ``ResidualOptions``.
    """

    branch: ClassVar[type[Branch]]
    Options = ResidualOptions

    def build(self, hidden_sizes, rngs: nnx.Rngs) -> None:
        act = get_activation(self.options.activation)
        sizes = _check_hidden_sizes(hidden_sizes)
        out_init = nnx.initializers.variance_scaling(1.0 / len(sizes), "fan_in", "truncated_normal")
        self.input = nnx.Linear(self.eta_dim, sizes[0], rngs=rngs)
        self.blocks = nnx.List(
            [
                _ResidualStage(w_in, w, self.branch(w, act, out_init=out_init, rngs=rngs), rngs)
                for w_in, w in zip(sizes[:1] + sizes[:-1], sizes, strict=True)
            ]
        )
        self.output = nnx.Linear(sizes[-1], self.eta_dim, rngs=rngs)

    def mu_T(self, eta: jax.Array) -> jax.Array:
        """E[T(x) | eta]: (k,) -> (k,)."""
        h = self.input(self.norm.standardize_eta(eta))
        for block in self.blocks:
            h = block(h)
        return self.norm.unstandardize_mu(self.output(h))


__all__ = ["ACTIVATIONS", "Branch", "ResidualET", "get_activation"]
