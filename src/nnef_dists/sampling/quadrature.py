"""Exact expectations by quadrature, in float64, for supports of dimension <= 2.

For eta of shape (N, k) this computes, per row,

    A(eta)   = log Z,   Z = int exp(eta . T(x) + log h(x)) dm(x),
    mu_T     = E[T(x)],
    cov_TT   = E[(T - mu_T)(T - mu_T)^T],

with m the domain's reference measure: Lebesgue on a ``Box``, arc length /
surface area on ``Sphere(2)`` / ``Sphere(3)``, Lebesgue on x_1..x_(K-1) on
``Simplex(K)``. Every rule gives nodes with log weights log w_j (log of the
quadrature weight times the integrand); then A = logsumexp_j(log w_j), the
probabilities p_j = exp(log w_j - A) never overflow, and the covariance is
taken about the mean (two passes, no E[T T^T] - mu mu^T cancellation).

Rules, by domain:

- ``Box``, 1-D: the line is split at ``family.quadrature_breakpoints()``; each
  piece is integrated by an adaptive double-exponential (DE) rule (``de_rule``):
  tanh-sinh on a finite piece, exp-sinh on a half-line, sinh-sinh on the line.
- ``Box``, 2-D: iterated, the adaptive rule in x_1 of adaptive rules in x_2
  (one per x_1 node), so correlated or concentrated mass is followed.
- ``Simplex(2)``, ``Simplex(3)``: x = (a, (1 - a) b, (1 - a)(1 - b)) from the unit
  square (Jacobian 1 - a), adaptive tanh-sinh in a and b, iterated as above.
  Every x_i, small ones included, is computed without cancellation.
- ``Sphere(2)``: trapezoid rule in the angle (spectral for periodic integrands).
- ``Sphere(3)``: Gauss-Legendre in z = cos(theta) times trapezoid in phi.

The adaptive double-exponential rule is ``nnef_dists.sampling.de_rule``.

Nodes where x or T(x) is not finite in float64 (e.g. x rounded onto an
endpoint where log x = -inf) are dropped. So a density singular at a
*nonzero* finite endpoint, such as (1 - x)^(b - 1) with b < 1 on (0, 1),
loses the mass within float64 spacing of that endpoint (relative
O(1e-16^b)): T takes x alone, and 1 - x cannot be resolved below 1e-16.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from nnef_dists.errors import FamilyError
from nnef_dists.families.domains import Box, Simplex, Sphere
from nnef_dists.sampling.de_rule import interval_map, rule_1d, rule_2d, sinh_de, unit

#: Nodes of the trapezoid rule on the circle.
NODES_CIRCLE = 256
#: Gauss-Legendre nodes in z and trapezoid nodes in phi on the 2-sphere.
NODES_Z, NODES_PHI = 64, 96


#: Largest share of the mass allowed at the integration limits (the outermost nodes
#: with a finite integrand). Every eta of the built-in data configs has at most 4e-21
#: there; an integral that diverges, or whose mass sits within float64 rounding of
#: a limit, has 1e-4 or more (gamma with a = 0 or a = 0.01, measured).
EDGE_LIMIT = 1e-10


def quadrature_moments(family, eta, chunk_size: int = 256, strict: bool = True) -> dict:
    """Exact mu_T, cov_TT and log-partition of ``family`` at each row of eta.

    Args:
      family: an ExponentialFamily whose domain is a Box of dimension 1 or 2,
        ``Sphere(2)``, ``Sphere(3)``, ``Simplex(2)`` or ``Simplex(3)``.
      eta: natural parameters, shape (N, k) with k = family.stat_dim.
      chunk_size: rows per compiled call (bounds memory).
      strict: raise for eta whose integral diverges or cannot be resolved,
        else return them flagged in ``rejected`` (with NaN moments).

    Returns:
      dict of float64 NumPy arrays: ``mu_T`` (N, k), ``cov_TT`` (N, k, k),
      ``log_partition`` (N,), ``edge_mass`` (N,), the share of the mass at
      the integration limits, and ``rejected`` (N,) bool: a moment is not
      finite or the edge mass is above EDGE_LIMIT (a normaliser that
      diverges, or mass within float64 rounding of a limit).

    Raises:
      FamilyError: eta of the wrong shape or outside the natural parameter
        space, or (``strict``) an eta rejected as above.
      ValueError: a domain quadrature does not support.
    """
    rule_for(family)  # fails early on an unsupported domain
    with jax.enable_x64(True):
        eta = _check_eta(family, eta)
        moments = _compiled(family)
        parts = [moments(chunk) for chunk in _chunks(eta, chunk_size)]
        mu, cov, log_z, edge = (np.concatenate(p)[: len(eta)] for p in zip(*parts, strict=True))
    finite = np.isfinite(log_z) & np.isfinite(mu).all(1) & np.isfinite(cov).all(axis=(1, 2))
    rejected = ~finite | ~(edge <= EDGE_LIMIT)
    if strict and rejected.any():
        rows = np.flatnonzero(rejected)
        raise FamilyError(
            f"{family.name}: eta rows {rows[:5].tolist()} (of {rows.size}) are not "
            "normalisable, or their mass lies within float64 rounding of a limit of the "
            f"support (share at the limits {np.nanmax(edge[rows]):.2g}; eta {eta[rows[0]]})"
        )
    mu[rejected], cov[rejected], log_z[rejected] = np.nan, np.nan, np.nan
    return {
        "mu_T": mu,
        "cov_TT": cov,
        "log_partition": log_z,
        "edge_mass": edge,
        "rejected": rejected,
    }


# ---- compilation, checks and batching ------------------------------------------


def _batch_moments(family, eta):
    """eta (n, k) -> mu (n, k), cov (n, k, k), log partition (n,), edge mass (n,)."""
    rule = rule_for(family)
    return jax.vmap(lambda e: moments_from_nodes(*rule(e)))(eta)


_batch_moments_jit = jax.jit(_batch_moments, static_argnums=0)


def _compiled(family):
    """The jitted batch function; cached across calls when the family is hashable."""
    try:
        hash(family)
    except TypeError:
        return jax.jit(partial(_batch_moments, family))
    return partial(_batch_moments_jit, family)


def _check_eta(family, eta) -> np.ndarray:
    """eta as float64 (N, k), or a FamilyError naming the family."""
    eta = np.asarray(eta, dtype=np.float64)
    if eta.ndim != 2 or eta.shape[1] != family.stat_dim or len(eta) == 0:
        raise FamilyError(
            f"{family.name}: eta must have shape (N, {family.stat_dim}), N > 0, got {eta.shape}"
        )
    bad = np.flatnonzero(~np.asarray(family.in_natural_space(jnp.asarray(eta))))
    if bad.size:
        raise FamilyError(
            f"{family.name}: eta rows {bad[:5].tolist()} (of {bad.size}) are outside "
            "the natural parameter space"
        )
    return eta


def _chunks(eta, chunk_size):
    """Rows of eta in chunks of equal size, the last padded with its last row.

    The size is chunk_size, or for fewer rows the next power of two, so that
    few shapes are compiled.
    """
    size = min(chunk_size, 1 << (len(eta) - 1).bit_length())
    pad = -len(eta) % size
    padded = np.concatenate([eta, np.repeat(eta[-1:], pad, axis=0)])
    return np.split(padded, len(padded) // size)


def moments_from_nodes(log_w, stats, at_edge):
    """Moments from nodes: log_w (M,), stats (M, k), at_edge (M,) bool ->
    mu (k,), cov (k, k), A () and the share of the mass at the integration limits ()."""
    log_z = logsumexp(log_w)
    p = jnp.exp(log_w - log_z)
    mu = p @ stats
    centred = stats - mu
    cov = (centred * p[:, None]).T @ centred
    edge = jnp.sum(jnp.where(at_edge, p, 0.0))
    return mu, 0.5 * (cov + cov.T), log_z, edge


# ---- dispatch on the domain --------------------------------------------------


def rule_for(family):
    """The function eta (k,) -> (log_w (M,), stats (M, k)) for this family's domain."""
    domain = family.domain
    if domain.dim <= 2:
        if isinstance(domain, Box):
            return partial(_box_rule, family)
        if isinstance(domain, Simplex):
            return partial(_simplex_rule, family)
        if isinstance(domain, Sphere):
            return partial(_sphere_rule, family)
    raise ValueError(
        f"{family.name}: quadrature supports a Box of dimension 1 or 2, Sphere(2), "
        f"Sphere(3), Simplex(2) and Simplex(3), not {type(domain).__name__} of "
        f"dimension {domain.dim}"
    )


def supports_quadrature(family) -> bool:
    """Whether ``quadrature_moments`` handles the family's domain."""
    try:
        rule_for(family)
    except ValueError:
        return False
    return True


def _node(family, eta, x, log_jac):
    """Log integrand and T at one point: (eta . T(x) + log h(x) + log_jac, T(x) (k,)).

    Where either is not finite the node is dropped: log integrand -inf, T 0.
    """
    x = jnp.reshape(x, family.domain.x_shape)
    stats = family.compute_stats_flat(x)
    log_g = jnp.dot(eta, stats) + family.log_base_measure(x) + log_jac
    ok = jnp.isfinite(log_g) & jnp.all(jnp.isfinite(stats))
    return jnp.where(ok, log_g, -jnp.inf), jnp.where(ok, stats, 0.0)


def _box_rule(family, eta):
    """Box of dimension 1 (split at the breakpoints) or 2 (iterated)."""
    lower, upper = family.domain.lower.ravel(), family.domain.upper.ravel()
    if lower.size == 1:
        inside = sorted(b for b in family.quadrature_breakpoints() if lower[0] < b < upper[0])
        edges = [lower[0], *inside, upper[0]]
        pairs = zip(edges[:-1], edges[1:], strict=True)
        pieces = [_interval_rule(family, eta, lo, hi) for lo, hi in pairs]
        return tuple(jnp.concatenate(part) for part in zip(*pieces, strict=True))

    (to_x1, *rule1), (to_x2, *rule2) = (interval_map(lower[i], upper[i]) for i in (0, 1))

    def point(u1, u2):
        (x1, j1), (x2, j2) = to_x1(u1), to_x2(u2)
        return _node(family, eta, jnp.stack([x1, x2]), j1 + j2)

    return rule_2d(point, rule1, rule2)


def _interval_rule(family, eta, lo, hi):
    """1-D rule on (lo, hi): log_w (n,), stats (n, k), at an integration limit (n,)."""
    to_x, de, rescale = interval_map(lo, hi)
    log_w, log_g, stats, at_edge = rule_1d(lambda u: _node(family, eta, *to_x(u)), de, rescale)
    return log_w + log_g, stats, at_edge


def _simplex_rule(family, eta):
    """Simplex(2): x = (a, 1 - a); Simplex(3): x = (a, (1 - a) b, (1 - a)(1 - b)).

    a = sigmoid(u_1), b = sigmoid(u_2), tanh-sinh in each.
    """
    rule = (sinh_de(math.pi), False)
    if family.domain.K == 2:

        def point(u):
            a, a_rest, log_da = unit(u)
            return _node(family, eta, jnp.stack([a, a_rest]), log_da)

        log_w, log_g, stats, at_edge = rule_1d(point, *rule)
        return log_w + log_g, stats, at_edge

    def point(u1, u2):
        (a, a_rest, log_da), (b, b_rest, log_db) = unit(u1), unit(u2)
        x = jnp.stack([a, a_rest * b, a_rest * b_rest])
        return _node(family, eta, x, log_da + log_db + jnp.log(a_rest))

    return rule_2d(point, rule, rule)


def _sphere_rule(family, eta):
    """Fixed nodes of ``_sphere_nodes``."""
    x, log_w = _sphere_nodes(family.domain.d)
    log_w, stats = jax.vmap(lambda xi, wi: _node(family, eta, xi, wi))(x, log_w)
    return log_w, stats, jnp.zeros(log_w.shape, bool)  # a closed surface: no limits


def _sphere_nodes(d):
    """Nodes x (M, d) and log weights (M,) on the circle (d = 2) or the 2-sphere (d = 3).

    Circle: trapezoid in the angle, NODES_CIRCLE nodes. 2-sphere: NODES_Z
    Gauss-Legendre nodes in z = cos(theta) times NODES_PHI trapezoid nodes in phi.
    """
    if d == 2:
        angle = 2.0 * np.pi * np.arange(NODES_CIRCLE) / NODES_CIRCLE
        x = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        return x, np.full(NODES_CIRCLE, np.log(2.0 * np.pi / NODES_CIRCLE))
    z, w = np.polynomial.legendre.leggauss(NODES_Z)
    phi = 2.0 * np.pi * np.arange(NODES_PHI) / NODES_PHI
    z, phi = (a.ravel() for a in np.meshgrid(z, phi, indexing="ij"))
    r = np.sqrt(1.0 - z**2)
    x = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)
    return x, np.repeat(np.log(w * 2.0 * np.pi / NODES_PHI), NODES_PHI)
