"""Coordinate-ascent variational inference on a BilinearModel, as one lax.while_loop.

For q(x) q(y) with natural parameters eta_x, eta_y, one sweep is

    eta_x <- (1 - d) (b_x + A <S>_{eta_y}) + d eta_x,      <T> = mu_T^x(eta_x),
    eta_y <- (1 - d) (b_y + A^T <T>)       + d eta_y,      <S> = mu_T^y(eta_y),

(x first, using the current eta_y; d = ``damping``, 0 by default), with the
expectations from two providers (``providers``). The loop stops after the
first sweep whose change

    delta = max over the blocks z in (x, y) of
            max_j |eta_z,j - eta_z,j^old| / max(1, max_j |eta_z,j|)

is at most ``tol`` (converged), after ``max_iter`` sweeps (not converged), or
when a sweep gives a non-finite value (``diverged``; that sweep is dropped).
delta is a relative change for eta of size above 1 and an absolute one below,
so tol should exceed the rounding error of the dtype: about 1e-6 at the
smallest in float32 (eps 1.2e-7), 1e-12 in float64.

The ELBO (up to the model's additive constant, see ``BilinearModel.elbo``)
is reported at every iterate where both providers have a log-partition.
Everything is pure JAX: ``cavi`` compiles once per pair of providers and
``max_iter`` and runs under ``jax.jit``, ``jax.vmap`` and on any backend;
``sharded.cavi_batch`` vmaps it over a batch of problems split over the
local devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nnef_dists.inference.model import BilinearModel
from nnef_dists.inference.providers import Provider


class CAVITrace(NamedTuple):
    """Iterates 0 (the start) to num_iter; later rows NaN (False for out_of_range).

    Attributes:
      eta_x: (max_iter + 1, k_x); eta_y: (max_iter + 1, k_y).
      elbo: (max_iter + 1,), NaN throughout without both log-partitions.
      delta: (max_iter + 1,) change of each sweep (NaN at the start).
      out_of_range: (max_iter + 1, 2) bool, eta_x / eta_y outside the x / y
        provider's domain (``Provider.in_domain``).
    """

    eta_x: jax.Array
    eta_y: jax.Array
    elbo: jax.Array
    delta: jax.Array
    out_of_range: jax.Array


class CAVIResult(NamedTuple):
    """What ``cavi`` returns (with a leading batch axis from ``cavi_batch``).

    Attributes:
      eta_x (k_x,), eta_y (k_y,): the last iterate.
      mu_x (k_x,), mu_y (k_y,): the providers' <T> and <S> there.
      num_iter: () int32, sweeps done.
      converged: () bool, whether the last sweep changed eta by at most tol.
      diverged: () bool, whether a non-finite sweep stopped the loop.
      elbo: () the ELBO at the last iterate (NaN without log-partitions).
      out_of_range: (2,) int32, how many iterates of eta_x (1..num_iter) and
        eta_y (0..num_iter) lie outside the x and y provider's domain: there
        a network extrapolates, or its fallback answers. (eta_x0 is flagged
        in the trace but not counted: x is updated first, so the answer at
        eta_x0 only enters the first ELBO.)
      fallbacks: (2,) int32, those of them answered by the provider's fallback.
      trace: the CAVITrace.
    """

    eta_x: jax.Array
    eta_y: jax.Array
    mu_x: jax.Array
    mu_y: jax.Array
    num_iter: jax.Array
    converged: jax.Array
    diverged: jax.Array
    elbo: jax.Array
    out_of_range: jax.Array
    fallbacks: jax.Array
    trace: CAVITrace


class _State(NamedTuple):
    t: jax.Array
    eta_x: jax.Array
    eta_y: jax.Array
    mu_x: jax.Array
    mu_y: jax.Array
    delta: jax.Array
    diverged: jax.Array
    trace: CAVITrace


def _change(new, old):
    """max |new - old| / max(1, max |new|), a scalar."""
    return jnp.max(jnp.abs(new - old)) / jnp.maximum(1.0, jnp.max(jnp.abs(new)))


def _check_shapes(model: BilinearModel, px: Provider, py: Provider, eta_x0, eta_y0) -> None:
    k_x, k_y = px.stat_dim, py.stat_dim
    expected = {
        "A": (model.A, (k_x, k_y)),
        "b_x": (model.b_x, (k_x,)),
        "b_y": (model.b_y, (k_y,)),
        "eta_x0": (eta_x0, (k_x,)),
        "eta_y0": (eta_y0, (k_y,)),
    }
    for name, (value, shape) in expected.items():
        if jnp.shape(value) != shape:
            raise ValueError(
                f"cavi: {name} has shape {jnp.shape(value)}, expected {shape} for providers "
                f"{px.name} (k_x = {k_x}) and {py.name} (k_y = {k_y})"
            )


@dataclass(frozen=True)
class _Sweeps:
    """The body of the CAVI loop for one problem: its model, providers, key and damping."""

    model: BilinearModel
    px: Provider
    py: Provider
    key: jax.Array
    damping: jax.Array
    dtype: jnp.dtype

    def elbo(self, eta_x, eta_y, mu_x, mu_y):
        if self.px.log_partition is None or self.py.log_partition is None:
            return jnp.full((), jnp.nan, self.dtype)
        log_z = self.px.log_partition(eta_x), self.py.log_partition(eta_y)
        return self.model.elbo(eta_x, eta_y, mu_x, mu_y, *log_z).astype(self.dtype)

    def start(self, eta_x0, eta_y0, max_iter: int) -> _State:
        """The loop state before row 0 (the start), with a trace of max_iter + 1 rows."""
        nan = partial(jnp.full, fill_value=jnp.nan, dtype=self.dtype)
        trace = CAVITrace(
            nan((max_iter + 1, eta_x0.shape[0])),
            nan((max_iter + 1, eta_y0.shape[0])),
            nan((max_iter + 1,)),
            nan((max_iter + 1,)),
            jnp.zeros((max_iter + 1, 2), bool),
        )
        return _State(
            t=jnp.zeros((), jnp.int32),
            eta_x=eta_x0,
            eta_y=eta_y0,
            mu_x=jnp.zeros_like(eta_x0),
            mu_y=jnp.zeros_like(eta_y0),
            delta=jnp.full((), jnp.inf, self.dtype),
            diverged=jnp.zeros((), bool),
            trace=trace,
        )

    def sweep(self, state: _State) -> _State:
        """Row t of the trace: the start (t = 0, providers evaluated there) or sweep t."""
        model, d, t, first = self.model, self.damping, state.t, state.t == 0
        key_x, key_y = jax.random.split(jax.random.fold_in(self.key, t))
        eta_x = jnp.where(
            first, state.eta_x, (1 - d) * model.update_x(state.mu_y) + d * state.eta_x
        )
        mu_x = self.px.mu_T(eta_x, key_x).astype(self.dtype)
        eta_y = jnp.where(first, state.eta_y, (1 - d) * model.update_y(mu_x) + d * state.eta_y)
        mu_y = self.py.mu_T(eta_y, key_y).astype(self.dtype)
        new = (eta_x, eta_y, mu_x, mu_y)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in new]))
        change = jnp.maximum(_change(eta_x, state.eta_x), _change(eta_y, state.eta_y))
        row = (
            *new[:2],
            self.elbo(*new),
            jnp.where(first, jnp.nan, change),
            jnp.stack([self.px.outside(eta_x), self.py.outside(eta_y)]),
        )
        trace = CAVITrace(*(f.at[t].set(v) for f, v in zip(state.trace, row, strict=True)))
        delta = jnp.where(first, jnp.inf, change)
        accepted = _State(t + 1, *new, delta, state.diverged, trace)
        return jax.tree.map(
            lambda a, b: jnp.where(finite, a, b), accepted, state._replace(diverged=True)
        )


@partial(jax.jit, static_argnames=("px", "py", "max_iter"))
def cavi(
    model: BilinearModel,
    px: Provider,
    py: Provider,
    eta_x0,
    eta_y0,
    tol=1e-6,
    max_iter: int = 100,
    damping=0.0,
    key=None,
) -> CAVIResult:
    """Mean-field CAVI for q(x) q(y) on a BilinearModel (module docstring).

    Args:
      model: BilinearModel with A (k_x, k_y), b_x (k_x,), b_y (k_y,).
      px, py: providers of <T(x)> and <S(y)> (``providers``); static.
      eta_x0 (k_x,), eta_y0 (k_y,): the start (row 0 of the trace, where
        both providers are evaluated too). x is updated first, so without
        damping eta_x0 only enters row 0 and its ELBO.
      tol: stop once a sweep changes eta by at most tol (relative, see above).
      max_iter: most sweeps; static (it sizes the trace).
      damping: d in [0, 1): eta <- (1 - d) eta_new + d eta_old.
      key: PRNG key, required when a provider is stochastic (mc); sweep t
        uses fold_in(key, t), split between x and y.

    Returns:
      CAVIResult. The dtype is that of the inputs (float32 unless float64
      arrays are passed under ``jax.enable_x64``).
    """
    dtype = jnp.result_type(model.A, model.b_x, model.b_y, eta_x0, eta_y0, float)
    model = BilinearModel(*(jnp.asarray(a, dtype) for a in model))
    eta_x0, eta_y0 = jnp.asarray(eta_x0, dtype), jnp.asarray(eta_y0, dtype)
    _check_shapes(model, px, py, eta_x0, eta_y0)
    if key is None:
        if px.needs_key or py.needs_key:
            raise ValueError(f"cavi: providers {px.name}, {py.name} need a key; pass key=...")
        key = jax.random.key(0)  # unused
    sweeps = _Sweeps(model, px, py, key, damping, dtype)

    def keep_going(state: _State):
        return ((state.t == 0) | (state.t <= max_iter) & (state.delta > tol)) & ~state.diverged

    # The start is row 0 of the same loop body, so each provider is traced once.
    end = jax.lax.while_loop(keep_going, sweeps.sweep, sweeps.start(eta_x0, eta_y0, max_iter))
    num_iter = jnp.maximum(end.t - 1, 0)
    outside = jnp.sum(end.trace.out_of_range.at[0, 0].set(False), axis=0, dtype=jnp.int32)
    return CAVIResult(
        eta_x=end.eta_x,
        eta_y=end.eta_y,
        mu_x=end.mu_x,
        mu_y=end.mu_y,
        num_iter=num_iter,
        converged=(end.delta <= tol) & ~end.diverged,
        diverged=end.diverged,
        elbo=end.trace.elbo[num_iter],
        out_of_range=outside,
        fallbacks=outside * jnp.array([px.fallback is not None, py.fallback is not None]),
        trace=end.trace,
    )
