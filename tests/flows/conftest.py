"""Small flows with non-trivial (perturbed) parameters, for the bijection and density tests."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.flows import LAYERS, BatchNormFlow, FlowConfig, MADESpec


def perturb(module, key, scale: float = 0.3):
    """``module`` with N(0, scale^2) added to every Param (and random BatchNorm statistics)."""
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    noisy = [
        leaf + scale * jax.random.normal(k, leaf.shape)
        for leaf, k in zip(leaves, keys, strict=True)
    ]
    module = nnx.merge(graphdef, jax.tree.unflatten(treedef, noisy), rest)
    for _, node in nnx.iter_graph(module):
        if isinstance(node, BatchNormFlow):
            dim = node.mean[...].shape
            node.mean[...] = 0.5 * jax.random.normal(jax.random.fold_in(key, 1), dim)
            node.var[...] = jnp.exp(0.5 * jax.random.normal(jax.random.fold_in(key, 2), dim))
    module.eval()
    return module


def make_layer(name: str, dim: int, context_dim: int, seed: int = 0):
    """A perturbed layer (a bijection with forward/inverse) of the given kind."""
    spec = MADESpec(dim, context_dim, hidden=16)
    config = FlowConfig(hidden=16, bins=5, bound=2.0)
    layer = LAYERS[name](spec, config, jnp.arange(dim)[::-1], nnx.Rngs(seed))
    return perturb(layer, jax.random.key(seed + 1))


def make_flow(kind: str, dim: int, context_dim: int, seed: int = 0, **options):
    """A perturbed Flow of ``kind`` (a FLOWS name), two blocks of width 16."""
    config = FlowConfig(flow=kind, hidden=16, blocks=2, bins=5, bound=3.0, **options)
    return perturb(config.build(dim, context_dim, seed), jax.random.key(seed + 1), scale=0.2)


def check_bijection(layer, x, c, atol=1e-8, difference=lambda a, b: a - b):
    """layer.forward(x, c) -> (z, logdet) and layer.inverse(z, c) -> x on points x (N, D):
    the round trip (measured by ``difference``) and logdet = slogdet(jax.jacobian), to atol."""

    @jax.jit
    def run(x, c):
        z, logdet = layer.forward(x, c)
        one = lambda v, ci: layer.forward(v[None], ci[None])[0][0]
        jac = jax.vmap(jax.jacobian(one))(x, c)
        return layer.inverse(z, c), logdet, *jnp.linalg.slogdet(jac)

    back, logdet, sign, expected = run(x, c)
    np.testing.assert_allclose(difference(back, x), 0.0, atol=atol)
    assert np.all(sign != 0)
    np.testing.assert_allclose(logdet, expected, atol=atol)
