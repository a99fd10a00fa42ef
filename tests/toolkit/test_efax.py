"""The family toolkit against efax, an independent JAX library, in float64.

efax writes each log-normaliser by hand; we derive everything from ours (or
from quadrature), so agreement to 1e-10 checks both. efax needs Python >=
3.12: elsewhere this module is skipped, and test_toolkit.py checks the same
quantities against scipy and closed forms.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

efax = pytest.importorskip(
    "efax", reason="efax needs Python >= 3.12 (the same values are checked against scipy)"
)

from nnef_dists.families import get_family  # noqa: E402
from nnef_dists.toolkit import toolkit  # noqa: E402

RTOL = 1e-10


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def _gamma(eta):  # ours: (log x, x); efax: shape - 1, -rate
    return efax.GammaNP(negative_rate=eta[1], shape_minus_one=eta[0])


def _normal(eta):  # ours: (x, x^2)
    return efax.NormalNP(mean_times_precision=eta[0], negative_half_precision=eta[1])


def _von_mises(eta):  # ours: (cos, sin) = efax's mean_times_concentration
    return efax.VonMisesFisherNP(mean_times_concentration=eta)


def _alpha_minus_one(cls):
    return lambda eta: cls(alpha_minus_one=eta)


def _mvn(eta, d=2):
    """ours: (x, xx^T row-major); the density sees only the symmetric part of M, and
    so does A, hence its Hessian is Cov[T] (efax's takes M as given)."""
    M = eta[d:].reshape(d, d)
    return efax.MultivariateNormalNP(
        mean_times_precision=eta[:d], negative_half_precision=0.5 * (M + M.T)
    )


CASES = [
    ("gamma", {}, _gamma, [[1.5, -2.0], [-0.6, -0.3]]),
    ("beta", {}, _alpha_minus_one(efax.BetaNP), [[-0.3, 2.2], [4.0, 0.5]]),
    ("dirichlet", {"K": 5}, _alpha_minus_one(efax.DirichletNP), [[-0.5, 0.0, 1.0, 3.0, 10.0]]),
    ("von_mises", {}, _von_mises, [[2.0, -1.0], [0.3, 0.1]]),
    ("gaussian_1d", {}, _normal, [[0.6, -0.4], [-3.0, -2.0]]),
    ("multivariate_normal", {"d": 2}, _mvn, [[0.5, -1.0, -0.8, 0.2, 0.2, -0.6]]),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("name, params, to_efax, etas", CASES, ids=IDS)
def test_log_normaliser_mean_entropy_and_kl(name, params, to_efax, etas):
    tk = toolkit(get_family(name, **params))
    for eta, other in zip(etas, etas[1:] + etas[:1], strict=True):
        eta, other = jnp.asarray(eta), jnp.asarray(other)
        ours, theirs = to_efax(eta), to_efax(other)
        np.testing.assert_allclose(tk.log_partition(eta), ours.log_normalizer(), rtol=RTOL)
        np.testing.assert_allclose(tk.entropy(eta), ours.entropy(), rtol=RTOL)
        expected_mean = jax.grad(lambda e: to_efax(e).log_normalizer())(eta)
        np.testing.assert_allclose(tk.mean(eta), expected_mean, rtol=RTOL, atol=1e-14)
        fisher = jax.hessian(lambda e: to_efax(e).log_normalizer())(eta)
        np.testing.assert_allclose(tk.covariance(eta), fisher, rtol=RTOL, atol=1e-14)
        if not np.array_equal(eta, other):
            np.testing.assert_allclose(tk.kl(eta, other), ours.kl_divergence(theirs), rtol=RTOL)


@pytest.mark.parametrize("name, params, to_efax, etas", CASES[:5], ids=IDS[:5])
def test_natural_against_efax_to_nat(name, params, to_efax, etas):
    """Both inverses from the exact mean: ours to 1e-10 of the true eta, and efax's error."""
    tk = toolkit(get_family(name, **params))
    eta = jnp.asarray(etas)
    result = tk.natural(tk.mean(eta))
    assert bool(result.converged.all())
    np.testing.assert_allclose(result.eta, eta, rtol=RTOL, atol=RTOL * float(jnp.abs(eta).max()))
