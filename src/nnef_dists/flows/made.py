"""MADE: a masked autoencoder for distribution estimation (Germain et al. 2015), with context.

A MADE maps x (..., D) and an optional context c (..., C) to per-dimension
parameters out (..., D, P) such that out[..., i, :] depends on c and on the
x_j that come before x_i in the autoregressive ``order`` only:

    d out[i] / d x_j = 0   unless   order[j] < order[i].

The order is a permutation of 0..D-1 (``order[i]`` is x_i's position). Hidden
units get degrees 0..D-1 (a unit of degree k sees the inputs in positions
0..k-1; units of degree 0 see the context only), so the first
dimension in the order still depends on the context. The context enters every
hidden layer through an unmasked dense map, and the outputs also through a
context-only path (a dense layer of width H, then an unmasked dense map to
every output): the first dimensions of the order, which see only the few
degree-0 hidden units, still get a network as wide as the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class Mask(nnx.Variable):
    """A fixed 0/1 connectivity mask (not trained, saved with the model)."""


class Order(nnx.Variable):
    """A fixed autoregressive order, a permutation of 0..D-1 (not trained)."""


def made_masks(order, hidden: int, hidden_layers: int, params_per_dim: int) -> list[np.ndarray]:
    """The masks of a MADE: input (D, H), hidden (H, H) per extra layer, output (H, D * P).

    Args:
      order: (D,) permutation; x_i has degree ``order[i] + 1``.
      hidden: width H of every hidden layer; hidden units get degrees
        ``arange(H) % D`` (0..D-1).
      hidden_layers: number of hidden layers (>= 1).
      params_per_dim: P; output unit ``i * P + p`` has the degree of x_i.

    A unit of degree k sees units of degree <= k of the layer below; an output
    of degree d sees hidden units of degree < d.
    """
    order = np.asarray(order)
    dim = len(order)
    deg_in = order + 1
    deg_hidden = np.arange(hidden) % dim
    masks = [(deg_hidden[None, :] >= deg_in[:, None]).astype(np.float32)]
    for _ in range(hidden_layers - 1):
        masks.append((deg_hidden[None, :] >= deg_hidden[:, None]).astype(np.float32))
    deg_out = np.repeat(deg_in, params_per_dim)
    masks.append((deg_out[None, :] > deg_hidden[:, None]).astype(np.float32))
    return masks


class MaskedLinear(nnx.Module):
    """``x @ (kernel * mask) + bias``: x (..., n_in) -> (..., n_out)."""

    def __init__(self, mask: np.ndarray, *, rngs: nnx.Rngs, init_scale: float = 1.0):
        n_in, n_out = mask.shape
        fan_in = np.maximum(mask.sum(0), 1.0)  # per output unit: its connected inputs
        std = init_scale / np.sqrt(fan_in)
        self.kernel = nnx.Param(jax.random.normal(rngs.params(), (n_in, n_out)) * std)
        self.bias = nnx.Param(jnp.zeros(n_out))
        self.mask = Mask(jnp.asarray(mask))

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ (self.kernel[...] * self.mask[...]) + self.bias[...]


@dataclass(frozen=True)
class MADESpec:
    """The MADEs of a flow: D dimensions given C context features, their width and depth."""

    dim: int
    context_dim: int = 0
    hidden: int = 64
    hidden_layers: int = 2

    def build(self, params_per_dim: int, order, rngs: nnx.Rngs, output_scale: float = 1e-2):
        """A MADE with P = ``params_per_dim`` outputs per dimension, in ``order``."""
        return MADE(
            self.dim,
            self.context_dim,
            params_per_dim,
            order=order,
            hidden=self.hidden,
            hidden_layers=self.hidden_layers,
            output_scale=output_scale,
            rngs=rngs,
        )


class MADE(nnx.Module):
    """Autoregressive network: x (..., D), context (..., C) or None -> (..., D, P).

    Args:
      dim: D; context_dim: C (0 for none); params_per_dim: P.
      order: (D,) permutation of 0..D-1 (default: 0..D-1).
      hidden: width of the hidden layers; hidden_layers: their number.
      output_scale: initial scale of the output weights (small: each layer
        starts near a fixed map, which keeps deep stacks stable).
    """

    def __init__(
        self,
        dim: int,
        context_dim: int,
        params_per_dim: int,
        *,
        order=None,
        hidden: int = 64,
        hidden_layers: int = 2,
        output_scale: float = 1e-2,
        activation: Callable = jax.nn.relu,
        rngs: nnx.Rngs,
    ):
        order = np.arange(dim) if order is None else np.asarray(order)
        if sorted(order.tolist()) != list(range(dim)):
            raise ValueError(f"order must be a permutation of 0..{dim - 1}, got {order.tolist()}")
        self.dim, self.context_dim, self.params_per_dim = dim, context_dim, params_per_dim
        self.activation = activation
        self.order = Order(jnp.asarray(order, jnp.int32))
        masks = made_masks(order, hidden, hidden_layers, params_per_dim)
        self.hidden = nnx.List([MaskedLinear(m, rngs=rngs) for m in masks[:-1]])
        self.output = MaskedLinear(masks[-1], rngs=rngs, init_scale=output_scale)
        if context_dim:
            self.context = nnx.List(
                [nnx.Linear(context_dim, hidden, rngs=rngs) for _ in masks[:-1]]
            )
            self.context_hidden = nnx.Linear(context_dim, hidden, rngs=rngs)
            full = np.ones((hidden, dim * params_per_dim), np.float32)
            self.context_output = MaskedLinear(full, rngs=rngs, init_scale=output_scale)
        else:
            self.context = self.context_hidden = self.context_output = None

    def __call__(self, x: jax.Array, context: jax.Array | None = None) -> jax.Array:
        h = x
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if self.context is not None:
                h = h + self.context[i](context)
            h = self.activation(h)
        out = self.output(h)
        if self.context is not None:
            out = out + self.context_output(self.activation(self.context_hidden(context)))
        return out.reshape(*out.shape[:-1], self.dim, self.params_per_dim)


def autoregressive_inverse(
    step: Callable, z: jax.Array, dim: int, context: jax.Array | None = None
) -> jax.Array:
    """Solve an autoregressive map by fixed-point iteration: ``dim`` passes of ``x <- step(x)``.

    ``step(x)`` (..., D) -> (..., D) must compute every x_i from the (fixed)
    target z and from the x_j earlier in the order, broadcasting x against z;
    after pass t the first t positions are exact, so after D passes all are.
    The first pass starts from x = 0, the same for every z of a context row, so
    it runs on one x per row, (*context.shape[:-1], D) (a row's draws share
    that MADE evaluation: for D = 2 half the work of sampling).
    """
    rows = () if context is None else context.shape[:-1]
    first = step(jnp.zeros((*rows, dim), z.dtype))
    return jax.lax.fori_loop(1, dim, lambda _, x: step(x), first)


def orders(dim: int, count: int, kind: str = "reverse", seed: int = 0) -> list[np.ndarray]:
    """``count`` autoregressive orders over D dims: 0..D-1 first, then reversed in turn
    (``reverse``) or random permutations (``random``)."""
    if kind == "reverse":
        return [np.arange(dim)[:: (-1) ** i] for i in range(count)]
    if kind == "random":
        rng = np.random.default_rng(seed)
        return [np.arange(dim)] + [rng.permutation(dim) for _ in range(count - 1)]
    raise ValueError(f"order must be 'reverse' or 'random', got {kind!r}")
