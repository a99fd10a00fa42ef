"""Models with every parameter moved away from its initialisation, for non-trivial tests."""

import jax
import jax.numpy as jnp
from flax import nnx

from nnef_dists.models import get_model


def _rms_or_one(p):
    rms = jnp.sqrt(jnp.mean(jnp.square(p)))
    return jnp.where(rms > 0, rms, 1.0)


def perturbed_model(name, k, norm, noise, seed=0, **options):
    """Model ``name`` (hidden (16, 16)) with N(0, (noise r)^2) added to every Param.

    r is the root-mean-square of the Param at initialisation (1 where that is
    0): relative to each parameter's own scale, so parameters behind a fixed
    gain (divided out at initialisation) move as much as the others.
    """

    @nnx.jit  # one compilation instead of many eager ones
    def build():
        model = get_model(name)(k, norm, hidden_sizes=(16, 16), rngs=nnx.Rngs(seed), **options)
        leaves, treedef = jax.tree.flatten(nnx.state(model, nnx.Param))
        keys = jax.random.split(jax.random.key(seed + 100), len(leaves))
        noisy = [
            p + noise * _rms_or_one(p) * jax.random.normal(key, p.shape)
            for p, key in zip(leaves, keys, strict=True)
        ]
        nnx.update(model, jax.tree.unflatten(treedef, noisy))
        return model

    return build()
