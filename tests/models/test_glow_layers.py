"""Every invertible layer of glow_et (found in its layers module, so a new one cannot go
unchecked): the inverse round-trips and the log-determinant equals slogdet of the Jacobian
(jax.jacobian), with perturbed parameters, in float64."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnef_dists.models.glow_et import layers
from tests.flows.conftest import perturb

K = 3
#: An example of every layer class, for vectors of K coordinates.
EXAMPLES = {
    "ActNorm": lambda rngs: layers.ActNorm(K),
    "LULinear": lambda rngs: layers.LULinear(K, np.eye(K, dtype=np.float32)[[2, 0, 1]]),
    "AffineCoupling": lambda rngs: layers.AffineCoupling(
        K, (16,), flip=True, max_log_scale=2.0, activation="silu", rngs=rngs
    ),
    "SinhArcsinh": lambda rngs: layers.SinhArcsinh(K, max_log_scale=2.0),
}


def _layer_classes() -> set:
    return {
        name
        for name, cls in inspect.getmembers(layers, inspect.isclass)
        if cls.__module__ == layers.__name__
        and issubclass(cls, nnx.Module)
        and hasattr(cls, "forward")
        and hasattr(cls, "inverse")
    }


def test_every_layer_has_an_example():
    assert _layer_classes() == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_inverse_and_log_det(name):
    x = 1.5 * np.random.default_rng(2).standard_normal((5, K))
    with jax.enable_x64(True):  # parameters made in float64 too
        layer = perturb(EXAMPLES[name](nnx.Rngs(0)), jax.random.key(1), scale=0.3)

        @jax.jit
        def run(x):
            y, log_det = jax.vmap(layer.forward)(x)
            jac = jax.vmap(jax.jacobian(lambda v: layer.forward(v)[0]))(x)
            return jax.vmap(layer.inverse)(y), log_det, *jnp.linalg.slogdet(jac)

        back, log_det, sign, expected = map(np.asarray, run(jnp.asarray(x)))
    np.testing.assert_allclose(back, x, atol=1e-10)
    assert np.all(sign != 0)
    np.testing.assert_allclose(log_det, expected, atol=1e-10)
