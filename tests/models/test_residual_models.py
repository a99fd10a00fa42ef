"""What is specific to the residual ET networks: mlp_et, glu_et, quadratic_et.

Generic checks (shapes, jit/vmap/grad, fitting, save/load, CLI) live elsewhere;
here: the built layers for given hidden_sizes, the forward pass against a NumPy
reference, the activation option, and the scale of the output at initialisation.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnef_dists.data.standardize import Standardizer
from nnef_dists.models import Normalization, get_model
from nnef_dists.models.glu_et.model import GLUET
from nnef_dists.models.mlp_et.model import MLPET
from nnef_dists.models.quadratic_et.model import PRODUCT_INIT_SCALE, QuadraticET
from nnef_dists.models.residual import ACTIVATIONS, ResidualET

CLASSES = {"mlp_et": MLPET, "glu_et": GLUET, "quadratic_et": QuadraticET}
NAMES = list(CLASSES)

#: Kernel shapes of one branch of width w, by attribute.
BRANCH_KERNELS = {
    "mlp_et": lambda w: {"hidden": (w, w), "out": (w, w)},
    "glu_et": lambda w: {"value_gate": (w, 2 * w), "out": (w, w)},
    "quadratic_et": lambda w: {"first": (w, w), "factors": (w, 2 * w), "out": (w, w)},
}


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


NP_ACTIVATIONS = {"swish": lambda x: x * _sigmoid(x), "tanh": np.tanh}


def _dense(layer, x):
    return x @ np.asarray(layer.kernel[...], np.float64) + np.asarray(layer.bias[...], np.float64)


def _np_branch(name, branch, h, act):
    """NumPy reference of each model's residual branch f(h)."""
    if name == "mlp_et":
        inner = act(_dense(branch.hidden, h))
    elif name == "glu_et":
        value, gate = np.split(_dense(branch.value_gate, h), 2, axis=-1)
        inner = act(value) * _sigmoid(gate)
    else:
        left, right = np.split(_dense(branch.factors, h), 2, axis=-1)
        inner = act(_dense(branch.first, h)) + left * right
    return _dense(branch.out, inner)


def _np_mu_T(name, model, eta, act):
    """NumPy reference of the whole network for a batch eta (N, k)."""
    eta_mean, eta_scale, mu_mean, mu_scale = (
        np.asarray(v, np.float64) for part in model.norm for v in part
    )
    h = _dense(model.input, (eta - eta_mean) / eta_scale)
    for block in model.blocks:
        if block.proj is not None:
            h = _dense(block.proj, h)
        h = h + _np_branch(name, block.branch, h, act)
    return mu_mean + mu_scale * _dense(model.output, h)


K = 2
SMALL = (32, 64, 64, 32)  # widths that change twice; tests share shapes (compiles are slow)
DEFAULT = (64, 64)


def _norm():
    return Normalization(
        eta=Standardizer(jnp.array([-1.0, 1.0]), jnp.array([0.5, 2.0])),
        mu=Standardizer(jnp.array([10.0, 20.0]), jnp.array([3.0, 0.1])),
    )


@functools.cache
def _build(name, sizes=SMALL, activation="swish", seed=0, norm=None):
    """A model (cached: building compiles one initialiser per new shape, slow on CPU)."""
    norm = (
        _norm()
        if norm is None
        else Normalization(*(Standardizer(*map(jnp.asarray, s)) for s in norm))
    )
    return get_model(name)(K, norm, hidden_sizes=sizes, rngs=nnx.Rngs(seed), activation=activation)


@pytest.mark.parametrize("name", NAMES)
def test_registry_returns_class(name):
    cls = get_model(name)
    assert cls is CLASSES[name]
    assert issubclass(cls, ResidualET)
    assert cls.registry_name == name


@pytest.mark.parametrize("name", NAMES)
def test_hidden_sizes_build_projections_and_blocks(name):
    model = _build(name)
    assert model.input.kernel.shape == (K, 32)
    assert model.output.kernel.shape == (32, K)
    assert len(model.blocks) == 4
    # A projection exactly where the width changes: 32 -> 64 and 64 -> 32.
    proj = [None if b.proj is None else b.proj.kernel.shape for b in model.blocks]
    assert proj == [None, (32, 64), None, (64, 32)]
    for block, w in zip(model.blocks, SMALL, strict=True):
        shapes = {a: getattr(block.branch, a).kernel.shape for a in BRANCH_KERNELS[name](w)}
        assert shapes == BRANCH_KERNELS[name](w)


@pytest.mark.parametrize("name", NAMES)
def test_initial_weight_scales(name):
    """Branch output layers start with variance 1 / (L w); quadratic factors smaller."""
    model = _build(name, sizes=(64,) * 4)
    out = np.concatenate([np.ravel(b.branch.out.kernel[...]) for b in model.blocks])
    assert np.std(out) == pytest.approx(np.sqrt(1 / (4 * 64)), rel=0.05)
    if name == "quadratic_et":
        factors = np.concatenate([np.ravel(b.branch.factors.kernel[...]) for b in model.blocks])
        assert np.std(factors) == pytest.approx(np.sqrt(PRODUCT_INIT_SCALE / 64), rel=0.05)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("activation", ["swish", "tanh"])
def test_forward_matches_numpy_reference(name, activation):
    model = _build(name, activation=activation)
    eta = np.random.default_rng(0).normal(size=(7, K))
    got = np.asarray(jax.vmap(model.mu_T)(jnp.asarray(eta, jnp.float32)))
    want = _np_mu_T(name, model, eta, NP_ACTIVATIONS[activation])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_activation_changes_output_not_parameters(name):
    a, b = _build(name, activation="swish"), _build(name, activation="tanh")
    leaves_a = jax.tree.leaves(nnx.state(a, nnx.Param))
    leaves_b = jax.tree.leaves(nnx.state(b, nnx.Param))
    assert all(np.array_equal(x, y) for x, y in zip(leaves_a, leaves_b, strict=True))
    eta = jnp.array([[0.3, -1.2], [2.0, 0.5]])
    diff = (jax.vmap(a.mu_T)(eta) - jax.vmap(b.mu_T)(eta)) / _norm().mu.scale
    assert float(jnp.max(jnp.abs(diff))) > 1e-2


@pytest.mark.parametrize("name", NAMES)
def test_unknown_activation_raises(name):
    with pytest.raises(ValueError, match="'sinc'") as err:
        get_model(name)(K, _norm(), rngs=nnx.Rngs(0), activation="sinc")
    assert all(act in str(err.value) for act in ACTIVATIONS)


@pytest.mark.parametrize("sizes", [(), (0, 8), (8, 2.5), 64, None])
def test_bad_hidden_sizes_raise(sizes):
    with pytest.raises(ValueError, match="hidden_sizes"):
        MLPET(K, _norm(), hidden_sizes=sizes, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sizes", [DEFAULT, (64,) * 4])
def test_initial_output_has_data_scale(name, sizes):
    """At initialisation mu_T is finite, centred near mu_mean, spread about mu_scale."""
    rng = np.random.default_rng(4)
    eta = np.c_[rng.normal(5.0, 2.0, 2000), rng.normal(-3.0, 0.1, 2000)]
    mu = np.c_[1e3 + 50.0 * np.tanh(eta[:, 0] - 5), 1e-3 * np.exp(eta[:, 1] + 3)]
    norm = Normalization.from_data(eta, mu)
    z = []
    for seed in range(3):
        hashable = tuple(tuple(tuple(np.asarray(a).tolist()) for a in s) for s in norm)
        model = _build(name, sizes, seed=seed, norm=hashable)
        out = np.asarray(jax.vmap(model.mu_T)(jnp.asarray(eta, jnp.float32)))
        assert np.isfinite(out).all()
        z.append((out - np.asarray(norm.mu.mean)) / np.asarray(norm.mu.scale))
    z = np.stack(z)  # (seeds, N, k), in units of the data's spread
    assert np.all(np.abs(z.mean(1)) < 2.0)
    assert np.all((z.std(1) > 0.1) & (z.std(1) < 5.0))
