"""potential_et's inverse: the x minimising f(x) = lin . x + F(x), F strongly convex.

``F`` is the network's potential in the scaled coordinates (potential_et
model.py), seen through stop_gradient; lin (k,) encodes mu. Newton's method,
in three parts:

- ``Anchors.start``: of M anchor points (the training eta kept with a model),
  the one with the least Newton decrement g^T H^-1 g of f, moved by its
  Newton step. The anchors' gradients and inverse Hessians do not depend on
  mu and are computed once; the decrement is quadratic in lin, so the search
  is one (M, k^2 + k) matrix product per mu;
- ``damped_newton``: Newton steps damped by 1 / (1 + lambda) while the
  decrement lambda > 1/4 (the damped Newton method of self-concordant
  functions), full steps near the solution;
- ``safeguarded``: far from the data the Hessian of an ICNN may not describe
  its gradient (a full Newton step can overshoot along a direction of low
  curvature), so each of these iterations evaluates the Newton step and
  Levenberg-Marquardt steps of increasing damping at once and takes the
  least damped one that satisfies the Armijo condition, else the candidate
  with the lowest objective if it decreases it.

``solve_rows`` runs them on a batch so that the few slow rows do not hold up
the others: under vmap a while loop runs every row until the slowest is done.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nnef_dists.numerics import first_argmin, spd_solve

#: Damped Newton steps every row of ``solve_rows`` takes before the slow ones are
#: set apart: from the training eta kept with a model, 0.7 % (gamma) and 4.5 %
#: (polynomial, p = 4) of the test mu of benchmarks/models.py are not converged then.
STEPS_FOR_ALL = 3
#: 1 / the share of the batch refined at once by damped steps (1 / its square:
#: by safeguarded iterations). A group runs until its slowest row is done, so a
#: group much larger than the slow rows only repeats converged ones: 100,000 mu of
#: the saved benchmark models (benchmarks/models.py --reuse), 4 timings of each
#: alternating in one process: polynomial p = 4 1.09-1.29e5 inversions/s at 8,
#: 1.22-1.39e5 at 32; gamma 1.52e5 and 1.71e5.
SLOW_SHARE = 32
#: Fewest rows per group of safeguarded iterations (N / SLOW_SHARE^2 of small batches
#: would refine their far rows one by one, each group a sequential loop).
MIN_SAFEGUARDED_GROUP = 64


class SolverOptions(NamedTuple):
    """newton_steps, rescue_steps: most damped, then safeguarded, iterations of
    ``refine``; newton_tol: converged once a step is at most
    newton_tol * (1 + max|x|) (``_converged``); damping_levels: candidates per safeguarded
    iteration."""

    newton_steps: int
    rescue_steps: int
    newton_tol: float
    damping_levels: int


class Anchors(NamedTuple):
    """Starting points in scaled coordinates: x, grad_F (M, k); P (M, k, k) the inverse
    Hessians; coefficients (M, k^2 + k) and constant (M,) of the decrement in lin."""

    x: jax.Array
    grad_F: jax.Array
    P: jax.Array
    coefficients: jax.Array
    constant: jax.Array

    @classmethod
    def at(cls, F, x: jax.Array) -> Anchors:
        """The anchors x (M, k) of the potential F."""
        grad_F, H = jax.vmap(lambda x: gradient_and_hessian(F, x))(x)
        P = jnp.linalg.inv(H)
        P = 0.5 * (P + jnp.swapaxes(P, 1, 2))
        P_grad = jnp.einsum("mij,mj->mi", P, grad_F)
        m, k = x.shape
        coefficients = jnp.concatenate([P.reshape(m, k * k), 2 * P_grad], axis=1)
        return cls(x, grad_F, P, coefficients, jnp.sum(grad_F * P_grad, axis=1))

    def start(self, lin: jax.Array) -> jax.Array:
        """Newton steps from the anchors of least decrement for lin (N, k): x (N, k).

        One (N, k^2 + k) x (k^2 + k, M) matrix product and a row-wise argmin.
        """
        n, k = lin.shape
        terms = jnp.concatenate([(lin[:, :, None] * lin[:, None, :]).reshape(n, k * k), lin], 1)
        j = first_argmin(terms @ self.coefficients.T + self.constant, axis=1)
        return self.x[j] - jnp.einsum("nij,nj->ni", self.P[j], lin + self.grad_F[j])


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def at_minimiser(gradient, params, x):
    """x (k,) as a function of params: the minimiser of a strongly convex f(x; params),
    found by iterations that saw params through stop_gradient.

    gradient(params, x) = grad_x f (k,), zero at x. The value is x itself; the
    derivatives are the implicit function theorem's, dx = -H^-1 (d gradient / d params)
    dparams with H = hess_x f, the derivatives of a Newton step from x, which are
    computed only when asked for. First derivatives only: the rule holds x fixed, so
    derivatives of these derivatives (jax.hessian) miss the terms in dx / dparams.
    """
    return x


@at_minimiser.defjvp
def _at_minimiser_jvp(gradient, primals, tangents):
    params, x = primals
    _, d_gradient = jax.jvp(lambda p: gradient(p, x), (params,), (tangents[0],))
    H = jax.jacfwd(gradient, argnums=1)(params, x)
    return x, -jnp.linalg.solve(H, d_gradient)


def gradient_and_hessian(F, x):
    """grad F (k,) and hess F (k, k) at x, the gradient computed once (forward over reverse)."""
    grad = jax.grad(F)
    H, g = jax.jacfwd(lambda x: (grad(x), grad(x)), has_aux=True)(x)
    return g, H


def _converged(x, step, tol):
    """A full step of at most tol * (1 + max|x|), tol no coarser than sqrt(eps) of x's
    dtype: the error left after it, of the order of the step's square, is round-off."""
    tol = min(tol, float(jnp.finfo(x.dtype).eps) ** 0.5)
    return jnp.max(jnp.abs(step)) <= tol * (1.0 + jnp.max(jnp.abs(x)))


def damped_newton(F, lin, x, tol):
    """One damped Newton step from x (k,): (new x, converged).

    Converged: the step was a full Newton step of at most tol * (1 + max|x|),
    so the error left is of the order of its square.
    """
    grad_F, H = gradient_and_hessian(F, x)
    g = lin + grad_F
    step = -spd_solve(H, g)
    decrement_sq = jnp.maximum(-(g @ step), 0.0)
    full = decrement_sq <= 0.0625
    damped = step * jnp.where(full, 1.0, 1.0 / (1.0 + jnp.sqrt(decrement_sq)))
    return x + damped, full & _converged(x, step, tol)


def safeguarded(F, lin, x, options: SolverOptions):
    """One safeguarded iteration from x (k,): (new x, converged: as in ``damped_newton``)."""
    objective = lambda x: lin @ x + F(x)
    dtype = lin.dtype
    slack = 16 * jnp.finfo(dtype).eps
    value_F = F(x)
    grad_F, H = gradient_and_hessian(F, x)
    f0, g = lin @ x + value_F, lin + grad_F
    lam, Q = jnp.linalg.eigh(H)
    lam = jnp.maximum(lam, jnp.finfo(dtype).tiny + slack * jnp.max(jnp.abs(lam)))
    # Damping factors relative to the largest eigenvalue: 0 (Newton), then 1e-6 * 4^j.
    levels = jnp.arange(options.damping_levels - 1, dtype=dtype)
    factors = jnp.concatenate([jnp.zeros(1, dtype), 1e-6 * 4.0**levels])
    # Candidate steps (n, k): -(H + f max(lam) I)^-1 g.
    steps = -((Q.T @ g) / (lam + factors[:, None] * lam[-1])) @ Q.T
    fs = jax.vmap(lambda d: objective(x + d))(steps)
    # Armijo, with room for float round-off in f near the minimum.
    roundoff = slack * (jnp.abs(lin @ x) + jnp.abs(value_F) + 1.0)
    ok = fs <= f0 + 1e-4 * (steps @ g) + roundoff
    best = jnp.argmin(fs)
    pick = jnp.where(jnp.any(ok), jnp.argmax(ok), best)
    step = jnp.where(jnp.any(ok) | (fs[best] < f0), steps[pick], jnp.zeros_like(x))
    full = jnp.any(ok) & (pick == 0)
    return x + step, (full & _converged(x, steps[0], options.newton_tol)) | jnp.all(step == 0)


def _until_converged(step, lin, x, done, most):
    """Iterate step(lin, x) -> (x, converged) from x (k,) at most ``most`` times: (x, done)."""

    def iterate(carry):
        i, x, _ = carry
        return i + 1, *step(lin, x)

    _, x, done = jax.lax.while_loop(
        lambda carry: (carry[0] < most) & ~carry[2], iterate, (0, x, done)
    )
    return x, done


def refine(F, lin, x, options: SolverOptions):
    """From x (k,): damped Newton steps, then safeguarded ones, until converged: x (k,)."""
    x, done = _until_converged(
        _damped(F, options), lin, x, jnp.asarray(False), options.newton_steps
    )
    x, _ = _until_converged(_safe(F, options), lin, x, done, options.rescue_steps)
    return x


def solve_rows(F, lin, anchors: Anchors, options: SolverOptions):
    """The minimisers x (N, k) for lin (N, k).

    Every row starts from the anchors and takes STEPS_FOR_ALL damped Newton
    steps; the rows not yet converged then take further damped steps, N /
    SLOW_SHARE rows at a time, and those still not converged the safeguarded
    iterations, N / SLOW_SHARE^2 at a time: only the slow rows pay for
    their iterations.
    """
    n = lin.shape[0]
    x = anchors.start(lin)
    done = jnp.zeros(n, bool)
    for _ in range(min(STEPS_FOR_ALL, options.newton_steps)):
        x, done = jax.vmap(_damped(F, options))(lin, x)
    x, done = _in_groups(_damped(F, options), lin, x, done, n // SLOW_SHARE, options.newton_steps)
    group = max(n // SLOW_SHARE**2, min(n, MIN_SAFEGUARDED_GROUP))
    x, _ = _in_groups(_safe(F, options), lin, x, done, group, options.rescue_steps)
    return x


def _damped(F, options):
    return lambda lin, x: damped_newton(F, lin, x, options.newton_tol)


def _safe(F, options):
    return lambda lin, x: safeguarded(F, lin, x, options)


def _in_groups(step, lin, x, done, group, most):
    """Rows not done (N,), ``group`` at a time, iterated until converged: (x, converged)."""
    n, group = len(lin), max(group, 1)

    def next_group(carry):
        x, done, tried = carry
        rows = jnp.nonzero(~tried, size=group, fill_value=n)[0]  # n: past the end
        safe = jnp.minimum(rows, n - 1)
        better, ok = jax.vmap(lambda row, x: _until_converged(step, row, x, False, most))(
            lin[safe], x[safe]
        )
        x = x.at[rows].set(better, mode="drop")
        return x, done.at[rows].set(ok, mode="drop"), tried.at[rows].set(True, mode="drop")

    x, done, _ = jax.lax.while_loop(lambda c: ~jnp.all(c[2]), next_group, (x, done, done))
    return x, done
