"""The worked CAVI examples: a normal mean and precision with a normal or quartic prior.

Data d_1..d_N ~ N(mu, 1/tau), priors tau ~ Gamma(a0, b0) (shape, rate) and
either mu ~ N(m0, s0^2) (``normal_gamma``) or log p(mu) = c_1 mu + c_2 mu^2 +
c_3 mu^3 + c_4 mu^4 - log Z(c), c_4 < 0 (``polynomial_prior``). With
n = N, s1 = sum_i d_i, s2 = sum_i d_i^2,

    log p(d | mu, tau) = n/2 log tau - tau/2 (s2 - 2 mu s1 + n mu^2) - n/2 log(2 pi)
                       = tau mu s1 - n/2 tau mu^2 + n/2 log tau - s2/2 tau + const,

so with x = mu, y = tau and the statistics T(mu) = [mu, mu^2] (gaussian_1d) or
[mu, mu^2, mu^3, mu^4] (polynomial, p = 4) and S(tau) = [log tau, tau] (gamma,
base measures 1) the joint log density is bilinear, T^T A S + b_x.T + b_y.S +
const, with

    A   = [[0,  s1 ],      (rows 3 and 4 zero for the quartic prior)
           [0, -n/2]],
    b_x = [m0 / s0^2, -1 / (2 s0^2)]          or  [c_1, c_2, c_3, c_4],
    b_y = [a0 - 1 + n/2, -b0 - s2/2],
    const = -n/2 log(2 pi) + a0 log b0 - lgamma(a0)
            - log(2 pi s0^2)/2 - m0^2 / (2 s0^2)   or  - log Z(c).

CAVI (``cavi``) then iterates eta_x = b_x + A <S> = [m0/s0^2 + s1 E[tau],
-1/(2 s0^2) - n/2 E[tau]] (the quartic terms stay c_3, c_4) and eta_y = b_y +
A^T <T> = [a0 - 1 + n/2, -b0 - s2/2 + s1 E[mu] - n/2 E[mu^2]].

Closed-form fixed point of the normal prior (the mean-field updates of
Bishop, PRML 10.1.3, with the independent prior N(m0, s0^2) in place of
N(mu0, (lambda0 tau)^-1)): q(mu) = N(m, 1/lam), q(tau) = Gamma(a_n, b_n) with

    lam = 1/s0^2 + n t,            m   = (m0/s0^2 + s1 t) / lam,
    a_n = a0 + n/2,                b_n = b0 + (s2 - 2 m s1 + n (m^2 + 1/lam)) / 2,

where t = E[tau] = a_n / b_n. Substituting, t solves the scalar equation
g(t) = t b_n(t) - a_n = 0; g(0) = -a_n < 0 and, since b_n >= b0, g(a_n / b0)
>= 0, so ``normal_gamma_fixed_point`` brackets a root in (0, a_n / b0] and
finds it by Brent's method in float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.special import gammaln

from nnef_dists.families import ExponentialFamily, get_family
from nnef_dists.inference.model import BilinearModel
from nnef_dists.sampling import exact_moments, quadrature_moments


class Problem(NamedTuple):
    """One example, ready for ``cavi``: families, model, start and constants (float64 NumPy).

    Attributes:
      name: 'normal_gamma' or 'polynomial_prior'.
      family_x, family_y: the variational families of mu and tau.
      model: BilinearModel (arrays (..., k_x, k_y), (..., k_x), (..., k_y)).
      const: (...) the additive constant of log p (ELBO = cavi's ELBO + const).
      eta_x0, eta_y0: (..., k_x), (..., k_y) the start: the prior of mu, and
        q(tau) = p(tau | d, mu = mean of d), i.e. Gamma(a0 + n/2, b0 +
        sum_i (d_i - mean d)^2 / 2).
      data: (..., N) the observations.
    """

    name: str
    family_x: ExponentialFamily
    family_y: ExponentialFamily
    model: BilinearModel
    const: np.ndarray
    eta_x0: np.ndarray
    eta_y0: np.ndarray
    data: np.ndarray


def simulate_data(num_points: int, mu: float, tau: float, seed: int) -> np.ndarray:
    """N draws (N,) of N(mu, 1/tau) from NumPy's default_rng(seed)."""
    rng = np.random.default_rng(seed)
    return mu + rng.standard_normal(num_points) / np.sqrt(tau)


def _likelihood_terms(data, a0, b0, k_x):
    """A (..., k_x, 2), b_y (..., 2), const (...), eta_y0 (..., 2): likelihood and tau prior."""
    data = np.asarray(data, np.float64)
    n, s1, s2 = data.shape[-1], data.sum(-1), (data**2).sum(-1)
    a0, b0 = np.broadcast_arrays(np.asarray(a0, np.float64), np.asarray(b0, np.float64), s1)[:2]
    zeros = np.zeros_like(s1)
    A = np.zeros((*s1.shape, k_x, 2))
    A[..., 0, 1], A[..., 1, 1] = s1, -n / 2
    b_y = np.stack([a0 - 1 + n / 2 + zeros, -b0 - s2 / 2], axis=-1)
    const = -n / 2 * np.log(2 * np.pi) + a0 * np.log(b0) - gammaln(a0)
    spread = ((data - data.mean(-1, keepdims=True)) ** 2).sum(-1)
    eta_y0 = np.stack([a0 - 1 + n / 2 + zeros, -b0 - spread / 2], axis=-1)
    return A, b_y, const, eta_y0


def normal_gamma(data, m0, s0, a0, b0) -> Problem:
    """Normal prior N(m0, s0^2) on mu, Gamma(a0, b0) on tau (module docstring).

    Args:
      data: (..., N) observations; leading axes give a batch of problems.
      m0, s0, a0, b0: prior parameters, scalars or arrays broadcasting to (...).
    """
    A, b_y, const, eta_y0 = _likelihood_terms(data, a0, b0, 2)
    m0, s0 = np.broadcast_arrays(np.asarray(m0, np.float64), np.asarray(s0, np.float64), const)[:2]
    b_x = np.stack([m0 / s0**2, -0.5 / s0**2], axis=-1)
    const = const - 0.5 * np.log(2 * np.pi * s0**2) - m0**2 / (2 * s0**2)
    model = BilinearModel(A, b_x, b_y)
    families = get_family("gaussian_1d"), get_family("gamma")
    return Problem("normal_gamma", *families, model, const, b_x, eta_y0, np.asarray(data))


def polynomial_prior(data, coefficients, a0, b0) -> Problem:
    """Quartic prior exp(c . [mu, mu^2, mu^3, mu^4]) / Z(c) on mu (c_4 < 0), Gamma(a0, b0) on tau.

    Args:
      data: (N,) observations.
      coefficients: c (4,), c[3] < 0; log Z(c) comes from quadrature.
    """
    c = np.asarray(coefficients, np.float64)
    family_x = get_family("polynomial", p=4)
    if c.shape != (4,) or not c[3] < 0:
        raise ValueError(f"polynomial prior: need 4 coefficients, the last negative, got {c}")
    A, b_y, const, eta_y0 = _likelihood_terms(data, a0, b0, 4)
    const = const - quadrature_moments(family_x, c[None])["log_partition"][0]
    model = BilinearModel(A, c, b_y)
    return Problem(
        "polynomial_prior", family_x, get_family("gamma"), model, const, c, eta_y0, np.asarray(data)
    )


def normal_gamma_fixed_point(data, m0, s0, a0, b0) -> tuple[np.ndarray, np.ndarray]:
    """The CAVI fixed point of ``normal_gamma`` in closed form (module docstring).

    Args: data (N,); prior parameters as scalars.
    Returns: (eta_x (2,), eta_y (2,)) in float64: q(mu) = N(m, 1/lam) as
      [m lam, -lam/2] and q(tau) = Gamma(a_n, b_n) as [a_n - 1, -b_n].
    """
    data = np.asarray(data, np.float64)
    n, s1, s2 = len(data), data.sum(), (data**2).sum()
    a_n = a0 + n / 2

    def posterior(t):
        lam = 1 / s0**2 + n * t
        m = (m0 / s0**2 + s1 * t) / lam
        return lam, m, b0 + 0.5 * (s2 - 2 * m * s1 + n * (m**2 + 1 / lam))

    t = brentq(lambda t: t * posterior(t)[2] - a_n, 0.0, a_n / b0, xtol=1e-300, rtol=1e-15)
    lam, m, b_n = posterior(t)
    return np.array([m * lam, -lam / 2]), np.array([a_n - 1, -b_n])


def summary(family: ExponentialFamily, eta, index: int) -> tuple[float, float]:
    """(mean, variance) of statistic ``index`` of q = family(eta), exactly in float64.

    E.g. index 0 of gaussian_1d or polynomial is x, index 1 of gamma is x;
    the variance is the diagonal entry of Cov[T] (``sampling.exact_moments``:
    the closed form where the family has one, else quadrature). eta: (k,).
    """
    moments = exact_moments(family, np.asarray(eta, np.float64)[None])
    return float(moments["mu_T"][0, index]), float(moments["cov_TT"][0, index, index])


#: Index of the variable itself in the statistics of each example's families.
X_INDEX = {"gaussian_1d": 0, "polynomial": 0, "gamma": 1}
