"""Closed-form families against independent float64 references.

For every family with a ``log_partition``, A(eta), exact_mu_T = grad A and
exact_cov_TT = hess A (autodiff in the base class) are compared at easy and
hard eta with

- scipy.stats log-densities (A) and digamma / polygamma / Bessel (ive) moment
  formulas for gamma, beta, dirichlet and von Mises;
- scipy.stats.multivariate_normal (A) and Isserlis' theorem (moments of x and
  x x^T) for the normal families, built from a mean and covariance;
- scipy.integrate.quad of T(x) exp(eta . T(x)), split at the kinks and the
  mode (epsrel 1e-12), for laplace_product and rectified_gaussian.

A float32 check then asserts that the same hard cases stay finite and close.
"""

from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from nnef_dists.families import get_family

RTOL = 1e-8


# ---- references: each returns eta, A, mu (k,), cov (k, k) as float64 -----------------
def gamma_ref(eta):
    a, b = eta[0] + 1.0, -eta[1]
    log_p1 = stats.gamma.logpdf(1.0, a, scale=1.0 / b)  # eta . T(1) = -b
    mu = [special.digamma(a) - np.log(b), a / b]
    cov = [[special.polygamma(1, a), 1.0 / b], [1.0 / b, a / b**2]]
    return eta, -b - log_p1, mu, cov


def beta_ref(eta):
    a, b = eta[0] + 1.0, eta[1] + 1.0
    log_half = np.log(0.5)  # eta . T(1/2) = (eta_1 + eta_2) log(1/2)
    A = (eta[0] + eta[1]) * log_half - stats.beta.logpdf(0.5, a, b)
    psi1_ab = special.polygamma(1, a + b)
    mu = special.digamma([a, b]) - special.digamma(a + b)
    cov = np.diag(special.polygamma(1, [a, b])) - psi1_ab
    return eta, A, mu, cov


def dirichlet_ref(eta):
    alpha = np.asarray(eta) + 1.0
    x0 = np.full(len(alpha), 1.0 / len(alpha))
    A = np.dot(eta, np.log(x0)) - stats.dirichlet.logpdf(x0, alpha)
    mu = special.digamma(alpha) - special.digamma(alpha.sum())
    cov = np.diag(special.polygamma(1, alpha)) - special.polygamma(1, alpha.sum())
    return eta, A, mu, cov


def von_mises_ref(eta):
    """E[cos n(t - t0)] = I_n(k) / I_0(k), E[sin n(t - t0)] = 0."""
    kappa, t0 = np.hypot(*eta), np.arctan2(eta[1], eta[0])
    r1, r2 = special.ive([1, 2], kappa) / special.ive(0, kappa)
    A = np.log(2 * np.pi * special.ive(0, kappa)) + kappa
    mu = r1 * np.array([np.cos(t0), np.sin(t0)])
    c2, s2 = r2 * np.cos(2 * t0), r2 * np.sin(2 * t0)
    second = 0.5 * np.array([[1 + c2, s2], [s2, 1 - c2]])
    return eta, A, mu, second - np.outer(mu, mu)


def normal_ref(mean, cov, tril=False):
    """eta, A and the moments of T = [x, vec(x x^T)] (or [x, tril(x x^T)]) by Isserlis."""
    m, S = np.atleast_1d(mean).astype(float), np.atleast_2d(cov).astype(float)
    d = len(m)
    P = np.linalg.inv(S)
    A = -stats.multivariate_normal(m, S).logpdf(np.zeros(d))  # eta . T(0) = 0
    mu = np.concatenate([m, (S + np.outer(m, m)).ravel()])
    c_x_xx = np.einsum("k,il->ikl", m, S) + np.einsum("l,ik->ikl", m, S)
    c_xx_xx = (
        np.einsum("ik,jl->ijkl", S, S)
        + np.einsum("il,jk->ijkl", S, S)
        + np.einsum("i,k,jl->ijkl", m, m, S)
        + np.einsum("i,l,jk->ijkl", m, m, S)
        + np.einsum("j,k,il->ijkl", m, m, S)
        + np.einsum("j,l,ik->ijkl", m, m, S)
    ).reshape(d * d, d * d)
    c_x_xx = c_x_xx.reshape(d, d * d)
    cov_T = np.block([[S, c_x_xx], [c_x_xx.T, c_xx_xx]])
    M = -0.5 * P
    if not tril:
        return np.concatenate([P @ m, M.ravel()]), A, mu, cov_T
    rows, cols = np.tril_indices(d)
    keep = np.concatenate([np.arange(d), d + rows * d + cols])
    eta_tril = np.where(rows == cols, 1.0, 2.0) * M[rows, cols]
    return np.concatenate([P @ m, eta_tril]), A, mu[keep], cov_T[np.ix_(keep, keep)]


def quad_ref(eta, stats_fn, lo, hi, points):
    """A, mu, cov of p(x) ~ exp(eta . T(x)) by quad over [lo, hi] split at points."""
    eta = np.asarray(eta, dtype=float)
    edges = [lo, *sorted(p for p in points if lo < p < hi), hi]
    shift = max(eta @ stats_fn(p) for p in edges if np.isfinite(p))

    def integral(g):
        pieces = [
            integrate.quad(
                lambda x: g(x) * np.exp(eta @ stats_fn(x) - shift),
                a,
                b,
                epsabs=0.0,
                epsrel=1e-12,
                limit=200,
            )[0]
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
        return sum(pieces)

    Z = integral(lambda x: 1.0)
    k = len(eta)
    mu = np.array([integral(lambda x, i=i: stats_fn(x)[i]) for i in range(k)]) / Z
    cov = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            c = integral(lambda x, i=i, j=j: (stats_fn(x)[i] - mu[i]) * (stats_fn(x)[j] - mu[j]))
            cov[i, j] = cov[j, i] = c / Z
    return eta, shift + np.log(Z), mu, cov


def laplace_ref(eta):
    T = lambda x: np.array([-abs(x - 1.0), -abs(x + 1.0)])
    return quad_ref(eta, T, -np.inf, np.inf, [-1.0, 1.0])


def rectified_ref(eta):
    T = lambda x: np.array([x, x * x])
    mode, sd = max(0.0, -eta[0] / (2 * eta[1])), np.sqrt(-0.5 / eta[1])
    scale = min(sd, 1.0 / max(abs(eta[0]), 1e-300))  # width of the mass near x = 0 or the mode
    return quad_ref(eta, T, 0.0, np.inf, [mode + c * scale for c in (-4, 0, 1, 4, 16)])


def case(name, ref, *args, params=None, tol32=2e-5, id=None):
    """A test case: family, constructor params, reference thunk, float32 tolerance."""
    return pytest.param(name, params or {}, partial(ref, *args), tol32, id=id)


# (id, mean, covariance, params, float32 tolerance or None: no float32 run, saving compiles)
NORMAL_CASES = [
    ("easy-1d", [0.5], [[2.0]], {"d": 1}, None),
    ("easy", [1.0, -2.0], [[2.0, 0.5], [0.5, 1.0]], {}, 2e-5),
    # cond(S) = 2e3, so float32 loses about cond * eps32 = 1.2e-4.
    ("ill-conditioned", [0.5, 1.0], [[1e3, 999.0], [999.0, 1e3]], {}, 1e-3),
    ("d3", [0.3, -1.0, 2.0], [[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 0.5]], {"d": 3}, None),
]

CASES = [
    case("gamma", gamma_ref, [1.0, -2.0], id="gamma-easy"),
    case("gamma", gamma_ref, [-0.99, -1.0], id="gamma-shape-near-0"),
    case("gamma", gamma_ref, [50.0, -1e-2], id="gamma-large-shape"),
    case("beta", beta_ref, [0.0, 0.0], id="beta-uniform"),
    case("beta", beta_ref, [-0.99, -0.5], id="beta-near-boundary"),
    case("beta", beta_ref, [100.0, 3.0], id="beta-large"),
    case("dirichlet", dirichlet_ref, [0.0, 0.0, 0.0], id="dirichlet-uniform"),
    case("dirichlet", dirichlet_ref, [-0.99, 0.5, 3.0], id="dirichlet-near-boundary"),
    case("dirichlet", dirichlet_ref, [10.0, 20.0, -0.5, 1.0], params={"K": 4}, id="dirichlet-K4"),
    case("von_mises", von_mises_ref, [0.0, 0.0], id="vm-zero"),
    case("von_mises", von_mises_ref, [1e-3, -2e-3], id="vm-tiny"),
    case("von_mises", von_mises_ref, [0.06, 0.08], id="vm-just-below-switch"),
    case("von_mises", von_mises_ref, [0.0708, 0.0708], id="vm-just-above-switch"),
    case("von_mises", von_mises_ref, [2.0, -1.0], id="vm-moderate"),
    case("von_mises", von_mises_ref, [50.0, 30.0], id="vm-concentrated"),
    case("laplace_product", laplace_ref, [1.0, 1.0], id="laplace-equal"),
    case("laplace_product", laplace_ref, [0.3, 0.25], id="laplace-nearly-equal"),
    case("laplace_product", laplace_ref, [0.3, 0.1005], id="laplace-just-below-switch"),
    case("laplace_product", laplace_ref, [0.3, 0.1], id="laplace-at-switch"),
    case("laplace_product", laplace_ref, [3.0, 0.1], id="laplace-unequal"),
    case("laplace_product", laplace_ref, [-0.5, 1.0], id="laplace-negative-entry"),
    case("laplace_product", laplace_ref, [0.01, 0.01], id="laplace-near-boundary"),
    case("laplace_product", laplace_ref, [20.0, 5.0], id="laplace-sharp"),
    case("rectified_gaussian", rectified_ref, [0.0, -0.5], id="rect-half-normal"),
    case("rectified_gaussian", rectified_ref, [2.0, -0.5], id="rect-easy"),
    case("rectified_gaussian", rectified_ref, [-1.4, -0.5], id="rect-above-switch32"),
    case("rectified_gaussian", rectified_ref, [-1.6, -0.5], id="rect-below-switch32"),
    case("rectified_gaussian", rectified_ref, [-3.4, -0.5], id="rect-above-switch64"),
    case("rectified_gaussian", rectified_ref, [-3.6, -0.5], id="rect-below-switch64"),
    case("rectified_gaussian", rectified_ref, [-30.0, -0.5], id="rect-large-negative-eta1"),
    case("rectified_gaussian", rectified_ref, [30.0, -0.5], id="rect-large-positive-eta1"),
    case("rectified_gaussian", rectified_ref, [-1.0, -1e-3], id="rect-wide-negative"),
    case("rectified_gaussian", rectified_ref, [1.0, -1e-3], id="rect-wide-positive"),
    case("gaussian_1d", normal_ref, [0.5], [[2.0]], id="g1d-easy"),
    case("gaussian_1d", normal_ref, [-3.0], [[1e-3]], id="g1d-narrow"),
    case("gaussian_1d", normal_ref, [10.0], [[1e4]], id="g1d-near-boundary"),
    *[
        case(
            name,
            normal_ref,
            m,
            S,
            name.endswith("_tril"),
            params=params,
            tol32=tol,
            id=f"{name}-{label}",
        )
        for label, m, S, params, tol in NORMAL_CASES
        for name in ("multivariate_normal", "multivariate_normal_tril")
    ],
]


def _close(got, want, rtol):
    """Relative comparison; entries far below the array's scale get atol = rtol * 1e-3 * scale."""
    want = np.asarray(want, dtype=float)
    atol = rtol * 1e-3 * np.max(np.abs(want), initial=1.0)
    np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=rtol, atol=atol)


@cache
def _exact(name, params):
    """One jitted eta -> (A, mu, cov) per family (compiling per case is slow)."""
    family = get_family(name, **dict(params))
    return jax.jit(
        lambda eta: (family.log_partition(eta), family.exact_mu_T(eta), family.exact_cov_TT(eta))
    )


@pytest.mark.parametrize("name, params, reference, tol32", CASES)
def test_exact_matches_reference_float64(name, params, reference, tol32):
    eta, *want = reference()
    family = get_family(name, **params)
    assert bool(family.in_natural_space(np.asarray(eta, dtype=float)))
    with jax.enable_x64(True):
        got = _exact(name, tuple(params.items()))(jnp.asarray(eta, jnp.float64))
    for g, w in zip(got, want, strict=True):
        _close(g, w, RTOL)


@pytest.mark.parametrize(
    "name, params, reference, tol32", [c for c in CASES if c.values[3] is not None]
)
def test_exact_is_stable_in_float32(name, params, reference, tol32):
    """Same cases in float32: finite, and within tol32 of the reference relative to
    each array's largest entry (float32 round-off, amplified by the conditioning)."""
    eta, *want = reference()
    got = _exact(name, tuple(params.items()))(jnp.asarray(eta, jnp.float32))
    for g, w in zip(got, want, strict=True):
        assert g.dtype == jnp.float32
        scale = np.max(np.abs(w), initial=1.0)
        np.testing.assert_allclose(np.asarray(g, dtype=float), w, rtol=0, atol=tol32 * scale)
