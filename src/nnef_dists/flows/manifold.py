"""Flows on joint manifolds: blocks of Euclidean space, spheres, intervals and simplices.

The target space is a string such as ``"e4+s2+e1"`` (``flows.spaces``). Layers
are letters per block, e.g. ``"gggg+n+a"``:

- ``a`` affine autoregressive (MAF), ``n`` rational-quadratic spline (NSF),
  ``g`` Gaussianization, ``p`` planar, on ``e``, ``i`` and ``x`` blocks (the
  last two through their chart: logit, stick-breaking);
- ``n`` on ``s`` blocks: circular and interval splines in the sphere's angles.

Blocks are autoregressive in order: block b is a flow conditioned on the
features and on the coordinates of blocks 0..b-1, so

    log p(x | c) = sum_b log p_b(x_b | c, x_<b).

Every block maps to N(0, I) for coverage (``to_normal``): Euclidean blocks
and charted ones through a Gaussian base, spheres through the normal
quantiles of their uniform base.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.flows.base import Flow, StandardNormal, join
from nnef_dists.flows.charts import IntervalChart, SimplexChart, SphereChart
from nnef_dists.flows.gaussianization import GaussianizationLayer
from nnef_dists.flows.made import MADESpec, orders
from nnef_dists.flows.maf import AffineMADE
from nnef_dists.flows.nsf import SplineMADE
from nnef_dists.flows.planar import PlanarLayer
from nnef_dists.flows.spaces import Block, parse_manifold
from nnef_dists.flows.sphere import SphereSpline, UniformSphere

#: letter -> builder (dim, context_dim, config, order, index, rngs) for e, i and x blocks
EUCLIDEAN_LAYERS = {
    "a": lambda d, c, cfg, order, i, rngs: AffineMADE(
        MADESpec(d, c, cfg.hidden, cfg.hidden_layers),
        order=order,
        max_log_scale=cfg.max_log_scale,
        rngs=rngs,
    ),
    "n": lambda d, c, cfg, order, i, rngs: SplineMADE(
        MADESpec(d, c, cfg.hidden, cfg.hidden_layers),
        order=order,
        bins=cfg.bins,
        bound=cfg.bound,
        rngs=rngs,
    ),
    "g": lambda d, c, cfg, order, i, rngs: GaussianizationLayer(
        d, c, components=cfg.components, hidden=cfg.hidden, rngs=rngs
    ),
    "p": lambda d, c, cfg, order, i, rngs: PlanarLayer(d, c, hidden=cfg.hidden, rngs=rngs),
}
#: letter -> builder (n, context_dim, config, order, index, rngs) for s blocks
SPHERE_LAYERS = {
    "n": lambda n, c, cfg, order, i, rngs: SphereSpline(
        n, c, bins=cfg.bins, hidden=cfg.hidden, flip=i % 2 == 1, rngs=rngs
    ),
}
#: block kind -> (its layers, default letters)
BLOCK_LAYERS = {
    "e": (EUCLIDEAN_LAYERS, "nnnn"),
    "i": (EUCLIDEAN_LAYERS, "nnnn"),
    "x": (EUCLIDEAN_LAYERS, "nnnn"),
    "s": (SPHERE_LAYERS, "nnnn"),
}


def parse_layers(spec: str, blocks: tuple[Block, ...]) -> tuple[str, ...]:
    """``"gggg+n+a"`` -> letters per block ("" or None: each block's default)."""
    if not spec:
        return tuple(BLOCK_LAYERS[b.kind][1] for b in blocks)
    parts = str(spec).replace(" ", "").split("+")
    if len(parts) != len(blocks):
        raise ValueError(f"layers {spec!r} has {len(parts)} blocks, the manifold {len(blocks)}")
    for block, letters in zip(blocks, parts, strict=True):
        known = BLOCK_LAYERS[block.kind][0]
        bad = sorted(set(letters) - set(known)) or ([] if letters else ["(none)"])
        if bad:
            raise ValueError(
                f"layers {spec!r}: block {block} cannot take {', '.join(bad)}; "
                f"its layers are {', '.join(known)}"
            )
    return tuple(parts)


def chart(block: Block) -> list:
    """The fixed first layers of a block: none on R^n, else its chart (``flows.charts``)."""
    if block.kind == "s":
        return [SphereChart(block.n)]
    return {"e": [], "i": [IntervalChart(block.n)], "x": [SimplexChart(block.n)]}[block.kind]


def block_flow(block: Block, letters: str, context_dim: int, config, seed: int) -> Flow:
    """The Flow of one block over its ambient columns, given C = ``context_dim``."""
    rngs = nnx.Rngs(seed)
    builders = BLOCK_LAYERS[block.kind][0]
    layer_orders = orders(block.n, len(letters), config.order, seed)
    layers = chart(block) + [
        builders[letter](block.n, context_dim, config, layer_orders[i], i, rngs)
        for i, letter in enumerate(letters)
    ]
    base = UniformSphere(block.n) if block.kind == "s" else StandardNormal(block.n)
    return Flow(layers, base)


class ManifoldFlow(nnx.Module):
    """A flow on a joint manifold: x (..., D) (ambient columns, blocks in order), context
    (..., C) or None; block b is conditioned on the context and on x's earlier blocks.

    Args:
      manifold: e.g. ``"e4+s2+e1"``; layers: e.g. ``"gggg+n+a"`` ("": defaults);
      context_dim: C; config: the FlowConfig (widths, bins, ...); seed: initialisation.
    """

    def __init__(self, manifold: str, layers: str, context_dim: int, config, seed: int = 0):
        self.blocks = parse_manifold(manifold)
        letters = parse_layers(layers, self.blocks)
        starts = np.cumsum([0] + [b.ambient for b in self.blocks]).tolist()
        self.starts = tuple(starts)
        self.flows = nnx.List(
            [
                block_flow(block, letters[i], context_dim + starts[i], config, seed + i)
                for i, block in enumerate(self.blocks)
            ]
        )

    def standardise_charts(self, x) -> None:
        """Set the coordinate standardisation of every interval and simplex chart from
        training points x (N, D)."""
        for flow, block, start in zip(self.flows, self.blocks, self.starts, strict=False):
            if block.kind in "ix":
                flow.layers[0].standardise(np.asarray(x)[:, start : start + block.ambient])

    def _parts(self, x, context):
        """[(x_b, context_b)] per block."""
        return [
            (x[..., a:b], context if a == 0 else join(context, x[..., :a]))
            for a, b in zip(self.starts[:-1], self.starts[1:], strict=True)
        ]

    def forward(self, x: jax.Array, context: jax.Array | None = None):
        """x (..., D) -> (z (..., sum of block dimensions), log |det| (...)): every block's
        layers, its chart included (log |det| against the manifold's volume)."""
        out = [
            f.forward(xb, cb)
            for f, (xb, cb) in zip(self.flows, self._parts(x, context), strict=True)
        ]
        return jnp.concatenate([z for z, _ in out], -1), sum(ld for _, ld in out)

    def inverse(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """z (..., sum of block dimensions) -> x (..., D), block by block."""
        x, start = None, 0
        for flow, block in zip(self.flows, self.blocks, strict=True):
            zb, start = z[..., start : start + block.n], start + block.n
            xb = flow.inverse(zb, context if x is None else join(context, x))
            x = xb if x is None else jnp.concatenate([x, xb], -1)
        return x

    def log_prob(self, x: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """log p(x | c): (..., D) -> (...)."""
        return sum(
            f.log_prob(xb, cb)
            for f, (xb, cb) in zip(self.flows, self._parts(x, context), strict=True)
        )

    def to_normal(self, x: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """x (..., D) -> its image in N(0, I), (..., sum of block dimensions)."""
        parts = self._parts(x, context)
        return jnp.concatenate(
            [f.to_normal(xb, cb) for f, (xb, cb) in zip(self.flows, parts, strict=True)], -1
        )

    def sample(self, key: jax.Array, shape: tuple, context: jax.Array | None = None):
        """Draws x (*shape, D), block by block."""
        x = None
        for flow, k in zip(self.flows, jax.random.split(key, len(self.flows)), strict=True):
            cb = context if x is None else join(context, x)
            xb = flow.sample(k, shape, cb)
            x = xb if x is None else jnp.concatenate([x, xb], -1)
        return x

    def sample_rows(self, key: jax.Array, context: jax.Array, n: int) -> jax.Array:
        """n draws per context row: context (M, C) -> (M, n, D)."""
        return self.sample(key, (context.shape[0], n), context[:, None, :])
