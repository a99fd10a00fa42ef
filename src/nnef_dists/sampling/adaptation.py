"""Stan's window adaptation, pooled over the chains of each eta, as init/update/final.

Assembled from BlackJAX's parts (``build_schedule``,
``dual_averaging_adaptation``, ``mass_matrix_adaptation``): the C chains of
one eta share one step size, adapted by dual averaging on their mean
acceptance probability, and one diagonal inverse mass matrix, estimated by
Welford's algorithm from all C chains' positions in the slow windows. All
functions work on a batch of B eta at once.

    adapter = pooled_window_adaptation(target_acceptance_rate=0.8)
    state = adapter.init(initial_step_size (B,), dim)
    state = adapter.update(state, stage, window_end, u (B, C, d), accept_prob (B, C))
    state = adapter.final(state)          # after the last warm-up step
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.adaptation.mass_matrix import mass_matrix_adaptation
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.adaptation.window_adaptation import build_schedule

#: Stage label of the steps after warm-up (BlackJAX's schedule uses 0 fast, 1 slow).
SAMPLING = 2


class AdaptationState(NamedTuple):
    """Warm-up state of every eta: BlackJAX dual averaging and Welford states."""

    da: tuple
    mm: tuple
    step_size: jax.Array  # (B,)
    inverse_mass: jax.Array  # (B, d)


class Adapter(NamedTuple):
    """The three functions of the module docstring."""

    init: Callable
    update: Callable
    final: Callable


def schedule(num_warmup: int, num_samples: int):
    """Per transition t: (t, stage, end of a window), arrays of num_warmup + num_samples.

    Stages are BlackJAX's (0 fast, 1 slow) during warm-up and SAMPLING after.
    """
    warmup = build_schedule(num_warmup).reshape(num_warmup, 2)  # stage, window end
    return (
        jnp.arange(num_warmup + num_samples),
        jnp.concatenate([warmup[:, 0], jnp.full(num_samples, SAMPLING)]),
        jnp.concatenate([warmup[:, 1] == 1, jnp.zeros(num_samples, bool)]),
    )


def pooled_window_adaptation(target_acceptance_rate: float) -> Adapter:
    """The pooled window adaptation of the module docstring."""
    da_init, da_update, da_final = dual_averaging_adaptation(target_acceptance_rate)
    mm_init, mm_update, mm_final = mass_matrix_adaptation(is_diagonal_matrix=True)

    def init(step_size, dim: int) -> AdaptationState:
        """step_size (B,) initial; dim d of the unconstrained space."""
        return AdaptationState(
            jax.vmap(da_init)(step_size),
            jax.vmap(lambda _: mm_init(dim))(step_size),
            step_size,
            jnp.ones((step_size.shape[0], dim), step_size.dtype),
        )

    def welford_all_chains(mm, u):
        for c in range(u.shape[0]):
            mm = mm_update(mm, u[c])
        return mm

    def end_of_window(state):
        mm = jax.vmap(mm_final)(state.mm)
        da = jax.vmap(da_init)(jax.vmap(da_final)(state.da))
        return AdaptationState(da, mm, jnp.exp(da.log_step_size), mm.inverse_mass_matrix)

    def update(state, stage, window_end, u, accept_prob) -> AdaptationState:
        """One warm-up step: stage and window_end scalars, u (B, C, d), accept_prob (B, C)."""
        da = jax.vmap(da_update)(state.da, accept_prob.mean(axis=1))
        mm = jax.lax.cond(
            stage == 1, lambda: jax.vmap(welford_all_chains)(state.mm, u), lambda: state.mm
        )
        state = AdaptationState(da, mm, jnp.exp(da.log_step_size), state.inverse_mass)
        return jax.lax.cond(window_end, end_of_window, lambda s: s, state)

    def final(state) -> AdaptationState:
        """The step size of the sampling phase: dual averaging's final estimate."""
        return state._replace(step_size=jax.vmap(da_final)(state.da))

    return Adapter(init, update, final)
