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
  piece is integrated by an adaptive double-exponential (DE) rule (below):
  tanh-sinh on a finite piece, exp-sinh on a half-line, sinh-sinh on the line.
- ``Box``, 2-D: iterated, the adaptive rule in x_1 of adaptive rules in x_2
  (one per x_1 node), so correlated or concentrated mass is followed.
- ``Simplex(2)``, ``Simplex(3)``: x = (a, (1 - a) b, (1 - a)(1 - b)) from the unit
  square (Jacobian 1 - a), adaptive tanh-sinh in a and b, iterated as above.
  Every x_i, small ones included, is computed without cancellation.
- ``Sphere(2)``: trapezoid rule in the angle (spectral for periodic integrands).
- ``Sphere(3)``: Gauss-Legendre in z = cos(theta) times trapezoid in phi.

Adaptive DE rule. An interval is mapped onto u in R by x = lo + (hi - lo)
sigmoid(u), lo + exp(u), hi - exp(u) or u, and u = c + s psi(t) with psi(t) =
pi sinh(t), (pi / 2) sinh(t), or sinh((pi / 2) sinh(t)) on the whole line;
c = 0, s = 1 are the standard tanh-sinh, exp-sinh and sinh-sinh rules. The
trapezoid rule in t is run in zooming passes of n nodes:

- pass 0 puts n midpoints on [-T_MAX, T_MAX] (about where the standard maps
  reach the ends of float64). Each further pass keeps the t within reach of
  a node whose log integrand is within TAU of the largest (``_refine``) and
  spreads n new midpoints uniformly over it. An unresolved peak is zoomed
  into by about n / 4 a pass, separated modes keep separate windows, and
  what is dropped holds under exp(-TAU) of the mass.
- stage 1 zooms with the standard rule to find the mass: then c := the mode
  of u and, on the whole line, s := the spread of x (``_location``; else
  s := 1). Stage 2 carries the nodes over to u = c + s psi(t) and zooms on,
  so that the mass sits near t = 0, where psi is nearly linear, whatever its
  location and scale (the standard exp-sinh rule is poor for mass at x ~
  1e3, sinh-sinh for a standard deviation of 1e2). Its last pass is the rule.

Nodes where x or T(x) is not finite in float64 (e.g. x rounded onto an
endpoint where log x = -inf) are dropped. So a density singular at a
*nonzero* finite endpoint, such as (1 - x)^(b - 1) with b < 1 on (0, 1),
loses the mass within float64 spacing of that endpoint (relative
O(1e-16^b)): T takes x alone, and 1 - x cannot be resolved below 1e-16.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from nnef_dists.families.domains import Box, Simplex, Sphere

#: Half-width of the t interval of pass 0.
T_MAX = 6.5
#: t whose log integrand is below max - TAU (and not next to a node above it) is dropped.
TAU = 50.0
#: Nodes per pass, and zooming passes after pass 0 in stages 1 and 2, of the 1-D rule.
NODES_1D, PASSES_1D = 128, (4, 2)
#: The same for each coordinate of the iterated 2-D rule (n^2 nodes per pass).
NODES_2D, PASSES_2D = 96, (2, 2)
#: Nodes of the trapezoid rule on the circle.
NODES_CIRCLE = 256
#: Gauss-Legendre nodes in z and trapezoid nodes in phi on the 2-sphere.
NODES_Z, NODES_PHI = 64, 96


def quadrature_moments(family, eta, chunk_size: int = 256) -> dict:
    """Exact mu_T, cov_TT and log-partition of ``family`` at each row of eta.

    Args:
      family: an ExponentialFamily whose domain is a Box of dimension 1 or 2,
        ``Sphere(2)``, ``Sphere(3)``, ``Simplex(2)`` or ``Simplex(3)``.
      eta: natural parameters, shape (N, k) with k = family.stat_dim.
      chunk_size: rows per compiled call (bounds memory).

    Returns:
      dict of float64 NumPy arrays: ``mu_T`` (N, k), ``cov_TT`` (N, k, k),
      ``log_partition`` (N,).

    Raises:
      ValueError: unsupported domain, eta of the wrong shape or outside the
        natural parameter space, or a non-finite result.
    """
    _rule_for(family)  # fails early on an unsupported domain
    with jax.enable_x64(True):
        eta = _check_eta(family, eta)
        moments = _compiled(family)
        parts = [moments(chunk) for chunk in _chunks(eta, chunk_size)]
        mu, cov, log_z = (np.concatenate(p)[: len(eta)] for p in zip(*parts, strict=True))
    _check_finite(family, log_z, cov)
    return {"mu_T": mu, "cov_TT": cov, "log_partition": log_z}


# ---- compilation, checks and batching ------------------------------------------


def _batch_moments(family, eta):
    """eta (n, k) -> mu (n, k), cov (n, k, k), log partition (n,)."""
    rule = _rule_for(family)
    return jax.vmap(lambda e: _moments(*rule(e)))(eta)


_batch_moments_jit = jax.jit(_batch_moments, static_argnums=0)


def _compiled(family):
    """The jitted batch function; cached across calls when the family is hashable."""
    try:
        hash(family)
    except TypeError:
        return jax.jit(partial(_batch_moments, family))
    return partial(_batch_moments_jit, family)


def _check_eta(family, eta) -> np.ndarray:
    """eta as float64 (N, k), or a ValueError naming the family."""
    eta = np.asarray(eta, dtype=np.float64)
    if eta.ndim != 2 or eta.shape[1] != family.stat_dim or len(eta) == 0:
        raise ValueError(
            f"{family.name}: eta must have shape (N, {family.stat_dim}), N > 0, got {eta.shape}"
        )
    bad = np.flatnonzero(~np.asarray(family.in_natural_space(jnp.asarray(eta))))
    if bad.size:
        raise ValueError(
            f"{family.name}: eta rows {bad[:5].tolist()} (of {bad.size}) are outside "
            "the natural parameter space"
        )
    return eta


def _check_finite(family, log_z, cov) -> None:
    bad = np.flatnonzero(~(np.isfinite(log_z) & np.isfinite(cov).all(axis=(1, 2))))
    if bad.size:
        raise ValueError(
            f"{family.name}: quadrature gave non-finite moments at eta rows {bad[:5].tolist()}"
        )


def _chunks(eta, chunk_size):
    """Rows of eta in chunks of equal size, the last padded with its last row.

    The size is chunk_size, or for fewer rows the next power of two, so that
    few shapes are compiled.
    """
    size = min(chunk_size, 1 << (len(eta) - 1).bit_length())
    pad = -len(eta) % size
    padded = np.concatenate([eta, np.repeat(eta[-1:], pad, axis=0)])
    return np.split(padded, len(padded) // size)


def _moments(log_w, stats):
    """Moments from nodes: log_w (M,), stats (M, k) -> mu (k,), cov (k, k), A ()."""
    log_z = logsumexp(log_w)
    p = jnp.exp(log_w - log_z)
    mu = p @ stats
    centred = stats - mu
    cov = (centred * p[:, None]).T @ centred
    return mu, 0.5 * (cov + cov.T), log_z


# ---- dispatch on the domain --------------------------------------------------


def _rule_for(family):
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
        _rule_for(family)
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

    (to_x1, *rule1), (to_x2, *rule2) = (_interval_map(lower[i], upper[i]) for i in (0, 1))

    def point(u1, u2):
        (x1, j1), (x2, j2) = to_x1(u1), to_x2(u2)
        return _node(family, eta, jnp.stack([x1, x2]), j1 + j2)

    return _rule_2d(point, rule1, rule2)


def _interval_rule(family, eta, lo, hi):
    """1-D rule on (lo, hi): log_w (n,) and stats (n, k)."""
    to_x, de, rescale = _interval_map(lo, hi)
    log_w, log_g, stats = _rule_1d(lambda u: _node(family, eta, *to_x(u)), de, rescale)
    return log_w + log_g, stats


def _simplex_rule(family, eta):
    """Simplex(2): x = (a, 1 - a); Simplex(3): x = (a, (1 - a) b, (1 - a)(1 - b)).

    a = sigmoid(u_1), b = sigmoid(u_2), tanh-sinh in each.
    """
    rule = (_sinh_de(math.pi), False)
    if family.domain.K == 2:

        def point(u):
            a, a_rest, log_da = _unit(u)
            return _node(family, eta, jnp.stack([a, a_rest]), log_da)

        log_w, log_g, stats = _rule_1d(point, *rule)
        return log_w + log_g, stats

    def point(u1, u2):
        (a, a_rest, log_da), (b, b_rest, log_db) = _unit(u1), _unit(u2)
        x = jnp.stack([a, a_rest * b, a_rest * b_rest])
        return _node(family, eta, x, log_da + log_db + jnp.log(a_rest))

    return _rule_2d(point, rule, rule)


def _sphere_rule(family, eta):
    """Fixed nodes of ``_sphere_nodes``."""
    x, log_w = _sphere_nodes(family.domain.d)
    return jax.vmap(lambda xi, wi: _node(family, eta, xi, wi))(x, log_w)


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


# ---- substitutions --------------------------------------------------------------


def _log_cosh(y):
    return jnp.abs(y) + jnp.log1p(jnp.exp(-2.0 * jnp.abs(y))) - math.log(2.0)


class _DEMap(NamedTuple):
    """u = psi(t) of a standard DE rule: forward t -> (u, log du/dt), inverse u -> t."""

    forward: Callable
    inverse: Callable


def _sinh_de(kappa):
    """u = kappa sinh(t): tanh-sinh / exp-sinh after the sigmoid / exp of ``_interval_map``."""
    return _DEMap(
        lambda t: (kappa * jnp.sinh(t), math.log(kappa) + _log_cosh(t)),
        lambda u: jnp.arcsinh(u / kappa),
    )


def _sinh_sinh(t):
    w = 0.5 * math.pi * jnp.sinh(t)
    return jnp.sinh(w), _log_cosh(w) + math.log(0.5 * math.pi) + _log_cosh(t)


#: u = sinh(pi / 2 sinh(t)): the sinh-sinh rule.
_SINH_SINH = _DEMap(_sinh_sinh, lambda u: jnp.arcsinh(jnp.arcsinh(u) / (0.5 * math.pi)))


def _unit(u):
    """(0, 1) from R: a = sigmoid(u); returns a, 1 - a (no cancellation), log da/du."""
    return jax.nn.sigmoid(u), jax.nn.sigmoid(-u), jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)


def _interval_map(lo, hi):
    """How (lo, hi) is integrated: (to_x, de, rescale).

    to_x: u -> (x, log dx/du) maps R onto (lo, hi): x = lo + (hi - lo) sigmoid(u)
    on a finite interval, lo + exp(u) or hi - exp(u) on a half-line, u on the
    whole line. de: the DE map t -> u of the first stage, giving tanh-sinh,
    exp-sinh and sinh-sinh. rescale: whether stage 2 scales u by its spread
    (the whole line; u = log or logit is scale-free and only re-centred).
    """
    if np.isfinite(lo) and np.isfinite(hi):

        def to_x(u):
            a, _, log_da = _unit(u)
            return lo + (hi - lo) * a, math.log(hi - lo) + log_da

        return to_x, _sinh_de(math.pi), False
    if np.isfinite(lo):
        return (lambda u: (lo + jnp.exp(u), u)), _sinh_de(0.5 * math.pi), False
    if np.isfinite(hi):
        return (lambda u: (hi - jnp.exp(u), u)), _sinh_de(0.5 * math.pi), False
    return (lambda u: (u, jnp.zeros_like(u))), _SINH_SINH, True


# ---- the adaptive trapezoid rule in t ---------------------------------------


def _spread(starts, lengths, n):
    """n midpoints spread uniformly over the pieces [starts_i, starts_i + lengths_i].

    Args: starts, lengths (m,), pieces in increasing order. Returns nodes (n,), spacing ().
    """
    total = jnp.sum(lengths)
    step = total / n
    offsets = jnp.cumsum(lengths) - lengths  # where each piece starts, in s
    s = (jnp.arange(n) + 0.5) * step
    # Node k lies in the last piece whose first node index ceil(offset / step - 1/2) is <= k.
    first = jnp.clip(jnp.ceil(offsets / jnp.where(total > 0, step, 1.0) - 0.5), 0, n)
    piece = jnp.cumsum(jnp.zeros(n + 1, int).at[first.astype(int)].add(1))[:n] - 1
    return starts[piece] + (s - offsets[piece]), step


def _refine(t, log_g, step, n):
    """The next zooming pass: nodes (n,) and spacing () from nodes t (m,), sorted,
    their log integrand log_g (m,) and their spacing step ().

    A node is near where log_g > max - TAU. A cell [t_i, t_(i+1)] between two
    near nodes is kept whole; one with a single near end keeps two typical
    cell lengths next to it (past the outer nodes too), so windows grow by two
    cells a pass but never jump across the gap between separated windows.
    """
    near = log_g > jnp.max(log_g) - TAU
    length = jnp.diff(t)
    inside = near[:-1] & near[1:]
    typical = jnp.sum(jnp.where(inside, length, 0.0)) / jnp.maximum(jnp.sum(inside), 1)
    reach = 2.0 * jnp.where(jnp.any(inside), typical, step)
    t = jnp.concatenate([t[:1] - reach, t, t[-1:] + reach])
    near = jnp.pad(near, 1)
    length = jnp.diff(t)
    edge = jnp.minimum(length, reach)
    left = jnp.where(near[:-1], jnp.where(near[1:], length, edge), 0.0)
    right = jnp.where(near[1:] & ~near[:-1], edge, 0.0)
    starts = jnp.stack([t[:-1], t[1:] - right], axis=1).ravel()
    return _spread(starts, jnp.stack([left, right], axis=1).ravel(), n)


def _rule_1d(point, de, rescale, n=NODES_1D, passes=PASSES_1D):
    """Two-stage adaptive DE rule (module docstring) for point: u () -> (log integrand (), aux).

    Args:
      point: the integrand in u, with aux a pytree of arrays.
      de: the standard DE map of the interval, a ``_DEMap``.
      rescale: whether stage 2 scales u by its spread (else 1).
      n, passes: nodes per pass; zooming passes after pass 0 of stages 1 and 2.
    Returns:
      log weights log(step du/dt) (n,), log integrand (n,) and aux (n, ...) at
      the nodes of the last pass.
    """

    def evaluate(t, centre, scale):
        psi, log_dpsi = de.forward(t)
        u = centre + scale * psi
        log_g, aux = jax.vmap(point)(u)
        return u, jnp.log(scale) + log_dpsi, log_g, aux

    def one_pass(i, carry):
        t, step, centre, scale, _ = carry
        u, log_du, log_g, aux = evaluate(t, centre, scale)
        log_w = jnp.log(step) + log_du
        # After stage 1, re-centre (and re-scale) on the mass found, carrying the
        # nodes over into the new t so that stage 2 starts where stage 1 ended.
        restart = i == passes[0]
        mode, spread = _location(log_w, log_g, u)
        centre = jnp.where(restart, mode, centre)
        scale = jnp.where(restart & rescale, spread, scale)
        moved = jnp.clip(de.inverse((u - centre) / scale), -2.0 * T_MAX, 2.0 * T_MAX)
        t = jnp.where(restart, moved, t)
        log_g_t = log_g + jnp.log(scale) + de.forward(t)[1]
        return *_refine(t, log_g_t, step, n), centre, scale, (log_w, log_g, aux)

    start = _spread(jnp.array([-T_MAX]), jnp.array([2.0 * T_MAX]), n)
    centre, scale = jnp.zeros(()), jnp.ones(())
    _, log_du, log_g, aux = jax.eval_shape(evaluate, start[0], centre, scale)
    blank = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), (log_du, log_g, aux))
    num_passes = passes[0] + passes[1] + 2
    *_, last = jax.lax.fori_loop(0, num_passes, one_pass, (*start, centre, scale, blank))
    return last


def _location(log_w, log_g, u):
    """Mode and spread of u from nodes: (mode, 1) where the integral is 0.

    The spread is cosh(m) sinh(d), m and d the mean and standard deviation of
    w = asinh(u): sd(u) for a narrow peak, but robust to heavy tails (a Cauchy
    has spread ~2, not its truncated sd ~1e5) while still spanning separated
    modes. d is floored by the node spacing, the scale of an unresolved peak.
    """
    log_z = logsumexp(log_w + log_g)
    found = jnp.isfinite(log_z)
    p = jnp.where(found, jnp.exp(log_w + log_g - log_z), 0.0)
    w = jnp.arcsinh(u)
    mean = p @ w
    spacing = p @ (jnp.exp(log_w) / jnp.sqrt(1.0 + u**2))
    spread = jnp.cosh(mean) * jnp.sinh(jnp.hypot(jnp.sqrt(p @ (w - mean) ** 2), spacing))
    return u[jnp.argmax(log_g)], jnp.where(found, spread, 1.0)


def _rule_2d(point, rule1, rule2, n=NODES_2D, passes=PASSES_2D):
    """Iterated adaptive rule for point: (u1, u2) -> (log integrand (), T (k,)).

    rule1, rule2: (de, rescale) of each coordinate, as for ``_rule_1d``.
    Returns log_w (n * n,) (weights times integrand) and stats (n * n, k).
    """

    def marginal(u1):
        log_w, log_g, stats = _rule_1d(partial(point, u1), *rule2, n, passes)
        inner = log_w + log_g
        return logsumexp(inner), (inner, stats)

    log_w, _, (inner, stats) = _rule_1d(marginal, *rule1, n, passes)
    return (log_w[:, None] + inner).ravel(), stats.reshape(-1, stats.shape[-1])
