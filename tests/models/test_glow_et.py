"""glow_et: exact inverse, LU log-determinants, invertible Jacobian, parameter count.

The flow starts as the identity, so the tests first move every Param away from
its initial value (Gaussian noise, scale NOISE or 0.3) and use a random
Normalization. Each check is one jitted function per model, to keep the
compile time small.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nnef_dists.data.standardize import Standardizer
from nnef_dists.models import Normalization, get_model
from nnef_dists.models.glow_et.layers import FlowConstant, LULinear
from nnef_dists.models.glow_et.model import GlowET, _arrangements

HIDDEN = (16, 16)
#: Param noise of the float32 tests, on 2 steps of 2 couplings (round trips <= 4e-6 measured,
#: while mu_T moves 1.7 to 13 standardised units from the identity). Stronger noise makes
#: extreme flows: at 0.2 |y| reaches 250 for |z| ~ 3 and float32 rounding alone gives
#: round-trip errors of 2e-3 for k = 5 (at 0.3 with 4 such steps, |y| ~ 1e5 and even float64
#: gives ~1e-5). The noise-0.3 test therefore runs in float64, with 4 steps of one coupling.
NOISE = 0.1
DIMS = [1, 2, 3, 5]


def random_normalization(k, seed=0):
    rng = np.random.default_rng(seed)
    mean_eta, log_scale_eta, mean_mu, log_scale_mu = rng.standard_normal((4, k))
    return Normalization(
        Standardizer(mean_eta, np.exp(log_scale_eta)), Standardizer(mean_mu, np.exp(log_scale_mu))
    )


def perturb(module, seed, scale):
    """Add N(0, scale^2) noise to every Param of module (in place, numpy draws); returns it."""
    rng = np.random.default_rng(seed)
    params = nnx.state(module, nnx.Param)
    noisy = jax.tree.map(
        lambda x: np.asarray(x + scale * rng.standard_normal(x.shape), np.float32), params
    )
    nnx.update(module, noisy)
    return module


@functools.cache
def initial_model(k, num_flow_layers, couplings_per_step):
    """A GlowET (hidden HIDDEN) with a random Normalization, as constructed (read-only)."""
    return GlowET(
        k,
        random_normalization(k, k),
        hidden_sizes=HIDDEN,
        rngs=nnx.Rngs(k),
        num_flow_layers=num_flow_layers,
        couplings_per_step=couplings_per_step,
    )


@functools.cache
def perturbed_model(k, noise, num_flow_layers=2, couplings_per_step=2):
    """initial_model with every Param perturbed by N(0, noise^2) (read-only).

    2 steps by default (of the default 2 couplings), to keep the compile times small.
    """
    model = nnx.clone(initial_model(k, num_flow_layers, couplings_per_step))
    return perturb(model, 100 + k, scale=noise)


def n_params(model):
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def test_registered():
    # against the registry: the name resolves to this class, which declares eta_from_mu
    assert get_model("glow_et") is GlowET
    assert GlowET.provides == ("eta_from_mu",)


def round_trip_errors(model, z_scale, n=1000):
    """Worst |eta_from_mu(mu_T(eta)) - eta| / eta_scale and |mu_T(eta_from_mu(mu)) - mu| / mu_scale.

    eta and mu are mean + scale * z_scale * N(0, 1), in the default float dtype (float64 under
    jax.enable_x64). Also returns the worst distance of mu_T from the initial (identity) map.
    """
    norm = model.norm
    k = norm.eta.mean.shape[0]
    rng = np.random.default_rng(0)
    z, y = (jnp.asarray(z_scale * rng.standard_normal((n, k)), float) for _ in range(2))

    @jax.jit
    def errors(z, y):
        eta = norm.eta.mean + norm.eta.scale * z
        mu = jax.vmap(model.mu_T)(eta)
        err_eta = jnp.abs(jax.vmap(model.eta_from_mu)(mu) - eta) / norm.eta.scale
        from_identity = jnp.abs(mu - norm.unstandardize_mu(z)) / norm.mu.scale
        mu = norm.mu.mean + norm.mu.scale * y
        err_mu = jnp.abs(jax.vmap(model.mu_T)(jax.vmap(model.eta_from_mu)(mu)) - mu)
        return jnp.max(err_eta), jnp.max(err_mu / norm.mu.scale), jnp.max(from_identity)

    out = errors(z, y)
    assert all(e.dtype == z.dtype for e in out)  # computed in the dtype of the inputs
    return tuple(float(e) for e in out)


@pytest.mark.parametrize("k", DIMS)
def test_round_trips_float32(k):
    # against the identity, in float32 as the model runs: eta_from_mu(mu_T(eta)) = eta and
    # mu_T(eta_from_mu(mu)) = mu to 1e-4 in standardised units, for standardised points ~ N(0, 1)
    err_eta, err_mu, from_identity = round_trip_errors(perturbed_model(k, NOISE), z_scale=1.0)
    assert from_identity > 0.1  # the perturbed map is far from the identity
    assert err_eta < 1e-4 and err_mu < 1e-4, (err_eta, err_mu)


@pytest.mark.parametrize("k", DIMS)
def test_round_trips_exact_in_float64(k):
    # against the identity, evaluated in float64 (the float32 parameters promote), with noise
    # 0.3 on every Param of a flow of one coupling per step and points out to ~6 scales: the
    # round trips hold to float64 rounding times the condition number (errors 1e-14 to 1e-8
    # measured), so eta_from_mu is the analytic inverse and not an approximation
    model = perturbed_model(k, 0.3, num_flow_layers=4, couplings_per_step=1)
    with jax.enable_x64(True):
        err_eta, err_mu, from_identity = round_trip_errors(model, z_scale=2.0)
    assert from_identity > 0.5
    assert err_eta < 1e-6 and err_mu < 1e-6, (err_eta, err_mu)


@pytest.mark.parametrize("k", DIMS)
def test_lu_log_det_matches_slogdet(k):
    # against jnp.linalg.slogdet and solve of the explicit matrix W = P L U (random P,
    # perturbed L and U, random signs on U's diagonal): log|det|, sign, forward, inverse
    perm = np.eye(k, dtype=np.float32)[np.random.default_rng(k).permutation(k)]
    layer = perturb(LULinear(k, perm), seed=k, scale=0.3)
    layer.sign.set_value(np.where(np.random.default_rng(k).random(k) < 0.5, -1.0, 1.0))
    x = np.random.default_rng(3).standard_normal(k).astype(np.float32)

    @jax.jit
    def check(x):
        w = layer.matrix()
        y, log_det = layer.forward(x)
        return w, y, log_det, layer.log_abs_det(), layer.inverse(y)

    w, y, log_det, log_abs_det, x_back = check(x)
    sign, logabs = np.linalg.slogdet(np.asarray(w, np.float64))
    np.testing.assert_allclose(log_abs_det, logabs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_det, logabs, rtol=1e-5, atol=1e-5)
    assert sign == np.linalg.det(perm) * np.prod(layer.sign[...])
    np.testing.assert_allclose(y, np.asarray(w) @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x_back, np.linalg.solve(w, y), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x_back, x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k", DIMS)
def test_jacobian_invertible(k):
    # against autodiff: slogdet of jacfwd(mu_T) at random points is finite (|det| > 0) and equals
    # the sum of the layers' log-determinants; jacfwd(eta_from_mu) at mu_T(eta) is its inverse
    model = perturbed_model(k, NOISE)
    norm = model.norm
    eta = norm.eta.mean + norm.eta.scale * np.random.default_rng(4).standard_normal((50, k))

    @jax.jit
    def jacobians(eta):
        jac = jax.vmap(jax.jacfwd(model.mu_T))(eta)
        inv_jac = jax.vmap(jax.jacfwd(model.eta_from_mu))(jax.vmap(model.mu_T)(eta))
        return jac, inv_jac, jax.vmap(model.log_abs_det_jacobian)(eta)

    jac, inv_jac, log_det = jacobians(eta)
    sign, logabs = np.linalg.slogdet(np.asarray(jac, np.float64))
    assert np.all(sign != 0) and np.all(np.isfinite(logabs))
    np.testing.assert_allclose(log_det, logabs, rtol=1e-4, atol=1e-4)
    # in standardised units, where both Jacobians are of order one
    scale = np.asarray(norm.mu.scale / norm.eta.scale)
    std_jac = jac / scale[:, None]
    std_inv = inv_jac * scale[None, :]
    np.testing.assert_allclose(std_inv @ std_jac, np.broadcast_to(np.eye(k), jac.shape), atol=1e-4)


def coupling_mlp_params(k, hidden):
    """Weights and biases of k//2 -> hidden -> 2 * ceil(k/2)."""
    sizes = (k // 2, *hidden, 2 * (k - k // 2))
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


@pytest.mark.parametrize(
    "k, num_flow_layers, hidden, couplings_per_step",
    [
        (1, 1, (8,), 2),
        (1, 3, (16, 4), 1),
        (2, 1, (8,), 2),
        (3, 3, (16, 4), 1),
        (5, 2, (8,), 2),
        (5, 3, (), 3),
    ],
)
def test_parameter_count(k, num_flow_layers, hidden, couplings_per_step):
    # against the formula: per step ActNorm 2k + LU k^2 + the couplings' MLPs (for k = 1 one
    # SinhArcsinh of 2 parameters, whatever couplings_per_step)
    model = GlowET(
        k,
        Normalization.identity(k),
        hidden_sizes=hidden,
        rngs=nnx.Rngs(0),
        num_flow_layers=num_flow_layers,
        couplings_per_step=couplings_per_step,
    )
    coupling = 2 if k == 1 else couplings_per_step * coupling_mlp_params(k, hidden)
    assert n_params(model) == num_flow_layers * (2 * k + k * k + coupling)


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_arrangements_alternate(k):
    # against the rule of _arrangements: each is a permutation, and the coordinates that
    # conditioned one step's first coupling are transformed by the next step's first coupling
    orders = _arrangements(k, 6, np.random.default_rng(k))
    for prev, order in zip(orders[:-1], orders[1:], strict=True):
        assert sorted(order) == list(range(k))
        assert set(prev[: k // 2]) <= set(order[k // 2 :])
    if k == 2:
        assert [o[1] for o in orders[::2]] == [orders[0][1]] * 3  # strictly alternating


def test_starts_as_identity_and_permutation_is_state():
    # against the standardise/unstandardise map at init, then against the saved model: the
    # permutations (4 steps and the readout) are state, so a model built from other rngs and
    # updated with the saved state gives the same outputs
    k = 5
    norm = random_normalization(k)
    model = GlowET(k, norm, hidden_sizes=HIDDEN, rngs=nnx.Rngs(0))
    eta = norm.eta.mean + norm.eta.scale * np.random.default_rng(5).standard_normal((10, k))
    mu_T = jax.jit(jax.vmap(lambda m, e: m.mu_T(e), in_axes=(None, 0)))
    np.testing.assert_allclose(
        mu_T(model, eta), norm.unstandardize_mu(norm.standardize_eta(eta)), rtol=1e-5, atol=1e-5
    )
    perturb(model, seed=1, scale=0.3)
    perms = [leaf for leaf in jax.tree.leaves(nnx.state(model, FlowConstant)) if leaf.ndim == 2]
    assert len(perms) == 5 and any(not np.array_equal(p, np.eye(k)) for p in perms)
    other = GlowET(k, Normalization.identity(k), hidden_sizes=HIDDEN, rngs=nnx.Rngs(123))
    nnx.update(other, nnx.state(model))
    np.testing.assert_array_equal(mu_T(other, eta), mu_T(model, eta))


def test_grad_through_both_directions():
    # against finiteness and non-zero: nnx.grad of a loss through mu_T and eta_from_mu reaches
    # every Param (the permutations and signs are not Params)
    model = perturbed_model(3, NOISE)
    eta = np.random.default_rng(6).standard_normal((8, 3)).astype(np.float32)

    def loss(m):
        return jnp.mean(jax.vmap(m.mu_T)(eta) ** 2) + jnp.mean(jax.vmap(m.eta_from_mu)(eta) ** 2)

    grads = nnx.jit(nnx.grad(loss))(model)
    leaves = jax.tree.leaves(grads)
    assert len(leaves) == len(jax.tree.leaves(nnx.state(model, nnx.Param)))
    assert all(np.all(np.isfinite(g)) and np.any(g != 0) for g in leaves)
