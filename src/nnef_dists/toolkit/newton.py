"""The inverse map mu -> eta of an exponential family, by damped Newton steps.

eta(mu) minimises A(eta) - mu . eta, whose gradient is g = mean(eta) - mu and
Hessian H = covariance(eta). Each step is the Newton step -H^-1 g, damped by
1 / (1 + lambda) while the Newton decrement lambda = sqrt(g^T H^-1 g) exceeds
1/4 (the damped Newton method of self-concordant functions), and halved
while it would leave the natural parameter space, give a non-finite mean or,
where A is known, not decrease A - mu . eta enough (Armijo): log-partitions
need not be self-concordant (the polynomial family's is not).

The decrement is the distance from mean(eta) to mu in the Fisher metric at
eta, so it is the error left in eta in that metric (about sqrt(2 KL)), and
it is returned as the residual. The steps go on until it is at most 100
machine epsilons or stops falling below sqrt(machine epsilon) (round-off),
or until no step is acceptable after MAX_HALVINGS halvings (stuck); a
solve is ``converged`` when it ends at most sqrt(machine epsilon). A mu
outside the interior of the convex hull of T(x) is the mean of no member of
the family: eta runs to the boundary of the natural
space or to infinity, where the decrement stays large or Cov[T] becomes
singular; a solve whose Cov[T] has a condition number above eps^(-3/4)
(5.6e11 in float64) is not ``converged`` either.

The Armijo test asks f to drop by at least 1e-4 of its first-order
prediction (g . step = -decrement^2); it is skipped at a decrement below
sqrt(eps), where the step moves f by less than eps, below the round-off of
A (which scales with A's terms, not its value).

Vectorised, a while loop runs as many steps for every row as its slowest row
needs; ``newton_rows`` therefore gives every row ``FIRST_STEPS`` steps, then
goes on with only the rows still running (when they are few), so a handful
of hard rows do not cost the whole batch MAX_STEPS steps.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from nnef_dists.numerics import spd_solve

#: Most Newton steps; halvings of a step that leaves the natural space.
MAX_STEPS, MAX_HALVINGS = 100, 40
#: ``newton_rows``: steps every row gets; then the rows still running go on alone
#: when they are at most 1 / STRAGGLER_SHARE of the batch (else all rows go on).
FIRST_STEPS, STRAGGLER_SHARE = 6, 8


class NaturalResult(NamedTuple):
    """eta (..., k); residual (...): the Newton decrement at eta (Fisher-metric
    distance of mean(eta) from mu); converged (...) bool; steps (...) taken."""

    eta: jax.Array
    residual: jax.Array
    converged: jax.Array
    steps: jax.Array


def newton_inverse(
    moments, in_space, mu, start, log_partition=None, max_steps=MAX_STEPS
) -> NaturalResult:
    """The eta (k,) with mean(eta) = mu (k,), from ``start`` (k,) in the natural space.

    Args:
      moments: eta (k,) -> (mean (k,), covariance (k, k)).
      in_space: eta (k,) -> bool, whether eta is a natural parameter.
      mu, start: the target mean and the starting eta, (k,) each.
      log_partition: eta (k,) -> A (), or None. Where given, a step is also
        halved until f = A - mu . eta decreases enough (Armijo), which keeps
        Newton from overshooting where A is far from quadratic.
      max_steps: the most Newton steps; a result with ``steps == max_steps`` may
        have stopped short of the tolerance.
    """
    eps = jnp.finfo(mu.dtype).eps
    stop, enough = 100.0 * eps, jnp.sqrt(eps)

    def newton(eta):
        mean, cov = moments(eta)
        g = mean - mu
        step = -spd_solve(cov, g)
        return (step, cov), jnp.sqrt(jnp.maximum(-(g @ step), 0.0))

    def trial(eta, f, step, decrement, scale):
        """(acceptable, f at eta + scale * step): inside, finite and, with A, Armijo."""
        new = eta + scale * step
        if log_partition is None:
            return in_space(new) & jnp.all(jnp.isfinite(moments(new)[0])), f
        a, linear = log_partition(new), mu @ new
        f_new = a - linear
        # Armijo (module docstring), give or take the round-off of A and mu . eta
        slack = 64 * eps * (jnp.abs(a) + jnp.abs(linear) + 1.0)
        enough_drop = f - f_new >= 1e-4 * scale * decrement**2 - slack
        at_round_off = decrement <= enough
        return in_space(new) & jnp.isfinite(f_new) & (enough_drop | at_round_off), f_new

    def going(carry):
        i, _, _, _, decrement, previous, moved = carry
        stalled = (decrement >= previous) & (decrement <= enough)  # at round-off
        finite = jnp.isfinite(decrement)
        return (i < max_steps) & (decrement > stop) & ~stalled & finite & moved

    def iterate(carry):
        i, eta, f, (step, _), decrement, _, _ = carry
        scale = jnp.where(decrement > 0.25, 1.0 / (1.0 + decrement), 1.0)
        # vectorised, a finished row still runs this body (its result dropped): it must
        # not halve, or a row at round-off would cost every row MAX_HALVINGS trials a step
        active = going(carry)

        def halve(c):
            halvings, scale, _, _ = c
            return halvings + 1, 0.5 * scale, *trial(eta, f, step, decrement, 0.5 * scale)

        halvings, scale, ok, f_new = jax.lax.while_loop(
            lambda c: (c[0] < MAX_HALVINGS) & ~c[2] & active,
            halve,
            (0, scale, *trial(eta, f, step, decrement, scale)),
        )
        new, f = jnp.where(ok, eta + scale * step, eta), jnp.where(ok, f_new, f)
        new_step, new_decrement = newton(new)
        return i + 1, new, f, new_step, new_decrement, decrement, ok

    step_and_cov, decrement = newton(start)
    f = log_partition(start) - mu @ start if log_partition else jnp.zeros((), mu.dtype)
    init = (0, start, f, step_and_cov, decrement, jnp.asarray(jnp.inf, mu.dtype), jnp.array(True))
    steps, eta, _, (_, cov), decrement, _, _ = jax.lax.while_loop(going, iterate, init)
    lam = jnp.linalg.eigvalsh(cov)  # Cov[T] at eta, from the last step
    resolved = lam[0] > lam[-1] * eps**0.75  # not a limit of ever larger eta
    converged = jnp.isfinite(decrement) & (decrement <= enough) & resolved
    return NaturalResult(eta, decrement, converged, steps)


def newton_rows(moments, in_space, mu, start, log_partition=None) -> NaturalResult:
    """``newton_inverse`` for each row of mu (N, k) from start (N, k): NaturalResult of
    (N, k) and (N,); the same answers, without every row paying for the slowest."""
    solve = jax.vmap(
        lambda m, s, steps: newton_inverse(moments, in_space, m, s, log_partition, steps),
        in_axes=(0, 0, None),
    )
    n = mu.shape[0]
    if n == 0:
        nothing = jnp.zeros((0,), mu.dtype)
        return NaturalResult(mu, nothing, nothing.astype(bool), nothing.astype(int))
    first = solve(mu, start, FIRST_STEPS)
    running = first.steps >= FIRST_STEPS
    few = max(1, n // STRAGGLER_SHARE)

    def merge(rows, second):
        """first, with the rows ``rows`` replaced by the continued solves (index n: none)."""
        eta = first.eta.at[rows].set(second.eta, mode="drop")
        residual = first.residual.at[rows].set(second.residual, mode="drop")
        converged = first.converged.at[rows].set(second.converged, mode="drop")
        steps = first.steps.at[rows].add(second.steps, mode="drop")
        return NaturalResult(eta, residual, converged, steps)

    def only_running(_):
        rows = jnp.nonzero(running, size=few, fill_value=n)[0]
        taken = jnp.minimum(rows, n - 1)
        return merge(rows, solve(mu[taken], first.eta[taken], MAX_STEPS - FIRST_STEPS))

    def all_rows(_):
        rows = jnp.where(running, jnp.arange(n), n)
        return merge(rows, solve(mu, first.eta, MAX_STEPS - FIRST_STEPS))

    return jax.lax.cond(jnp.sum(running) <= few, only_running, all_rows, None)
