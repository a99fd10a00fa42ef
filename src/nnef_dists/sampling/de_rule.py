"""The adaptive double-exponential (DE) rule of ``quadrature``: 1-D, and iterated in 2-D.

An interval is mapped onto u in R by x = lo + (hi - lo)
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

from nnef_dists.numerics import log_cosh

#: Half-width of the t interval of pass 0.
T_MAX = 6.5
#: t whose log integrand is below max - TAU (and not next to a node above it) is dropped.
TAU = 50.0
#: Nodes per pass, and zooming passes after pass 0 in stages 1 and 2, of the 1-D rule.
NODES_1D, PASSES_1D = 128, (4, 2)
#: The same for each coordinate of the iterated 2-D rule (n^2 nodes per pass).
NODES_2D, PASSES_2D = 96, (2, 2)


class DEMap(NamedTuple):
    """u = psi(t) of a standard DE rule: forward t -> (u, log du/dt), inverse u -> t."""

    forward: Callable
    inverse: Callable


def sinh_de(kappa):
    """u = kappa sinh(t): tanh-sinh / exp-sinh after the sigmoid / exp of ``interval_map``."""
    return DEMap(
        lambda t: (kappa * jnp.sinh(t), math.log(kappa) + log_cosh(t)),
        lambda u: jnp.arcsinh(u / kappa),
    )


def _sinh_sinh(t):
    w = 0.5 * math.pi * jnp.sinh(t)
    return jnp.sinh(w), log_cosh(w) + math.log(0.5 * math.pi) + log_cosh(t)


#: u = sinh(pi / 2 sinh(t)): the sinh-sinh rule.
SINH_SINH = DEMap(_sinh_sinh, lambda u: jnp.arcsinh(jnp.arcsinh(u) / (0.5 * math.pi)))


def unit(u):
    """(0, 1) from R: a = sigmoid(u); returns a, 1 - a (no cancellation), log da/du."""
    return jax.nn.sigmoid(u), jax.nn.sigmoid(-u), jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)


def interval_map(lo, hi):
    """How (lo, hi) is integrated: (to_x, de, rescale).

    to_x: u -> (x, log dx/du) maps R onto (lo, hi): x = lo + (hi - lo) sigmoid(u)
    on a finite interval, lo + exp(u) or hi - exp(u) on a half-line, u on the
    whole line. de: the DE map t -> u of the first stage, giving tanh-sinh,
    exp-sinh and sinh-sinh. rescale: whether stage 2 scales u by its spread
    (the whole line; u = log or logit is scale-free and only re-centred).
    """
    if np.isfinite(lo) and np.isfinite(hi):

        def to_x(u):
            a, _, log_da = unit(u)
            return lo + (hi - lo) * a, math.log(hi - lo) + log_da

        return to_x, sinh_de(math.pi), False
    if np.isfinite(lo):
        return (lambda u: (lo + jnp.exp(u), u)), sinh_de(0.5 * math.pi), False
    if np.isfinite(hi):
        return (lambda u: (hi - jnp.exp(u), u)), sinh_de(0.5 * math.pi), False
    return (lambda u: (u, jnp.zeros_like(u))), SINH_SINH, True


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


def rule_1d(point, de, rescale, n=NODES_1D, passes=PASSES_1D):
    """Two-stage adaptive DE rule (module docstring) for point: u () -> (log integrand (), aux).

    Args:
      point: the integrand in u, with aux a pytree of arrays.
      de: the standard DE map of the interval, a ``DEMap``.
      rescale: whether stage 2 scales u by its spread (else 1).
      n, passes: nodes per pass; zooming passes after pass 0 of stages 1 and 2.
    Returns:
      log weights log(step du/dt) (n,), log integrand (n,), aux (n, ...) at
      the nodes of the last pass, and whether each node is at a limit of the
      integration (n,) bool: the outermost nodes whose integrand is finite.
      A convergent integral has negligible mass there (the windows end where
      the integrand is TAU below its peak); mass that piles up there means
      the integral diverges, or cannot be resolved in floating point.
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
    *_, (log_w, log_g, aux) = jax.lax.fori_loop(
        0, num_passes, one_pass, (*start, centre, scale, blank)
    )
    return log_w, log_g, aux, _outermost(jnp.isfinite(log_g))


def _outermost(finite):
    """The first and the last True of ``finite`` (n,) (nodes in increasing t), as a mask."""
    index = jnp.arange(finite.shape[0])
    first = jnp.min(jnp.where(finite, index, finite.shape[0]))
    last = jnp.max(jnp.where(finite, index, -1))
    return (index == first) | (index == last)


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


def rule_2d(point, rule1, rule2, n=NODES_2D, passes=PASSES_2D):
    """Iterated adaptive rule for point: (u1, u2) -> (log integrand (), T (k,)).

    rule1, rule2: (de, rescale) of each coordinate, as for ``rule_1d``.
    Returns log_w (n * n,) (weights times integrand), stats (n * n, k) and
    whether each node is at a limit of the integration in either coordinate
    (n * n,) bool (see ``rule_1d``).
    """

    def marginal(u1):
        log_w, log_g, stats, at_edge = rule_1d(partial(point, u1), *rule2, n, passes)
        inner = log_w + log_g
        return logsumexp(inner), (inner, stats, at_edge)

    log_w, _, (inner, stats, inner_edge), outer_edge = rule_1d(marginal, *rule1, n, passes)
    at_edge = outer_edge[:, None] | inner_edge
    return (log_w[:, None] + inner).ravel(), stats.reshape(-1, stats.shape[-1]), at_edge.ravel()
