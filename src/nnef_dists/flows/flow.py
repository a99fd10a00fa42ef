"""Flows: a stack of bijections x -> z on top of a base density, and the registry of kinds.

    log p(x | c) = log p_base(f(x; c) | c) + log |det df/dx|,

with f = f_L o ... o f_1 the layers in the density direction (data -> noise);
sampling draws z from the base and runs the inverses, last layer first.

Kinds (``FLOWS``):

- ``made``: one affine MADE layer on N(0, I);
- ``made-mog``: a MADE mixture of Gaussians (no layers);
- ``maf``: ``blocks`` affine MADE layers, orders reversed (or random) between them;
- ``maf-mog``: the same on a MADE-MoG base;
- ``nsf``: ``blocks`` autoregressive rational-quadratic spline layers on N(0, I).

With ``batch_norm`` a BatchNormFlow sits between consecutive layers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.flows.batchnorm import BatchNormFlow
from nnef_dists.flows.made import MADESpec
from nnef_dists.flows.maf import AffineMADE
from nnef_dists.flows.mog import MADEMoG
from nnef_dists.flows.nsf import SplineMADE


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


def orders(dim: int, count: int, kind: str = "reverse", seed: int = 0) -> list[np.ndarray]:
    """``count`` autoregressive orders over D dims: 0..D-1 first, then reversed in turn
    (``reverse``) or random permutations (``random``)."""
    if kind == "reverse":
        return [np.arange(dim)[:: (-1) ** i] for i in range(count)]
    if kind == "random":
        rng = np.random.default_rng(seed)
        return [np.arange(dim)] + [rng.permutation(dim) for _ in range(count - 1)]
    raise ValueError(f"order must be 'reverse' or 'random', got {kind!r}")


#: Layer kind -> builder (MADESpec, FlowConfig, order (D,) or None, rngs) -> a layer with
#: ``forward(x, c) -> (z, log |det dz/dx|)`` and ``inverse(z, c) -> x`` (tests cover them all).
LAYERS = {
    "affine_made": lambda spec, config, order, rngs: AffineMADE(
        spec, order=order, max_log_scale=config.max_log_scale, rngs=rngs
    ),
    "spline_made": lambda spec, config, order, rngs: SplineMADE(
        spec, order=order, bins=config.bins, bound=config.bound, rngs=rngs
    ),
    "batch_norm": lambda spec, config, order, rngs: BatchNormFlow(spec.dim),
}

#: kind -> (its LAYERS kind or None, one layer only, MADE-MoG base)
FLOWS = {
    "made": ("affine_made", True, False),
    "made-mog": (None, True, True),
    "maf": ("affine_made", False, False),
    "maf-mog": ("affine_made", False, True),
    "nsf": ("spline_made", False, False),
}


@dataclass(frozen=True)
class FlowConfig:
    """The architecture of a flow (stored in a model's config.yaml).

    Attributes:
      flow: a kind of ``FLOWS``; hidden: MADE width; blocks: number of layers
        (maf, maf-mog, nsf); hidden_layers: per MADE; components: mixture
        components (MoG bases); bins, bound: spline bins K and interval [-B, B]
        (nsf); max_log_scale: bound of the affine log-scales; batch_norm:
        BatchNormFlow between layers; order: ``reverse`` or ``random``.
    """

    flow: str = "maf"
    hidden: int = 64
    blocks: int = 5
    hidden_layers: int = 2
    components: int = 5
    bins: int = 8
    bound: float = 5.0
    max_log_scale: float = 3.0
    batch_norm: bool = False
    order: str = "reverse"

    def __post_init__(self):
        if self.flow not in FLOWS:
            raise ValueError(f"unknown flow {self.flow!r}; choose one of {', '.join(FLOWS)}")
        for name in ("hidden", "blocks", "hidden_layers", "components", "bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        orders(1, 1, self.order)

    @classmethod
    def from_dict(cls, record: dict) -> FlowConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(record) - names
        if unknown:
            raise ValueError(f"unknown flow settings: {', '.join(sorted(unknown))}")
        return cls(**record)

    def build(self, dim: int, context_dim: int = 0, seed: int = 0) -> Flow:
        """A freshly initialised Flow over D = ``dim`` given C = ``context_dim``."""
        layer, single, mog = FLOWS[self.flow]
        count = 0 if layer is None else 1 if single else self.blocks
        rngs = nnx.Rngs(seed)
        spec = MADESpec(dim, context_dim, self.hidden, self.hidden_layers)
        all_orders = orders(dim, count + 1, self.order, seed)
        layers = []
        for i in range(count):
            if self.batch_norm and i > 0:
                layers.append(LAYERS["batch_norm"](spec, self, None, rngs))
            layers.append(LAYERS[layer](spec, self, all_orders[i], rngs))
        if mog:
            base = MADEMoG(spec, components=self.components, order=all_orders[count], rngs=rngs)
        else:
            base = StandardNormal(dim)
        return Flow(layers, base)
