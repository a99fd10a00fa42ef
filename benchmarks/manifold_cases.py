"""Densities on spheres and a simplex with exact samples and exact log densities.

Each generator takes a NumPy seed and returns a ``Case``: training and test
points on the manifold (features too when the case is conditional) and the
true log density of every test row, w.r.t. the measure the flows of
``nnef_dists.flows.manifold`` use: surface area on S^2 (a uniform density is
-log 4 pi), arc length on S^1 (-log 2 pi), Lebesgue measure on the first N
components of a simplex of N + 1 components (as ``scipy.stats.dirichlet``).

- ``vmf``: von Mises-Fisher on S^2, kappa 8, mean direction off the axes;
- ``kent-mixture``: 0.6 / 0.4 mixture of two Kent densities on S^2;
- ``von-mises``: von Mises on S^1, kappa 4;
- ``dirichlet``: Dirichlet(1.5, 2, 3, 4) on the 3-simplex;
- ``conditional-vmf``: f ~ U(0, 1), x | f ~ vMF(mu(f), 1 + 19 f) on S^2 with a
  mean direction turning by pi along a great circle as f goes from 0 to 1.

    from manifold_cases import CASES
    case = CASES["vmf"](seed=0)   # 10,000 training and 5,000 test rows
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import logsumexp

N_TRAIN, N_TEST = 10_000, 5_000


@dataclass
class Case:
    """One benchmark case.

    Attributes:
      manifold: the flow's target space, e.g. ``"s2"``;
      train, test: points (N, D) (unit vectors in R^3 on S^2, (cos, sin) on S^1,
        the 4 components on the 3-simplex);
      train_features, test_features: (N, C), or None for an unconditional case;
      log_p: (N_test,) the exact log density of the test rows (given their features);
      truth: how ``log_p`` is computed (one line).
    """

    manifold: str
    train: np.ndarray
    test: np.ndarray
    train_features: np.ndarray | None
    test_features: np.ndarray | None
    log_p: np.ndarray
    truth: str


def unit(v) -> np.ndarray:
    """v (..., 3) scaled to norm 1."""
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def frame(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (..., 3) that complete the unit vectors mu (..., 3) to a right-handed
    orthonormal frame (a, b, mu)."""
    helper = np.where(np.abs(mu[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    a = unit(np.cross(helper, mu))
    return a, np.cross(mu, a)


def vmf_log_norm(kappa) -> np.ndarray:
    """log(kappa / (4 pi sinh kappa)), the vMF normaliser on S^2, stable for large kappa."""
    kappa = np.asarray(kappa, np.float64)
    return np.log(kappa / (2 * np.pi)) - kappa - np.log1p(-np.exp(-2 * kappa))


def vmf_log_prob(x, mu, kappa) -> np.ndarray:
    """log vMF(x; mu, kappa) on S^2 w.r.t. area: x, mu (..., 3), kappa (...,) -> (...,)."""
    return vmf_log_norm(kappa) + kappa * np.sum(x * mu, -1)


def vmf_sample(rng, mu, kappa, n: int | None = None) -> np.ndarray:
    """Exact vMF draws on S^2: the height along mu is t = 1 + log(u + (1 - u) e^{-2 kappa}) /
    kappa (the inverse of its CDF), the azimuth uniform. mu (3,) or (n, 3), kappa () or (n,)
    -> (n, 3)."""
    mu = unit(mu)
    n = len(mu) if n is None else n
    kappa = np.broadcast_to(np.asarray(kappa, np.float64), (n,))
    u = rng.uniform(size=n)
    t = 1 + np.log(u + (1 - u) * np.exp(-2 * kappa)) / kappa
    phi = rng.uniform(0, 2 * np.pi, size=n)
    r = np.sqrt(np.clip(1 - t**2, 0, None))
    a, b = frame(np.broadcast_to(mu, (n, 3)))
    return unit((r * np.cos(phi))[:, None] * a + (r * np.sin(phi))[:, None] * b + t[:, None] * mu)


def vmf(seed: int = 0, kappa: float = 8.0) -> Case:
    """von Mises-Fisher on S^2, kappa 8, mu = unit(1, 2, 2) / 3 (not along an axis)."""
    rng = np.random.default_rng(seed)
    mu = unit([1.0, 2.0, 2.0])
    train, test = vmf_sample(rng, mu, kappa, N_TRAIN), vmf_sample(rng, mu, kappa, N_TEST)
    log_p = vmf_log_prob(test, mu, kappa)
    return Case("s2", train, test, None, None, log_p, "closed form")


# -- Kent mixture ---------------------------------------------------------------------


def rotation(angles) -> np.ndarray:
    """The rotation matrix R_z(a) R_y(b) R_z(c) (3, 3) of Euler angles (a, b, c)."""

    def rz(a):
        return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])

    def ry(a):
        return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])

    a, b, c = angles
    return rz(a) @ ry(b) @ rz(c)


#: (weight, kappa, beta, Euler angles of the frame (g1, g2, g3) = columns (3, 1, 2) of R)
KENT_MIXTURE = ((0.6, 10.0, 3.0, (0.4, 0.9, 0.3)), (0.4, 6.0, 2.0, (2.6, 2.0, 1.2)))


def kent_axes(angles) -> np.ndarray:
    """(g1, g2, g3) (3, 3), rows orthonormal: g1 the mean direction, g2 / g3 the major /
    minor axes."""
    r = rotation(angles)
    return np.stack([r[:, 2], r[:, 0], r[:, 1]])


def kent_exponent(x, kappa, beta, axes) -> np.ndarray:
    """kappa g1.x + beta ((g2.x)^2 - (g3.x)^2): x (..., 3) -> (...,)."""
    g = x @ axes.T
    return kappa * g[..., 0] + beta * (g[..., 1] ** 2 - g[..., 2] ** 2)


def sphere_grid(n_t: int, n_phi: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature on S^2 in (t, phi), area dt dphi: Gauss-Legendre in t (n_t nodes), the
    periodic midpoint rule in phi (n_phi). Returns points (n_t n_phi, 3) and log weights."""
    t, w = np.polynomial.legendre.leggauss(n_t)
    phi = (np.arange(n_phi) + 0.5) * 2 * np.pi / n_phi
    t, phi = np.meshgrid(t, phi, indexing="ij")
    r = np.sqrt(1 - t**2)
    x = np.stack([r * np.cos(phi), r * np.sin(phi), t], -1).reshape(-1, 3)
    log_w = np.log(np.repeat(w, n_phi) * 2 * np.pi / n_phi)
    return x, log_w


def kent_log_norms(n_t: int = 400, n_phi: int = 800) -> np.ndarray:
    """log of the integral of exp(kent_exponent) over S^2 per mixture component (2,)."""
    x, log_w = sphere_grid(n_t, n_phi)
    return np.array(
        [
            logsumexp(kent_exponent(x, k, b, kent_axes(angles)) + log_w)
            for _, k, b, angles in KENT_MIXTURE
        ]
    )


def kent_mixture_log_prob(x, log_norms=None) -> np.ndarray:
    """log of the normalised Kent mixture: x (..., 3) -> (...,)."""
    log_norms = kent_log_norms() if log_norms is None else log_norms
    terms = [
        np.log(w) + kent_exponent(x, k, b, kent_axes(angles)) - c
        for (w, k, b, angles), c in zip(KENT_MIXTURE, log_norms, strict=True)
    ]
    return np.logaddexp.reduce(terms, axis=0)


def kent_mixture_sample(rng, n: int, log_norms) -> np.ndarray:
    """n exact draws by rejection from the uniform density on S^2. For beta <= kappa / 2 a
    Kent exponent is at most kappa (its mode g1), so p <= sum_k w_k e^{kappa_k} / c_k =: M
    and a uniform proposal is accepted with probability p(x) / M."""
    for _, k, b, _ in KENT_MIXTURE:
        assert b <= k / 2, "the envelope needs beta <= kappa / 2"
    peaks = [np.log(w) + k for w, k, _, _ in KENT_MIXTURE]
    log_m = logsumexp(np.array(peaks) - log_norms)
    out = []
    while sum(map(len, out)) < n:
        x = unit(rng.standard_normal((20 * n, 3)))
        keep = np.log(rng.uniform(size=len(x))) < kent_mixture_log_prob(x, log_norms) - log_m
        out.append(x[keep])
    return np.concatenate(out)[:n]


def kent_mixture(seed: int = 0) -> Case:
    """0.6 Kent(kappa 10, beta 3) + 0.4 Kent(kappa 6, beta 2) on S^2, differently oriented
    (``KENT_MIXTURE``); normalisers by quadrature (``kent_log_norms``: 400 x 800 nodes,
    converged to ~1e-13 relative), samples by rejection (``kent_mixture_sample``)."""
    rng = np.random.default_rng(seed)
    log_norms = kent_log_norms()
    train = kent_mixture_sample(rng, N_TRAIN, log_norms)
    test = kent_mixture_sample(rng, N_TEST, log_norms)
    log_p = kent_mixture_log_prob(test, log_norms)
    return Case("s2", train, test, None, None, log_p, "normalisers by quadrature")


# -- von Mises, Dirichlet, conditional vMF ---------------------------------------------


def von_mises(seed: int = 0, kappa: float = 4.0, loc: float = 1.0) -> Case:
    """von Mises on S^1 (kappa 4, mean angle 1 rad) as (cos, sin) rows; numpy's sampler,
    log density ``scipy.stats.vonmises.logpdf`` (w.r.t. the angle, i.e. arc length)."""
    rng = np.random.default_rng(seed)
    angles = rng.vonmises(loc, kappa, N_TRAIN + N_TEST)
    points = np.column_stack([np.cos(angles), np.sin(angles)])
    log_p = stats.vonmises.logpdf(angles[N_TRAIN:], kappa, loc=loc)
    return Case("s1", points[:N_TRAIN], points[N_TRAIN:], None, None, log_p, "scipy.stats.vonmises")


def dirichlet(seed: int = 0, alpha=(1.5, 2.0, 3.0, 4.0)) -> Case:
    """Dirichlet(alpha) on the 3-simplex (4 components); numpy's sampler, log density
    ``scipy.stats.dirichlet.logpdf`` (w.r.t. the first 3 components)."""
    rng = np.random.default_rng(seed)
    points = rng.dirichlet(alpha, N_TRAIN + N_TEST)
    test = points[N_TRAIN:]
    log_p = stats.dirichlet.logpdf(test.T, alpha)
    return Case("x3", points[:N_TRAIN], test, None, None, log_p, "scipy.stats.dirichlet")


def conditional_mean(f) -> np.ndarray:
    """mu(f) = cos(pi f) u + sin(pi f) v, (N,) -> (N, 3): half a great circle through
    u = unit(1, 1, 1) and v = unit(1, -1, 0)."""
    u, v = unit([1.0, 1.0, 1.0]), unit([1.0, -1.0, 0.0])
    f = np.asarray(f, np.float64)[..., None]
    return np.cos(np.pi * f) * u + np.sin(np.pi * f) * v


def conditional_vmf(seed: int = 0) -> Case:
    """f ~ U(0, 1) (feature (N, 1)), x | f ~ vMF(mu(f), kappa = 1 + 19 f) on S^2
    (``conditional_mean``): exact draws (``vmf_sample``) and the closed-form conditional
    log density."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(size=N_TRAIN + N_TEST)
    x = vmf_sample(rng, conditional_mean(f), 1 + 19 * f)
    f_test = f[N_TRAIN:]
    log_p = vmf_log_prob(x[N_TRAIN:], conditional_mean(f_test), 1 + 19 * f_test)
    return Case(
        "s2",
        x[:N_TRAIN],
        x[N_TRAIN:],
        f[:N_TRAIN, None],
        f_test[:, None],
        log_p,
        "closed form given f",
    )


CASES = {
    "vmf": vmf,
    "kent-mixture": kent_mixture,
    "von-mises": von_mises,
    "dirichlet": dirichlet,
    "conditional-vmf": conditional_vmf,
}
