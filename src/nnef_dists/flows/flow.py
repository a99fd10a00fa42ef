"""Flows: a stack of bijections x -> z on top of a base density, and the registry of kinds.

    log p(x | c) = log p_base(f(x; c) | c) + log |det df/dx|,

with f = f_L o ... o f_1 the layers in the density direction (data -> noise);
sampling draws z from the base and runs the inverses, last layer first.

Kinds (``FLOWS``):

- ``made``: one affine MADE layer on N(0, I);
- ``made-mog``: a MADE mixture of Gaussians (no layers);
- ``maf``: ``blocks`` affine MADE layers, orders reversed (or random) between them;
- ``maf-mog``: the same on a MADE-MoG base;
- ``nsf``: ``blocks`` autoregressive rational-quadratic spline layers on N(0, I);
- ``manifold``: a flow on a joint manifold such as ``"e4+s2+e1"`` with layers
  such as ``"gggg+n+a"`` (``flows.manifold``; default: R^D, ``"nnnn"``).

With ``batch_norm`` a BatchNormFlow sits between consecutive layers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from flax import nnx

from nnef_dists.flows.base import Flow, StandardNormal
from nnef_dists.flows.batchnorm import BatchNormFlow
from nnef_dists.flows.made import MADESpec, orders
from nnef_dists.flows.maf import AffineMADE
from nnef_dists.flows.manifold import ManifoldFlow, parse_layers
from nnef_dists.flows.mog import MADEMoG
from nnef_dists.flows.nsf import SplineMADE
from nnef_dists.flows.spaces import Block, parse_manifold

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
    "manifold": (None, False, False),
}


@dataclass(frozen=True)
class FlowConfig:
    """The architecture of a flow (stored in a model's config.yaml).

    Attributes:
      flow: a kind of ``FLOWS``; hidden: MADE width; blocks: number of layers
        (maf, maf-mog, nsf); hidden_layers: per MADE; components: mixture
        components (MoG bases); bins, bound: spline bins K and interval [-B, B]
        (nsf); max_log_scale: bound of the affine log-scales; batch_norm:
        BatchNormFlow between layers; order: ``reverse`` or ``random``;
        manifold, layers: the blocks and the layer letters of a ``manifold``
        flow ("": R^D and each block's default layers).
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
    manifold: str = ""
    layers: str = ""

    def __post_init__(self):
        if self.flow not in FLOWS:
            raise ValueError(f"unknown flow {self.flow!r}; choose one of {', '.join(FLOWS)}")
        if (self.manifold or self.layers) and self.flow != "manifold":
            raise ValueError(
                f"manifold and layers are settings of flow 'manifold', not {self.flow!r}"
            )
        blocks = parse_manifold(self.manifold) if self.manifold else (Block("e", 1),)
        parse_layers(self.layers, blocks)
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

    def build(self, dim: int, context_dim: int = 0, seed: int = 0) -> Flow | ManifoldFlow:
        """A freshly initialised flow over D = ``dim`` given C = ``context_dim``."""
        if self.flow == "manifold":
            flow = ManifoldFlow(self.manifold or f"e{dim}", self.layers, context_dim, self, seed)
            if flow.starts[-1] != dim:
                raise ValueError(
                    f"manifold {self.manifold} takes {flow.starts[-1]} columns, not {dim}"
                )
            return flow
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
