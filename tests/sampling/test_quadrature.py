"""quadrature_moments against independent references.

Each test names its reference: closed forms written out here with scipy.special,
the families' own closed forms (parametrised over the registry), or
scipy.integrate.quad / dblquad on test-only families. An error passes when
|error| <= RTOL (|reference| + floor), the floor being the standard deviation
sd_i for mu_T[i], sd_i sd_j for cov_TT[i, j] and 1 for log Z (an absolute
error in log Z is a relative error in Z).
"""

import math
from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special

from nnef_dists.families import ExponentialFamily, Sphere, get_family, list_families
from nnef_dists.sampling.quadrature import quadrature_moments

RTOL = 1e-8


def relative_errors(got, mu, cov, log_z):
    """Worst relative error of each output; references mu (N, k), cov (N, k, k), log_z (N,)."""
    sd = np.sqrt(np.einsum("...ii->...i", cov))
    errors = {
        "mu_T": np.abs(got["mu_T"] - mu) / (np.abs(mu) + sd),
        "cov_TT": np.abs(got["cov_TT"] - cov) / (np.abs(cov) + sd[..., :, None] * sd[..., None, :]),
        "log_partition": np.abs(got["log_partition"] - log_z) / (np.abs(log_z) + 1.0),
    }
    return {name: float(err.max()) for name, err in errors.items()}


def assert_moments_close(got, reference, rtol=RTOL):
    """reference: (mu (N, k), cov (N, k, k), log_z (N,))."""
    worst = relative_errors(got, *reference)
    assert max(worst.values()) < rtol, f"relative errors {worst} exceed {rtol}"


def stack(rows):
    """[(mu, cov, log_z), ...] -> (mu (N, k), cov (N, k, k), log_z (N,))."""
    return tuple(np.array(part) for part in zip(*rows, strict=True))


# ---- test-only families -------------------------------------------------------


@dataclass(frozen=True)
class Quartic(ExponentialFamily):
    """T(x) = [x, x^2, x^3, x^4] on the real line; valid for eta_4 < 0."""

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"powers": (4,)}

    def _compute_stats(self, x):
        return {"powers": jnp.concatenate([x, x**2, x**3, x**4])}

    def in_natural_space(self, eta):
        return eta[..., 3] < 0


@dataclass(frozen=True)
class Kinked(ExponentialFamily):
    """T(x) = [-|x - 1|, -|x + 2|, x], base measure exp(-x^2 / 8): kinks at -2 and 1."""

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"t": (3,)}

    def _compute_stats(self, x):
        return {"t": jnp.concatenate([-jnp.abs(x - 1.0), -jnp.abs(x + 2.0), x])}

    def log_base_measure(self, x):
        return -jnp.sum(x**2) / 8.0

    def quadrature_breakpoints(self):
        return (-2.0, 1.0)


@dataclass(frozen=True)
class SphereLinear(ExponentialFamily):
    """von Mises-Fisher on S^2: T(x) = x."""

    x_shape: tuple = (3,)

    @property
    def domain(self):
        return Sphere(self.x_shape[0])

    @cached_property
    def stat_shapes(self):
        return {"x": self.x_shape}

    def _compute_stats(self, x):
        return {"x": x}


@dataclass(frozen=True)
class SphereQuadratic(SphereLinear):
    """Fisher-Bingham-like on S^2: T(x) = [x_0, x_1, x_2, x_0^2, x_0 x_1]."""

    @cached_property
    def stat_shapes(self):
        return {"t": (5,)}

    def _compute_stats(self, x):
        return {"t": jnp.concatenate([x, x[:1] ** 2, x[:1] * x[1:2]])}


# ---- references by scipy.integrate -------------------------------------------


def integrate_moments(integral, log_density, stats, k):
    """(mu (k,), cov (k, k), log Z) of exp(log_density) with ``integral(f, epsabs)``.

    log_density is shifted by the caller so that its maximum is about 0, and
    log Z is of the shifted density. The covariance is taken about the mean.
    """

    def expect(f, scale):
        return integral(lambda *x: f(*x) * math.exp(log_density(*x)), 1e-13 * scale)

    z = expect(lambda *x: 1.0, 0.0)
    rms = [math.sqrt(expect(lambda *x, i=i: stats(*x)[i] ** 2, 0.0) / z) for i in range(k)]
    mu = [expect(lambda *x, i=i: stats(*x)[i], z * rms[i]) / z for i in range(k)]
    cov = np.empty((k, k))
    for i in range(k):
        cov[i, i] = expect(lambda *x, i=i: (stats(*x)[i] - mu[i]) ** 2, 0.0) / z
    for i in range(k):
        for j in range(i + 1, k):
            f = lambda *x, i=i, j=j: (stats(*x)[i] - mu[i]) * (stats(*x)[j] - mu[j])  # noqa: E731
            cov[i, j] = cov[j, i] = expect(f, z * math.sqrt(cov[i, i] * cov[j, j])) / z
    return np.array(mu), cov, math.log(z)


def quad_moments(log_density, stats, k, lo, hi, points):
    """1-D reference: scipy.integrate.quad, float64, epsrel 1e-12, on [lo, hi]."""

    def integral(f, epsabs):
        kw = {"epsabs": epsabs, "epsrel": 1e-12, "limit": 1000, "points": points}
        return integrate.quad(f, lo, hi, **kw)[0]

    return integrate_moments(integral, log_density, stats, k)


def sphere_dblquad_moments(log_density, stats, k):
    """S^2 reference: scipy.integrate.dblquad (epsrel 1e-12) in theta, phi; dA = sin(theta)."""

    def integral(f, epsabs):
        def g(phi, theta):
            s = math.sin(theta)
            return f(s * math.cos(phi), s * math.sin(phi), math.cos(theta)) * s

        kw = {"epsabs": epsabs, "epsrel": 1e-12}
        return integrate.dblquad(g, 0.0, math.pi, 0.0, 2.0 * math.pi, **kw)[0]

    return integrate_moments(integral, log_density, stats, k)


# ---- every registered family with a closed form -------------------------------


def well_inside_etas(family, num=4, seed=0):
    """num eta from N(0, 2^2) draws through reparam_eta whose unit neighbours are all valid.

    This keeps clear of the edge of the natural space, where float64 itself
    limits any quadrature (e.g. a Beta density singular at x = 1, below).
    """
    k = family.stat_dim
    raw = np.random.default_rng(seed).normal(scale=2.0, size=(1000, k))
    eta = np.asarray(jax.jit(jax.vmap(family.reparam_eta))(raw))
    points = eta[:, None, :] + np.concatenate([np.zeros((1, k)), np.eye(k), -np.eye(k)])
    valid = np.asarray(jax.jit(family.in_natural_space)(points.reshape(-1, k)))
    inside = valid.reshape(len(eta), -1).all(axis=1)
    assert inside.sum() >= num, f"{family.name}: too few eta well inside the natural space"
    return eta[inside][:num]


@pytest.mark.parametrize("name", list_families())
def test_registered_families_match_their_closed_forms(name):
    """Reference: the family's exact_mu_T, exact_cov_TT and log_partition, under x64."""
    family = get_family(name)
    if not family.has_exact or family.domain.dim > 2:
        pytest.skip(f"{name}: no closed form, or domain of dimension > 2")
    with jax.enable_x64(True):
        eta = jnp.asarray(well_inside_etas(family))
        exact = tuple(
            np.asarray(jax.jit(jax.vmap(f))(eta))
            for f in (family.exact_mu_T, family.exact_cov_TT, family.log_partition)
        )
    assert_moments_close(quadrature_moments(family, eta), exact)


# ---- 1-D boxes: hard cases against closed forms -------------------------------


def gamma_reference(a, b):
    """Gamma(a, rate b), T = [log x, x]: E = [psi(a) - log b, a / b],
    Cov = [[psi'(a), 1 / b], [1 / b, a / b^2]], A = lgamma(a) - a log b."""
    mu = np.stack([special.digamma(a) - np.log(b), a / b], axis=-1)
    row0 = np.stack([special.polygamma(1, a), 1.0 / b], axis=-1)
    row1 = np.stack([1.0 / b, a / b**2], axis=-1)
    return mu, np.stack([row0, row1], axis=-2), special.gammaln(a) - a * np.log(b)


def test_gamma_far_concentrated_and_singular():
    """Reference: gamma_reference (scipy.special).

    Shape 300 (concentrated), mass at x ~ 3e3 and at x ~ 3e-6, shape 0.3
    (x^-0.7 at 0).
    """
    a = np.array([300.0, 3.0, 3.0, 0.3])
    b = np.array([1.0, 1e-3, 1e6, 1.0])
    got = quadrature_moments(get_family("gamma"), np.stack([a - 1.0, -b], axis=-1))
    assert_moments_close(got, gamma_reference(a, b))


def gaussian_reference(m, v):
    """N(m, v), T = [x, x^2]: E = [m, m^2 + v], Cov = [[v, 2 m v], [2 m v, 2 v^2 + 4 m^2 v]],
    A = m^2 / (2 v) + log(2 pi v) / 2."""
    row0 = np.stack([v, 2.0 * m * v], axis=-1)
    row1 = np.stack([2.0 * m * v, 2.0 * v**2 + 4.0 * m**2 * v], axis=-1)
    mu = np.stack([m, m**2 + v], axis=-1)
    return mu, np.stack([row0, row1], axis=-2), m**2 / (2.0 * v) + 0.5 * np.log(2.0 * np.pi * v)


def test_gaussian_far_narrow_and_broad():
    """Reference: gaussian_reference.

    Mean 30 with sd 0.05, mean -1e3 with sd 1 and mean 0 with sd 1e3. (eta . T
    cancels from ~1e6 at mean -1e3: the log density itself has float64 error
    ~1e-10 there.)
    """
    m = np.array([30.0, -1e3, 0.0])
    v = np.array([0.05, 1.0, 1e3]) ** 2
    got = quadrature_moments(get_family("gaussian_1d"), np.stack([m / v, -0.5 / v], axis=-1))
    assert_moments_close(got, gaussian_reference(m, v))


def beta_reference(a, b):
    """Beta(a, b), T = [log x, log(1 - x)]: E = psi([a, b]) - psi(a + b),
    Cov = diag(psi'([a, b])) - psi'(a + b), A = log B(a, b)."""
    mu = np.stack([special.digamma(a), special.digamma(b)], -1) - special.digamma(a + b)[:, None]
    trigamma = np.stack([special.polygamma(1, a), special.polygamma(1, b)], -1)
    cov = trigamma[:, :, None] * np.eye(2) - special.polygamma(1, a + b)[:, None, None]
    return mu, cov, special.betaln(a, b)


def test_beta_endpoint_singularities():
    """Reference: beta_reference.

    Beta(0.3, 600) (x^-0.7 at 0, concentrated) and Beta(300, 300) at RTOL.
    Beta(0.3, 0.5) on the Box (0, 1): x^-0.7 at 0 is resolved, but x = 1 - d
    is not representable for d < 1.1e-16, so the (1 - x)^-0.5 singularity
    loses the mass 2 sqrt(1.1e-16) / B(0.3, 0.5) = 5e-9, where log(1 - x) ~
    -37: log Z and the log x entries are at RTOL, the log(1 - x) entries at the
    float64 limit (1e-5). The same density on Simplex(2) is exact (below).
    """
    a, b = np.array([0.3, 300.0, 0.3]), np.array([600.0, 300.0, 0.5])
    mu, cov, log_z = beta_reference(a, b)
    got = quadrature_moments(get_family("beta"), np.stack([a - 1.0, b - 1.0], axis=-1))
    assert_moments_close({k: v[:2] for k, v in got.items()}, (mu[:2], cov[:2], log_z[:2]))
    log_x_only = {"mu_T": got["mu_T"][2:, :1], "cov_TT": got["cov_TT"][2:, :1, :1]}
    log_x_only["log_partition"] = got["log_partition"][2:]
    assert_moments_close(log_x_only, (mu[2:, :1], cov[2:, :1, :1], log_z[2:]))
    assert_moments_close({k: v[2:] for k, v in got.items()}, (mu[2:], cov[2:], log_z[2:]), 1e-5)


# ---- 1-D boxes without closed forms: scipy.integrate.quad ---------------------


def grid_max(log_density, lo, hi):
    """Maximum of a vectorised log density on a fine grid of [lo, hi], and its local maxima."""
    x = np.linspace(lo, hi, 600_001)
    y = log_density(x)
    peaks = (y[1:-1] > y[:-2]) & (y[1:-1] > y[2:])
    return y.max(), list(x[1:-1][peaks])


def test_quartic_with_separated_modes_matches_quad():
    """Reference: scipy.integrate.quad (epsrel 1e-12) with the modes as break points.

    log p = eta . [x, x^2, x^3, x^4]: modes at about +-3.2 (sd 0.35), at +-7.1
    (sd 0.18, weights e^0.7 : 1) and at +-10 (sd 0.1, 200 sd apart, weights
    e^2 : 1), and a skewed one-sided case.
    """
    etas = np.array(
        [
            [0.0, 2.0, 0.0, -0.1],
            [0.05, 8.0, 0.0, -0.08],
            [0.05, 25.0, 0.0, -0.125],
            [3.0, -1.0, 0.5, -0.05],
        ]
    )
    rows = []
    for eta in etas:
        poly = np.append(eta[::-1], 0.0)
        shift, modes = grid_max(lambda x, poly=poly: np.polyval(poly, x), -30.0, 30.0)

        def log_density(x, poly=poly, shift=shift):
            return np.polyval(poly, x) - shift

        stats = lambda x: (x, x**2, x**3, x**4)  # noqa: E731
        mu, cov, log_z = quad_moments(log_density, stats, 4, -30.0, 30.0, modes)
        rows.append((mu, cov, log_z + shift))
    assert_moments_close(quadrature_moments(Quartic(), etas), stack(rows))


def test_kinked_density_matches_quad():
    """Reference: scipy.integrate.quad (epsrel 1e-12) with the kinks -2 and 1 as break points."""
    etas = np.array([[1.5, 0.7, 0.3], [-0.5, 2.0, -1.0], [20.0, -3.0, 0.0]])

    def stats(x):
        return (-np.abs(x - 1.0), -np.abs(x + 2.0), x)

    rows = []
    for eta in etas:

        def log_p(x, eta=eta):
            return sum(e * t for e, t in zip(eta, stats(x), strict=True)) - x * x / 8.0

        shift, _ = grid_max(log_p, -80.0, 80.0)
        log_density = lambda x, log_p=log_p, shift=shift: log_p(x) - shift  # noqa: E731
        mu, cov, log_z = quad_moments(log_density, stats, 3, -80.0, 80.0, [-2.0, 1.0])
        rows.append((mu, cov, log_z + shift))
    assert_moments_close(quadrature_moments(Kinked(), etas), stack(rows))


# ---- 2-D boxes ------------------------------------------------------------------


def mvn_reference(m, s):
    """N(m, S) on R^2 with T = [x, vec(x x^T)] and eta = [P m, vec(-P / 2)], P = S^-1.

    Cov[x_i, x_k x_l] = S_ik m_l + S_il m_k; Cov[x_i x_j, x_k x_l] = S_ik S_jl +
    S_il S_jk + m_i m_k S_jl + m_i m_l S_jk + m_j m_k S_il + m_j m_l S_ik;
    A = m^T P m / 2 + log det(2 pi S) / 2. Returns eta and the reference.
    """
    p = np.linalg.inv(s)
    eta = np.concatenate([p @ m, (-0.5 * p).ravel()])
    e = np.einsum
    x_xx = e("ik,l->ikl", s, m) + e("il,k->ikl", s, m)
    xx_xx = (
        e("ik,jl->ijkl", s, s)
        + e("il,jk->ijkl", s, s)
        + e("i,k,jl->ijkl", m, m, s)
        + e("i,l,jk->ijkl", m, m, s)
        + e("j,k,il->ijkl", m, m, s)
        + e("j,l,ik->ijkl", m, m, s)
    )
    cov = np.block([[s, x_xx.reshape(2, 4)], [x_xx.reshape(2, 4).T, xx_xx.reshape(4, 4)]])
    mu = np.concatenate([m, (s + np.outer(m, m)).ravel()])
    log_z = 0.5 * m @ p @ m + 0.5 * np.log(np.linalg.det(2.0 * np.pi * s))
    return eta, (mu, cov, log_z)


def correlated(sd1, sd2, rho):
    return np.array([[sd1**2, rho * sd1 * sd2], [rho * sd1 * sd2, sd2**2]])


def test_correlated_concentrated_gaussian_in_2d():
    """Reference: mvn_reference (closed forms).

    Correlation 0.95 at mean (3, -2), -0.95 at (-5, 4), 0.999 with sd ~1e-3 at
    the origin, and a broad one (sd 10). (Far from the origin a concentrated
    Gaussian is limited by float64 cancellation in eta . T, ~1e-16 |eta| |T|.)
    """
    cases = [
        (np.array([3.0, -2.0]), correlated(0.05, 0.1, 0.95)),
        (np.array([-5.0, 4.0]), correlated(0.05, 0.1, -0.95)),
        (np.array([0.0, 0.0]), correlated(1e-3, 5e-4, 0.999)),
        (np.array([1.0, 2.0]), correlated(10.0, 10.0, 0.5)),
    ]
    etas, refs = zip(*(mvn_reference(m, s) for m, s in cases), strict=True)
    got = quadrature_moments(get_family("multivariate_normal", d=2), np.array(etas))
    assert_moments_close(got, stack(refs))


# ---- simplices --------------------------------------------------------------------


def dirichlet_reference(alpha):
    """Dirichlet(alpha), T = log x: E = psi(alpha) - psi(a0), Cov = diag(psi'(alpha)) - psi'(a0),
    A = sum lgamma(alpha) - lgamma(a0), a0 = sum alpha."""
    a0 = alpha.sum(-1)
    mu = special.digamma(alpha) - special.digamma(a0)[:, None]
    cov = special.polygamma(1, alpha)[:, :, None] * np.eye(alpha.shape[-1])
    cov = cov - special.polygamma(1, a0)[:, None, None]
    return mu, cov, special.gammaln(alpha).sum(-1) - special.gammaln(a0)


@pytest.mark.parametrize(
    "alpha",
    [
        [[0.3, 0.5], [0.05, 2.0], [400.0, 300.0]],
        [[0.3, 0.5, 0.4], [100.0, 200.0, 50.0], [0.5, 300.0, 0.5]],
    ],
    ids=["simplex2", "simplex3"],
)
def test_dirichlet_corners_and_concentration(alpha):
    """Reference: dirichlet_reference. Singular corners x_i^(alpha_i - 1), alpha_i < 1,
    including Beta(0.3, 0.5) as Simplex(2), and concentrated mass."""
    alpha = np.array(alpha)
    family = get_family("dirichlet", K=alpha.shape[1])
    assert_moments_close(quadrature_moments(family, alpha - 1.0), dirichlet_reference(alpha))


# ---- spheres ------------------------------------------------------------------------


def unit_rows(rng, n, d):
    v = rng.normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_von_mises_on_the_circle():
    """Reference: mean resultant r = I1(k) / I0(k) (scipy.special.ive), A = log(2 pi I0(k)),
    Cov = (1 - r / k - r^2) n n^T + (r / k)(I - n n^T) for eta = k n."""
    kappa = np.array([0.1, 5.0, 500.0])
    n = unit_rows(np.random.default_rng(1), 3, 2)
    r = special.ive(1, kappa) / special.ive(0, kappa)
    nn = n[:, :, None] * n[:, None, :]
    along, across = 1.0 - r / kappa - r**2, r / kappa
    cov = along[:, None, None] * nn + across[:, None, None] * (np.eye(2) - nn)
    log_z = np.log(2.0 * np.pi * special.ive(0, kappa)) + kappa
    got = quadrature_moments(get_family("von_mises"), kappa[:, None] * n)
    assert_moments_close(got, (r[:, None] * n, cov, log_z))


def test_von_mises_fisher_on_the_sphere():
    """Reference: A = log(4 pi sinh k / k); E[x] = a(k) n, a = coth k - 1 / k;
    Cov = a'(k) n n^T + (a / k)(I - n n^T), a' = 1 / k^2 - 1 / sinh^2 k; concentrations to 60."""
    kappa = np.array([0.5, 20.0, 60.0])
    n = unit_rows(np.random.default_rng(2), 3, 3)
    a = 1.0 / np.tanh(kappa) - 1.0 / kappa
    da = 1.0 / kappa**2 - 1.0 / np.sinh(kappa) ** 2
    nn = n[:, :, None] * n[:, None, :]
    cov = da[:, None, None] * nn + (a / kappa)[:, None, None] * (np.eye(3) - nn)
    log_z = np.log(2.0 * np.pi / kappa) + kappa + np.log1p(-np.exp(-2.0 * kappa))
    got = quadrature_moments(SphereLinear(), kappa[:, None] * n)
    assert_moments_close(got, (a[:, None] * n, cov, log_z))


def test_fisher_bingham_like_matches_dblquad():
    """Reference: scipy.integrate.dblquad (epsrel 1e-12) in spherical coordinates."""
    etas = np.array([[6.0, 0.0, -4.0, -8.0, 5.0]])
    rows = []
    for eta in etas:
        shift = np.abs(eta).sum()  # >= the max of eta . T, as |T_i| <= 1

        def log_density(x, y, z, eta=eta, shift=shift):
            return eta @ (x, y, z, x * x, x * y) - shift

        stats = lambda x, y, z: (x, y, z, x * x, x * y)  # noqa: E731
        mu, cov, log_z = sphere_dblquad_moments(log_density, stats, 5)
        rows.append((mu, cov, log_z + shift))
    assert_moments_close(quadrature_moments(SphereQuadratic(), etas), stack(rows))


# ---- the interface --------------------------------------------------------------------


@pytest.mark.parametrize(
    "family",
    [
        get_family("multivariate_normal", d=3),
        get_family("dirichlet", K=4),
        SphereLinear(x_shape=(4,)),
    ],
    ids=["box3", "simplex4", "sphere4"],
)
def test_unsupported_domains_raise_naming_the_family(family):
    with pytest.raises(ValueError, match=f"{family.name}.*dimension 3"):
        quadrature_moments(family, np.zeros((1, family.stat_dim)))


def test_bad_eta_raises_naming_the_family():
    gamma = get_family("gamma")
    with pytest.raises(ValueError, match="gamma.*shape"):
        quadrature_moments(gamma, np.zeros(2))
    with pytest.raises(ValueError, match=r"gamma.*rows \[1\].*natural parameter space"):
        quadrature_moments(gamma, np.array([[1.0, -1.0], [1.0, 1.0]]))


def test_chunks_give_the_same_answer_in_float64():
    """Reference: the same call in one chunk; also the float64 output from float32 input."""
    eta = unit_rows(np.random.default_rng(3), 4, 2).astype(np.float32) * 3.0
    family = get_family("von_mises")
    whole, chunked = quadrature_moments(family, eta), quadrature_moments(family, eta, chunk_size=2)
    assert not whole.pop("rejected").any() and not chunked.pop("rejected").any()
    for key, value in whole.items():
        assert value.dtype == np.float64 and len(value) == 4
        np.testing.assert_allclose(chunked[key], value, rtol=1e-14, atol=1e-14)
