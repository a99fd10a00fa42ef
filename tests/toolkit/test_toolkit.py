"""The family toolkit (nnef_dists.toolkit) against scipy, in float64.

References: scipy.stats (entropy, logpdf, moments) and scipy.integrate.quad
for what scipy.stats lacks (KL, moments of the polynomial family and of a
user's generalised inverse Gaussian), closed forms written out by hand for
the Dirichlet and normal KL. efax is the second reference (test_efax.py).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from nnef_dists.families import get_family
from nnef_dists.toolkit import NotConvergedError, toolkit
from tests.toolkit.gig_family import GeneralisedInverseGaussian

RTOL = 1e-10
slow = pytest.mark.slow  # make test-all; make test keeps one case per kind


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def quad(f, lo, hi):
    """scipy's adaptive quadrature, asked for 1e-12 (its round-off warnings kept quiet)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]


# ---- (eta, the scipy distribution, mean and covariance of T written out by hand) --------
def gamma_case(a, b):
    mean = [special.digamma(a) - np.log(b), a / b]
    cov = [[special.polygamma(1, a), 1 / b], [1 / b, a / b**2]]
    return np.array([a - 1.0, -b]), stats.gamma(a, scale=1.0 / b), mean, cov


def normal_case(m, s):
    v = s**2
    mean, cov = [m, m * m + v], [[v, 2 * m * v], [2 * m * v, 2 * v * v + 4 * m * m * v]]
    return np.array([m / v, -0.5 / v]), stats.norm(m, s), mean, cov


ONE_D = {
    "gamma": [gamma_case(2.5, 2.0), gamma_case(0.3, 0.7), gamma_case(40.0, 3.0)],
    "gaussian_1d": [normal_case(0.3, 1.7), normal_case(-2.0, 0.2)],
}


@pytest.mark.parametrize("name, case", [(n, c) for n, cases in ONE_D.items() for c in cases])
def test_one_dimensional_families_against_scipy(name, case):
    eta, dist, mean, cov = case
    tk = toolkit(get_family(name))
    eta = jnp.asarray(eta)
    np.testing.assert_allclose(tk.mean(eta), mean, rtol=RTOL)
    np.testing.assert_allclose(tk.covariance(eta), cov, rtol=RTOL)
    np.testing.assert_allclose(tk.entropy(eta), dist.entropy(), rtol=RTOL)
    np.testing.assert_allclose(tk.log_prob(jnp.array([0.7]), eta), dist.logpdf(0.7), rtol=RTOL)


def test_beta_and_dirichlet_against_scipy():
    beta = toolkit(get_family("beta"))
    eta, dist = np.array([-0.3, 2.2]), stats.beta(0.7, 3.2)
    np.testing.assert_allclose(
        beta.mean(jnp.asarray(eta)),
        [special.digamma(0.7) - special.digamma(3.9), special.digamma(3.2) - special.digamma(3.9)],
        rtol=RTOL,
    )
    np.testing.assert_allclose(beta.entropy(jnp.asarray(eta)), dist.entropy(), rtol=RTOL)
    alpha = np.array([0.5, 2.0, 7.5])
    dirichlet = toolkit(get_family("dirichlet", K=3))
    eta = jnp.asarray(alpha - 1.0)
    np.testing.assert_allclose(dirichlet.entropy(eta), stats.dirichlet(alpha).entropy(), rtol=RTOL)
    x = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(
        dirichlet.log_prob(jnp.asarray(x), eta), stats.dirichlet(alpha).logpdf(x), rtol=RTOL
    )
    # KL of Dirichlets, written out: ln B(b) - ln B(a) + sum (a - b)(psi(a) - psi(a0)).
    beta_ = np.array([1.5, 1.0, 3.0])
    log_b = lambda v: special.gammaln(v).sum() - special.gammaln(v.sum())  # noqa: E731
    kl = (
        log_b(beta_)
        - log_b(alpha)
        + np.sum((alpha - beta_) * (special.digamma(alpha) - special.digamma(alpha.sum())))
    )
    np.testing.assert_allclose(dirichlet.kl(eta, jnp.asarray(beta_ - 1.0)), kl, rtol=RTOL)


def test_von_mises_against_scipy():
    tk = toolkit(get_family("von_mises"))
    kappa, loc = 2.3, 0.4
    eta = jnp.array([kappa * np.cos(loc), kappa * np.sin(loc)])
    np.testing.assert_allclose(tk.entropy(eta), stats.vonmises(kappa, loc).entropy(), rtol=RTOL)
    # E[cos x] = I1 / I0 (kappa) along the mean direction
    r = special.i1(kappa) / special.i0(kappa)
    np.testing.assert_allclose(tk.mean(eta), [r * np.cos(loc), r * np.sin(loc)], rtol=RTOL)
    other = jnp.array([0.5, -1.0])
    pdf = lambda t, e: np.exp(e[0] * np.cos(t) + e[1] * np.sin(t) - tk.log_partition(e))  # noqa: E731
    kl = quad(lambda t: pdf(t, eta) * np.log(pdf(t, eta) / pdf(t, other)), -np.pi, np.pi)
    np.testing.assert_allclose(tk.kl(eta, other), kl, rtol=1e-9)


def test_bivariate_normal_against_scipy():
    tk = toolkit(get_family("multivariate_normal_tril", d=2))
    mean, cov = np.array([0.5, -1.0]), np.array([[2.0, 0.6], [0.6, 0.5]])
    precision = np.linalg.inv(cov)
    # T = (x, x1^2, x2 x1, x2^2): eta = (P m, -P11 / 2, -P21, -P22 / 2)
    eta = jnp.asarray(
        [*(precision @ mean), -0.5 * precision[0, 0], -precision[1, 0], -0.5 * precision[1, 1]]
    )
    dist = stats.multivariate_normal(mean, cov)
    np.testing.assert_allclose(tk.entropy(eta), dist.entropy(), rtol=RTOL)
    x = jnp.array([0.1, 0.2])
    np.testing.assert_allclose(tk.log_prob(x, eta), dist.logpdf(np.asarray(x)), rtol=RTOL)
    # KL of normals, written out, against N(0, I)
    eta_q = jnp.array([0.0, 0.0, -0.5, 0.0, -0.5])
    kl = 0.5 * (np.trace(cov) + mean @ mean - 2 - np.log(np.linalg.det(cov)))
    np.testing.assert_allclose(tk.kl(eta, eta_q), kl, rtol=RTOL)


# ---- quadrature-backed families ---------------------------------------------------------
def quadrature_reference(T, log_density, lo, hi):
    """A, mean, covariance and entropy by scipy quad of exp(log_density) with statistics T."""
    log_z = np.log(quad(lambda x: np.exp(log_density(x)), lo, hi))
    pdf = lambda x: np.exp(log_density(x) - log_z)  # noqa: E731
    k = len(T(1.0))
    mean = np.array([quad(lambda x, i=i: T(x)[i] * pdf(x), lo, hi) for i in range(k)])
    cov = np.array(
        [
            [
                quad(lambda x, i=i, j=j: (T(x)[i] - mean[i]) * (T(x)[j] - mean[j]) * pdf(x), lo, hi)
                for j in range(k)
            ]
            for i in range(k)
        ]
    )
    entropy = -quad(lambda x: pdf(x) * (log_density(x) - log_z), lo, hi)
    return log_z, mean, cov, entropy


@pytest.mark.parametrize(
    "family, eta, T, lo, hi",
    [
        pytest.param(
            get_family("polynomial", p=4),
            [0.5, -0.3, 0.2, -0.4],
            lambda x: np.array([x, x**2, x**3, x**4]),
            -np.inf,
            np.inf,
            id="polynomial",
            marks=pytest.mark.slow,  # 10 s; the user's family below runs in make test
        ),
        pytest.param(
            GeneralisedInverseGaussian(),
            [0.5, -1.5, -0.7],
            lambda x: np.array([np.log(x), x, 1 / x]),
            0.0,
            np.inf,
            id="user_gig",
        ),
    ],
)
def test_quadrature_families_against_scipy_quad(family, eta, T, lo, hi):
    tk = toolkit(family)
    assert tk.source == "quadrature"
    eta = jnp.asarray(eta)
    log_z, mean, cov, entropy = quadrature_reference(T, lambda x: np.asarray(eta) @ T(x), lo, hi)
    np.testing.assert_allclose(tk.log_partition(eta), log_z, rtol=RTOL)
    np.testing.assert_allclose(tk.mean(eta), mean, rtol=RTOL)
    np.testing.assert_allclose(tk.covariance(eta), cov, rtol=1e-9)
    np.testing.assert_allclose(tk.entropy(eta), entropy, rtol=RTOL)


def test_generalised_inverse_gaussian_mean_against_scipy_stats():
    # scipy's geninvgauss(p, b) has density ~ x^(p-1) exp(-b (x + 1/x) / 2); with scale s,
    # x^(p-1) exp(-(b/s x + b s / x) / 2): a = b / s, b_ours = b s.
    p, b, s = 1.5, 1.2, 0.8
    eta = jnp.array([p - 1.0, -0.5 * b / s, -0.5 * b * s])
    tk = toolkit(GeneralisedInverseGaussian())
    dist = stats.geninvgauss(p, b, scale=s)
    np.testing.assert_allclose(tk.mean(eta)[1], dist.mean(), rtol=RTOL)
    np.testing.assert_allclose(tk.log_prob(jnp.array([0.9]), eta), dist.logpdf(0.9), rtol=RTOL)


# ---- the inverse map ---------------------------------------------------------------------
FAMILIES = [
    ("gamma", {}, [[1.5, -2.0], [-0.7, -0.1], [60.0, -5.0]]),
    pytest.param("beta", {}, [[-0.5, 2.2], [8.0, 0.1]], marks=slow),
    pytest.param("von_mises", {}, [[2.0, -1.0], [0.01, 0.02], [30.0, 0.0]], marks=slow),
    ("dirichlet", {"K": 5}, [[-0.5, 0.0, 1.0, 3.0, 10.0]]),
    pytest.param("gaussian_1d", {}, [[3.0, -0.2], [-40.0, -50.0]], marks=slow),
    pytest.param("multivariate_normal_tril", {"d": 2}, [[0.5, -1.0, -0.8, 0.3, -0.6]], marks=slow),
    # about 10 s each (quadrature; a logsumexp of pieces): make test-all
    pytest.param("polynomial", {"p": 4}, [[0.5, -0.3, 0.2, -0.4]], marks=pytest.mark.slow),
    pytest.param("laplace_product", {}, [[0.3, 2.0]], marks=pytest.mark.slow),
    pytest.param("rectified_gaussian", {}, [[0.4, -1.3]], marks=slow),
    pytest.param("nn_stats", {}, [[0.2, -0.4, 0.3]], marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name, params, etas", FAMILIES)
def test_natural_inverts_mean_to_1e_10(name, params, etas):
    tk = toolkit(get_family(name, **params))
    eta = jnp.asarray(etas)
    result = tk.natural(tk.mean(eta))
    assert bool(result.converged.all()), result
    np.testing.assert_allclose(result.eta, eta, rtol=RTOL, atol=RTOL * float(jnp.abs(eta).max()))
    assert float(result.residual.max()) < 1e-8


@pytest.mark.slow  # quadrature on the sphere, 5 s
def test_a_non_minimal_family_is_flagged_not_solved():
    # fisher_bingham's x x^T has a constant trace on the sphere: Cov[T] is singular,
    # eta is not unique, and natural says so instead of returning one of them
    tk = toolkit(get_family("fisher_bingham"))
    eta = jnp.asarray(np.random.default_rng(1).normal(size=9) * 0.3)
    assert not bool(tk.natural(tk.mean(eta)).converged)


def test_natural_works_under_jit_and_vmap():
    tk = toolkit(get_family("gamma"))
    eta = jnp.asarray([[1.5, -2.0], [0.3, -0.5]])
    jitted = jax.jit(jax.vmap(lambda mu: tk.natural(mu).eta))(tk.mean(eta))
    np.testing.assert_allclose(jitted, eta, rtol=RTOL)


@pytest.mark.parametrize(
    "mu",
    [[1.0, 1.0], [0.0, 1.0], [np.log(2.0), 1.5]],  # E log x > log E x, or equal: Jensen
    ids=["outside", "on the boundary", "just outside"],
)
def test_a_mean_outside_the_convex_hull_is_never_converged(mu):
    tk = toolkit(get_family("gamma"))
    result = tk.natural(jnp.asarray(mu))
    assert not bool(result.converged)
    with pytest.raises(NotConvergedError, match="convex hull of T"):
        tk.natural(jnp.asarray(mu), strict=True)


def test_fit_is_maximum_likelihood():
    # the gamma MLE solves log a - psi(a) = log mean(x) - mean(log x), b = a / mean(x)
    tk = toolkit(get_family("gamma"))
    x = stats.gamma(3.0, scale=0.5).rvs(2000, random_state=np.random.default_rng(0))
    a = stats.gamma.fit(x, floc=0)[0]
    fitted = tk.fit(jnp.asarray(x)[:, None], strict=True).eta
    mle_a = __import__("scipy.optimize").optimize.brentq(
        lambda a: np.log(a) - special.digamma(a) - (np.log(x.mean()) - np.log(x).mean()), 1e-3, 1e3
    )
    np.testing.assert_allclose(fitted, [mle_a - 1.0, -mle_a / x.mean()], rtol=1e-9)
    assert abs(a - mle_a) < 1e-3  # scipy's optimiser agrees, to its own tolerance


# ---- sampling ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, params, eta, dist",
    [
        ("gamma", {}, *gamma_case(2.5, 2.0)[:2]),
        pytest.param("gamma", {}, *gamma_case(0.4, 1.0)[:2], marks=slow),
        pytest.param("gaussian_1d", {}, *normal_case(1.0, 0.3)[:2], marks=slow),
    ],
)
def test_samples_pass_a_kolmogorov_smirnov_test(name, params, eta, dist):
    tk = toolkit(get_family(name, **params))
    x = np.asarray(tk.sample(jax.random.key(0), jnp.asarray(eta), 20_000))[:, 0]
    assert stats.kstest(x, dist.cdf).pvalue > 1e-3
    # the test has power: a 10 % change of scale is rejected at this size
    assert stats.kstest(x * 1.1, dist.cdf).pvalue < 1e-3


def test_hmc_draws_on_the_circle_pass_a_kolmogorov_smirnov_test():
    """von Mises (no inverse-CDF sampler: its support is the circle), by HMC: the angles
    of the draws against scipy's von Mises (kappa = |eta|, loc = the angle of eta)."""
    tk = toolkit(get_family("von_mises"))
    eta = np.array([2.0 * np.cos(0.7), 2.0 * np.sin(0.7)])
    x = np.asarray(tk.sample(jax.random.key(0), jnp.asarray(eta), 2000))
    angle = np.arctan2(x[:, 1], x[:, 0])
    dist = stats.vonmises(2.0, loc=0.7)
    assert stats.kstest(angle, dist.cdf).pvalue > 1e-3
    assert stats.kstest(angle + 0.15, dist.cdf).pvalue < 1e-3  # power: a shift of 0.15 rad


def test_hmc_draws_in_two_dimensions_match_the_exact_gaussian():
    """multivariate_normal d = 2 (no 1-D quadrature), by HMC: two-sample KS tests along
    8 directions against exact Gaussian draws (mean and covariance from the closed form;
    Bonferroni), and a mean within 4 standard errors."""
    tk = toolkit(get_family("multivariate_normal", d=2))
    # x ~ N(m, S) has eta_x = S^-1 m, eta_xxT = -S^-1 / 2
    m, cov = np.array([1.0, -2.0]), np.array([[1.0, 0.6], [0.6, 2.0]])
    precision = np.linalg.inv(cov)
    eta = np.concatenate([precision @ m, (-0.5 * precision).ravel()])
    x = np.asarray(tk.sample(jax.random.key(1), jnp.asarray(eta), 2000))
    reference = np.random.default_rng(0).multivariate_normal(m, cov, 20_000)
    directions = np.random.default_rng(1).standard_normal((8, 2))
    for d in directions:
        assert stats.ks_2samp(x @ d, reference @ d).pvalue > 1e-3 / 8
    assert stats.ks_2samp(1.15 * x @ directions[0], reference @ directions[0]).pvalue < 1e-3
    se = np.sqrt(np.diag(cov) / len(x))
    assert np.all(np.abs(x.mean(0) - m) < 4 * se)


@pytest.mark.parametrize(
    "name, params, eta",
    [
        ("gamma", {}, [[1.5, -2.0], [-0.7, -0.1], [60.0, -5.0]]),
        pytest.param("beta", {}, [[0.5, 2.2], [8.0, 3.1]], marks=slow),
        pytest.param("dirichlet", {"K": 5}, [[0.5, 1.0, 1.0, 3.0, 10.0]], marks=slow),
        pytest.param("von_mises", {}, [[2.0, -1.0], [0.3, 0.1], [30.0, 0.0]], marks=slow),
    ],
)
def test_natural_guesses_are_close_and_natural_polishes_them(name, params, eta):
    # the approximations (Minka; psi(a) ~ log(a - 1/2); Banerjee et al.) are a few per cent
    # off for these eta; natural then needs few Newton steps
    family = get_family(name, **params)
    tk, eta = toolkit(family), jnp.asarray(eta)
    mu = tk.mean(eta)
    guess = jax.vmap(family.natural_guess)(mu)
    np.testing.assert_allclose(guess, eta, rtol=0.15, atol=0.15)
    result = tk.natural(mu)
    assert int(result.steps.max()) <= 6, result.steps
