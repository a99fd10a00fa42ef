"""The generic pieces of every flow: the N(0, I) base, a stack of layers on a base, and
compiling a module's method once per graph.

    log p(x | c) = log p_base(f(x; c) | c) + log |det df/dx|,

with f = f_L o ... o f_1 the layers in the density direction (data -> noise);
sampling draws z from the base and runs the inverses, last layer first.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def join(context: jax.Array | None, extra: jax.Array) -> jax.Array:
    """[context, extra] with context (..., C) or None broadcast against extra (..., E)."""
    if context is None:
        return extra
    shape = jnp.broadcast_shapes(context.shape[:-1], extra.shape[:-1])
    parts = (jnp.broadcast_to(v, (*shape, v.shape[-1])) for v in (context, extra))
    return jnp.concatenate(list(parts), -1)


class StandardNormal(nnx.Module):
    """The base density N(0, I) over z (..., D); the context is ignored."""

    def __init__(self, dim: int):
        self.dim = dim

    def log_prob(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """(..., D) -> (...)."""
        return -0.5 * jnp.sum(z**2, -1) - 0.5 * self.dim * jnp.log(2 * jnp.pi)

    def sample(self, key: jax.Array, shape: tuple, context: jax.Array | None = None):
        """Draws (*shape, D)."""
        return jax.random.normal(key, (*shape, self.dim))

    def to_normal(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        return z


class Flow(nnx.Module):
    """A normalising flow: ``layers`` (density direction) and a ``base`` density.

    Every layer has ``forward(x, c) -> (z, log |det dz/dx|)`` and ``inverse(z, c) -> x``;
    the base has ``log_prob(z, c)``, ``sample(key, shape, c)`` and ``to_normal(z, c)``.
    Shapes: x, z (..., D); context c (..., C) or None.
    """

    def __init__(self, layers: list, base: nnx.Module):
        self.layers = nnx.List(layers)
        self.base = base

    def forward(self, x: jax.Array, context: jax.Array | None = None):
        """x (..., D) -> (z (..., D), log |det dz/dx| (...))."""
        logdet = jnp.zeros(x.shape[:-1])
        for layer in self.layers:
            x, ld = layer.forward(x, context)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """z (..., D) -> x (..., D)."""
        for layer in reversed(self.layers):
            z = layer.inverse(z, context)
        return z

    def log_prob(self, x: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """log p(x | c): (..., D) -> (...)."""
        z, logdet = self.forward(x, context)
        return self.base.log_prob(z, context) + logdet

    def sample(self, key: jax.Array, shape: tuple, context: jax.Array | None = None):
        """Draws x (*shape, D); context, when given, broadcasts to (*shape, C)."""
        return self.inverse(self.base.sample(key, shape, context), context)

    def to_normal(self, x: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """x (..., D) -> its image in N(0, I) (layers, then the base's Rosenblatt map)."""
        return self.base.to_normal(self.forward(x, context)[0], context)

    def sample_rows(self, key: jax.Array, context: jax.Array, n: int) -> jax.Array:
        """n draws per context row: context (M, C) -> (M, n, D).

        The context enters as (M, 1, C), broadcast against the draws: the MADEs'
        context terms are computed once per row, not once per draw."""
        return self.sample(key, (context.shape[0], n), context[:, None, :])


_COMPILED: dict = {}


def compiled(module: nnx.Module, method: str, *static):
    """``module.<method>(*args, *static)`` as a jitted function of args, on its current state.

    One compilation per graph, method and static arguments (cached), so a
    module that is trained further or reloaded reuses it.
    """
    graphdef, state = nnx.split(module)
    key = (graphdef, method, static)
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(
            lambda state, *args: getattr(nnx.merge(graphdef, state), method)(*args, *static)
        )
    return partial(_COMPILED[key], state)


def sample_rows(module: nnx.Module, key: jax.Array, context, n: int, chunk: int) -> np.ndarray:
    """``module.sample_rows`` in compiled calls of at most about ``chunk`` draws:
    context (M, C) -> draws (M, n, D).

    The rows are cut into equal chunks, the last one padded by fewer rows than
    there are chunks, so that one compilation serves them all."""
    num_rows = len(context)
    chunks = max(1, -(-num_rows * n // chunk))
    rows = -(-num_rows // chunks)
    context = np.concatenate([context, np.repeat(context[-1:], chunks * rows - num_rows, 0)])
    draw = compiled(module, "sample_rows", n)
    pieces = [
        np.asarray(draw(jax.random.fold_in(key, i), part))
        for i, part in enumerate(np.split(context, chunks))
    ]
    return np.concatenate(pieces)[:num_rows]
