"""Registry, family metadata and statistics.

References: the names listed in the design, hand-written NumPy versions of
every T(x) and of every natural-parameter space, and direct eigenvalue
computations for the normal families' reparametrisation.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnef_dists.families import ExponentialFamily, get_family, list_families
from nnef_dists.families.builtin.multivariate_normal import MultivariateNormal

CLOSED_FORM = [
    "gamma",
    "gaussian_1d",
    "multivariate_normal",
    "multivariate_normal_tril",
    "beta",
    "von_mises",
    "dirichlet",
    "laplace_product",
    "rectified_gaussian",
]
NO_CLOSED_FORM = ["polynomial", "fisher_bingham", "nn_stats"]
SPEC_NAMES = CLOSED_FORM + NO_CLOSED_FORM
USER_FAMILY = "tests.families.user_family:Exponential"


def _sym_from_tril(t, d):
    """NumPy: the natural-parameter matrix of multivariate_normal_tril, built by hand."""
    M = np.zeros((*t.shape[:-1], d, d))
    k = 0
    for i in range(d):
        for j in range(i + 1):
            M[..., i, j] = M[..., j, i] = t[..., k] if i == j else t[..., k] / 2
            k += 1
    return M


def _neg_def(M):
    return np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, -1, -2)))[..., -1] < 0


# Hand-written natural-parameter spaces (eta: NumPy (n, k), default parameters).
NATURAL_SPACE = {
    "gamma": lambda e: (e[:, 0] > -1) & (e[:, 1] < 0),
    "gaussian_1d": lambda e: e[:, 1] < 0,
    "multivariate_normal": lambda e: _neg_def(e[:, 2:].reshape(-1, 2, 2)),
    "multivariate_normal_tril": lambda e: _neg_def(_sym_from_tril(e[:, 2:], 2)),
    "beta": lambda e: np.all(e > -1, axis=1),
    "von_mises": lambda e: np.ones(len(e), bool),
    "dirichlet": lambda e: np.all(e > -1, axis=1),
    "laplace_product": lambda e: e[:, 0] + e[:, 1] > 0,
    "rectified_gaussian": lambda e: e[:, 1] < 0,
    "polynomial": lambda e: e[:, -1] < 0,
    "fisher_bingham": lambda e: np.ones(len(e), bool),
    "nn_stats": lambda e: np.ones(len(e), bool),
    USER_FAMILY: lambda e: e[:, 0] < 0,
}


def _nn_stats_numpy(family, x):
    w1, b1, w2, b2 = family.weights
    return np.tanh(w2 @ np.tanh(w1 @ x + b1) + b2)


# (x, hand-written T(x)) per family, default parameters.
X_SPHERE3 = np.array([2.0, -1.0, 2.0]) / 3.0
STATS = {
    "gamma": ([2.0], [np.log(2.0), 2.0]),
    "gaussian_1d": ([-1.5], [-1.5, 2.25]),
    "multivariate_normal": ([2.0, -3.0], [2.0, -3.0, 4.0, -6.0, -6.0, 9.0]),
    "multivariate_normal_tril": ([2.0, -3.0], [2.0, -3.0, 4.0, -6.0, 9.0]),
    "beta": ([0.25, 0.75], [np.log(0.25), np.log(0.75)]),  # x as (x, 1 - x)
    "von_mises": ([0.6, -0.8], [0.6, -0.8]),
    "dirichlet": ([0.2, 0.3, 0.5], np.log([0.2, 0.3, 0.5])),
    "laplace_product": ([0.5], [-0.5, -1.5]),
    "rectified_gaussian": ([1.5], [1.5, 2.25]),
    "polynomial": ([-2.0], [-2.0, 4.0, -8.0, 16.0]),
    "fisher_bingham": (
        X_SPHERE3,
        np.concatenate([X_SPHERE3, np.outer(X_SPHERE3, X_SPHERE3)[np.triu_indices(3)]]),
    ),
    "nn_stats": ([0.7], None),  # reference computed with NumPy from the family's weights
    USER_FAMILY: ([3.0], [3.0]),
}


# A valid eta per family (default parameters), for the sampler-target check.
VALID_ETA = {
    "gamma": [0.5, -1.0],
    "gaussian_1d": [0.5, -1.0],
    "multivariate_normal": [0.5, -0.2, -1.0, 0.3, 0.3, -0.8],
    "multivariate_normal_tril": [0.5, -0.2, -1.0, 0.6, -0.8],
    "beta": [-0.5, 1.0],
    "von_mises": [1.0, -2.0],
    "dirichlet": [-0.5, 0.0, 2.0],
    "laplace_product": [-0.5, 1.0],
    "rectified_gaussian": [-1.0, -0.5],
    "polynomial": [1.0, 0.5, -0.3, -0.1],
    "fisher_bingham": [1.0, 0.0, -1.0, 2.0, 0.5, -1.0, 1.0, 0.3, -2.0],
    "nn_stats": [2.0, -1.0, 3.0],
    USER_FAMILY: [-2.0],
}


def test_every_registered_family_has_its_references_here():
    """The tables of this file (statistics, natural spaces, ...) cover every registered family."""
    assert set(SPEC_NAMES) == set(list_families())
    assert list_families() == sorted(list_families())


def test_unknown_name_raises_naming_it():
    with pytest.raises(ValueError, match="no_such_family"):
        get_family("no_such_family")
    with pytest.raises(ValueError, match="no_such_module"):
        get_family("no_such_module:Thing")


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_name_is_registry_name(name):
    family = get_family(name)
    assert family.name == name
    assert isinstance(family, ExponentialFamily)
    assert family.has_exact == (name in CLOSED_FORM)


def test_user_family_found_by_import_path():
    family = get_family(USER_FAMILY)
    assert family.name == USER_FAMILY
    assert family.stat_dim == 1 and family.stat_labels() == ["x[0]"]
    np.testing.assert_allclose(family.compute_stats_flat(jnp.array([3.0])), [3.0])
    stats = family.unflatten(jnp.array([[1.0], [2.0]]))
    assert stats["x"].shape == (2, 1)
    np.testing.assert_allclose(family.flatten(stats), [[1.0], [2.0]])
    np.testing.assert_allclose(family.exact_mu_T(jnp.array([-2.0])), [0.5], rtol=1e-6)  # 1 / rate


@pytest.mark.parametrize("name", [*SPEC_NAMES, USER_FAMILY])
def test_compute_stats_matches_hand_written(name):
    family = get_family(name)
    x, want = STATS[name]
    x = np.asarray(x, dtype=float)
    assert x.shape == tuple(family.x_shape)
    if want is None:
        want = _nn_stats_numpy(family, x)
    with jax.enable_x64(True):
        got = family.compute_stats_flat(jnp.asarray(x))
    assert got.shape == (family.stat_dim,)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", [*SPEC_NAMES, USER_FAMILY])
def test_flatten_unflatten_and_labels(name):
    family = get_family(name)
    k = family.stat_dim
    v = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3, k)), jnp.float32)
    parts = family.unflatten(v)
    assert list(parts) == list(family.stat_shapes)
    for key, shape in family.stat_shapes.items():
        assert parts[key].shape == (4, 3, *shape)
    np.testing.assert_array_equal(family.flatten(parts), v)
    labels = family.stat_labels()
    assert len(labels) == k and len(set(labels)) == k


@pytest.mark.parametrize("name", [*SPEC_NAMES, USER_FAMILY])
def test_in_natural_space_matches_hand_written(name):
    """Random eta: in_natural_space equals the hand-written space, which in turn
    lies inside the box given by eta_bounds; batched over two leading dims."""
    family = get_family(name)
    eta = np.random.default_rng(1).normal(0.0, 2.0, size=(400, family.stat_dim))
    want = NATURAL_SPACE[name](eta)
    got = np.asarray(family.in_natural_space(jnp.asarray(eta).reshape(20, 20, -1))).ravel()
    np.testing.assert_array_equal(got, want)
    in_box = np.ones(len(eta), bool)
    for key, (lo, hi) in family.eta_bounds().items():
        part = np.asarray(family.unflatten(jnp.asarray(eta))[key]).reshape(len(eta), -1)
        in_box &= np.all((part > lo) & (part < hi), axis=1)
    assert np.all(in_box[want])
    if not np.all(want):  # the draw covers both sides of the boundary
        assert np.any(want) and np.any(~want)


@pytest.mark.parametrize("name", ["multivariate_normal", "multivariate_normal_tril"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_normal_reparam(name, d):
    """On random eta (batch (20, 2)): the output is valid, eta_x is untouched, only
    M's diagonal moves, and the lowest precision eigenvalue becomes
    max(min_precision, the input's); idempotent, and the identity, bit for bit,
    on a well-conditioned eta."""
    family = get_family(name, d=d, min_precision=0.1)
    eta = np.random.default_rng(d).normal(0.0, 1.0, size=(20, 2, family.stat_dim))
    with jax.enable_x64(True):
        out = family.reparam_eta(jnp.asarray(eta))
        M_in, M_out = (np.asarray(family._split(e)[1]) for e in (jnp.asarray(eta), out))
        good = family._join(out[..., :d], M_out - 0.25 * np.eye(d))  # lowest eigenvalue 0.6
        again, good_again = family.reparam_eta(out), family.reparam_eta(good)
        valid = family.in_natural_space(out)
    assert out.shape == eta.shape and np.all(np.asarray(valid))
    np.testing.assert_array_equal(out[..., :d], eta[..., :d])
    lowest_in, lowest_out = (np.linalg.eigvalsh(-2 * M)[..., 0] for M in (M_in, M_out))
    np.testing.assert_allclose(lowest_out, np.maximum(0.1, lowest_in), rtol=1e-12)
    assert np.any(lowest_in < 0.1) and np.any(lowest_in > 0.1)  # both branches are exercised
    shift = M_out - M_in
    np.testing.assert_allclose(shift, shift[..., :1, :1] * np.eye(d), atol=1e-14)
    np.testing.assert_allclose(again, out, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(good_again, good)


def test_tril_matrix_matches_hand_built():
    family = get_family("multivariate_normal_tril", d=3)
    t = np.random.default_rng(3).normal(size=6)
    _, M = family._split(jnp.asarray(np.concatenate([np.zeros(3), t])))
    np.testing.assert_allclose(M, _sym_from_tril(t, 3), rtol=1e-6)
    x = np.array([0.5, -1.0, 2.0])  # eta_tril . tril(x x^T) = x^T M x
    T = np.asarray(family.compute_stats_flat(jnp.asarray(x)))[3:]
    np.testing.assert_allclose(t @ T, x @ np.asarray(M) @ x, rtol=1e-5)


@pytest.mark.parametrize(
    "name, params, x_shape",
    [
        ("multivariate_normal", {"d": 3}, (3,)),
        ("multivariate_normal_tril", {"d": 4}, (4,)),
        ("dirichlet", {"K": 5}, (5,)),
        ("dirichlet", {"K": 5, "x_shape": [5]}, (5,)),
        ("polynomial", {"p": 6}, (1,)),
        ("nn_stats", {"num_stats": 5}, (1,)),
    ],
)
def test_parameters_set_shapes(name, params, x_shape):
    family = get_family(name, **params)
    assert family.x_shape == x_shape
    assert family.domain.x_shape == x_shape
    hash(family)  # usable as a static jit argument


@pytest.mark.parametrize(
    "name, params",
    [
        ("polynomial", {"p": 3}),
        ("polynomial", {"p": 0}),
        ("polynomial", {"p": 2.0}),
        ("multivariate_normal", {"d": 3, "x_shape": (2,)}),
        ("dirichlet", {"K": 3, "x_shape": (4,)}),
    ],
)
def test_bad_parameters_raise(name, params):
    with pytest.raises(ValueError, match="p must be|x_shape"):
        get_family(name, **params)


def test_nn_stats_weights_are_seeded():
    a, b, c = get_family("nn_stats"), get_family("nn_stats"), get_family("nn_stats", seed=1)
    for wa, wb, wc in zip(a.weights, b.weights, c.weights, strict=True):
        np.testing.assert_array_equal(wa, wb)
        assert not np.allclose(wa, wc)
    assert [w.shape for w in a.weights] == [(16, 1), (16,), (3, 16), (3,)]
    x = jnp.linspace(-50.0, 50.0, 101)[:, None]
    t = jax.vmap(a.compute_stats_flat)(x)
    assert np.all(np.abs(np.asarray(t)) <= 1.0)  # bounded, so every eta is valid
    np.testing.assert_allclose(a.log_base_measure(jnp.array([3.0])), -4.5)


def test_multivariate_normal_is_a_subclass_sharing_the_logic():
    tril = type(get_family("multivariate_normal_tril"))
    assert issubclass(tril, MultivariateNormal)
    for method in ("log_partition", "reparam_eta", "in_natural_space"):
        assert getattr(tril, method) is getattr(MultivariateNormal, method)


@pytest.mark.parametrize("name", [*SPEC_NAMES, USER_FAMILY])
def test_sampler_target_is_finite(name):
    """log_density_unconstrained (what HMC sees) and its gradient are finite in
    float32 at u ~ N(0, 3^2), far into the tails of every bounded coordinate."""
    family = get_family(name)
    eta = jnp.asarray(VALID_ETA[name], jnp.float32)
    assert bool(family.in_natural_space(eta))
    u = jnp.asarray(
        np.random.default_rng(4).normal(0.0, 3.0, (64, family.domain.unconstrained_dim))
    )
    u = u.astype(jnp.float32)
    value, grad = jax.jit(
        jax.vmap(jax.value_and_grad(family.log_density_unconstrained), (0, None))
    )(u, eta)
    assert np.all(np.isfinite(np.asarray(value))) and np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize("name", [*SPEC_NAMES, USER_FAMILY])
def test_one_jitted_function_serves_float32_and_float64(name):
    """The same jitted T(x) and eta . T(x) + log h(x), called outside and then
    inside jax.enable_x64, returns each dtype (as the samplers in float32 and
    the quadrature in float64 may, in one process)."""
    family = get_family(name)
    x = family.domain.forward(jnp.linspace(-0.5, 0.5, family.domain.unconstrained_dim))
    eta = jnp.asarray(VALID_ETA[name])
    fn = jax.jit(lambda x, eta: (family.compute_stats_flat(x), family.log_unnormalized(x, eta)))
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == "float64"):
            stats, logp = fn(x.astype(dtype), eta.astype(dtype))
        assert stats.dtype == dtype and logp.dtype == dtype
