"""Batched HMC / NUTS estimates of E[T(x) | eta] and Cov[T(x) | eta].

A batch of B natural parameters is sampled at once: the chains live in one
array of positions u of shape (B, C, d) in the unconstrained space of the
family's domain (C = num_chains, dispersed starts), so each step is a few
large vectorised operations.

Warm-up is Stan's window adaptation assembled from BlackJAX's parts
(``build_schedule``, ``dual_averaging_adaptation``, ``mass_matrix_adaptation``),
pooled per eta: the C chains of one eta share one step size, adapted on their
mean acceptance rate, and one diagonal inverse mass matrix, estimated by
Welford's algorithm from all C chains. The HMC transition itself is written
here on the whole (B, C, d) array, drawing its momenta and acceptance
uniforms in bulk; BlackJAX's per-chain kernel draws one key per chain and
step, which costs more than the leapfrog steps themselves on a CPU (see
benchmarks/generate.py). ``method: nuts`` uses BlackJAX's NUTS kernel.

Only T(x) of the draws is kept; per eta the result holds the pooled mean and
covariance of T, BlackJAX's multi-chain effective sample size and R-hat per
statistic, the number of divergent transitions, the mean acceptance rate and
the adapted step size.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.mass_matrix import mass_matrix_adaptation
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.adaptation.window_adaptation import build_schedule
from blackjax.diagnostics import effective_sample_size, potential_scale_reduction

#: Standard deviation of the dispersed initial points in unconstrained space.
INIT_SCALE = 2.0
#: Each transition's step size is the adapted one times U(1 - JITTER, 1 + JITTER),
#: drawn per eta, so trajectory lengths vary and no chain locks onto a period
#: of the target (fixed-length HMC on near-Gaussian targets otherwise can).
STEP_SIZE_JITTER = 0.5
#: An energy error above this marks a transition as divergent (as in BlackJAX).
DIVERGENCE_THRESHOLD = 1000.0


class Chains(NamedTuple):
    """Positions (B, C, d), log densities (B, C) and their gradients (B, C, d)."""

    u: jax.Array
    logp: jax.Array
    grad: jax.Array


class Adaptation(NamedTuple):
    """Warm-up state of every eta: BlackJAX dual averaging and Welford states."""

    da: tuple
    mm: tuple
    step_size: jax.Array  # (B,)
    inverse_mass: jax.Array  # (B, d)


def _logdensity_batch(family, eta):
    """u (B, C, d) -> Chains with log p(u | eta_b) and its gradient."""
    value_and_grad = jax.value_and_grad(family.log_density_unconstrained)
    per_eta = jax.vmap(value_and_grad, in_axes=(0, None))
    batched = jax.vmap(per_eta)

    def evaluate(u):
        logp, grad = batched(u, eta)
        return Chains(u, logp, grad)

    return evaluate


def _normal(key, shape, dtype):
    """Standard normals drawn as one flat vector (much faster on CPU than N-d shapes)."""
    return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)


def hmc_step(evaluate, num_integration_steps, key, chains, step_size, inverse_mass):
    """One HMC transition of every chain (leapfrog + Metropolis).

    Args:
      evaluate: u (B, C, d) -> Chains.
      num_integration_steps: leapfrog steps per transition (static).
      key: PRNG key for the momenta and acceptance draws of this step.
      chains: current Chains.
      step_size: (B,) step size per eta (jittered, see STEP_SIZE_JITTER);
        inverse_mass: (B, d) diagonal.

    Returns:
      (new Chains, acceptance probability (B, C), divergent (B, C) bool).
    """
    key_momentum, key_accept, key_jitter = jax.random.split(key, 3)
    jitter = jax.random.uniform(
        key_jitter, step_size.shape, minval=1 - STEP_SIZE_JITTER, maxval=1 + STEP_SIZE_JITTER
    )
    eps = (step_size * jitter)[:, None, None]
    inv_m = inverse_mass[:, None, :]
    momentum = _normal(key_momentum, chains.u.shape, chains.u.dtype) / jnp.sqrt(inv_m)

    def kinetic(p):
        return 0.5 * jnp.sum(inv_m * p**2, axis=-1)

    def leapfrog(_, state):
        current, p = state
        p = p + 0.5 * eps * current.grad
        moved = evaluate(current.u + eps * inv_m * p)
        return moved, p + 0.5 * eps * moved.grad

    proposal, p_end = jax.lax.fori_loop(0, num_integration_steps, leapfrog, (chains, momentum))
    log_ratio = proposal.logp - kinetic(p_end) - chains.logp + kinetic(momentum)
    log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
    accept_prob = jnp.exp(jnp.minimum(log_ratio, 0.0))
    uniform = jax.random.uniform(key_accept, (log_ratio.size,)).reshape(log_ratio.shape)
    accept = jnp.log(uniform) < log_ratio
    new = jax.tree.map(
        lambda a, b: jnp.where(accept.reshape(accept.shape + (1,) * (a.ndim - 2)), a, b),
        proposal,
        chains,
    )
    return new, accept_prob, -log_ratio > DIVERGENCE_THRESHOLD


def nuts_step(family, eta, key, chains, step_size, inverse_mass):
    """One BlackJAX NUTS transition of every chain; same contract as hmc_step."""
    kernel = blackjax.nuts.build_kernel()

    def one_chain(key, u, logp, grad, eta_b, eps, inv_m):
        state = blackjax.nuts.init(u, lambda x: family.log_density_unconstrained(x, eta_b))
        state = state._replace(logdensity=logp, logdensity_grad=grad)
        new, info = kernel(
            key, state, lambda x: family.log_density_unconstrained(x, eta_b), eps, inv_m
        )
        return new.position, new.logdensity, new.logdensity_grad, info

    num_eta, num_chains = chains.logp.shape
    keys = jax.random.split(key, num_eta * num_chains).reshape(num_eta, num_chains)
    per_eta = jax.vmap(one_chain, in_axes=(0, 0, 0, 0, None, None, None))
    u, logp, grad, info = jax.vmap(per_eta)(
        keys, chains.u, chains.logp, chains.grad, eta, step_size, inverse_mass
    )
    return Chains(u, logp, grad), info.acceptance_rate, info.is_divergent


def _adaptation_parts(target_acceptance_rate):
    da_init, da_update, da_final = dual_averaging_adaptation(target_acceptance_rate)
    mm_init, mm_update, mm_final = mass_matrix_adaptation(is_diagonal_matrix=True)
    return (da_init, da_update, da_final), (mm_init, mm_update, mm_final)


def warmup(step_fn, chains, key, config):
    """Stan's window adaptation, pooled over the chains of each eta.

    Args:
      step_fn: (key, chains, step_size (B,), inverse_mass (B, d)) ->
        (chains, acceptance probability (B, C), divergent (B, C)).
      chains: initial Chains (B, C, d).
      key: PRNG key of the warm-up phase.
      config: SamplingConfig (num_warmup, step_size, target_acceptance_rate).

    Returns:
      (chains, step_size (B,), inverse_mass (B, d)).
    """
    (da_init, da_update, da_final), (mm_init, mm_update, mm_final) = _adaptation_parts(
        config.target_acceptance_rate
    )
    num_eta, num_chains, dim = chains.u.shape
    initial = jnp.full((num_eta,), config.step_size, dtype=chains.u.dtype)
    state = Adaptation(
        jax.vmap(da_init)(initial),
        jax.vmap(lambda _: mm_init(dim))(initial),
        initial,
        jnp.ones((num_eta, dim), chains.u.dtype),
    )

    def welford_all_chains(mm, u):
        for c in range(num_chains):
            mm = mm_update(mm, u[c])
        return mm

    def end_of_window(state):
        mm = jax.vmap(mm_final)(state.mm)
        da = jax.vmap(da_init)(jax.vmap(da_final)(state.da))
        return Adaptation(da, mm, jnp.exp(da.log_step_size), mm.inverse_mass_matrix)

    def one_step(carry, inputs):
        chains, state = carry
        step_key, stage, window_end = inputs
        chains, accept_prob, _ = step_fn(step_key, chains, state.step_size, state.inverse_mass)
        da = jax.vmap(da_update)(state.da, accept_prob.mean(axis=1))
        mm = jax.lax.cond(
            stage == 1,
            lambda: jax.vmap(welford_all_chains)(state.mm, chains.u),
            lambda: state.mm,
        )
        state = Adaptation(da, mm, jnp.exp(da.log_step_size), state.inverse_mass)
        state = jax.lax.cond(window_end, end_of_window, lambda s: s, state)
        return (chains, state), None

    schedule = build_schedule(config.num_warmup)  # (num_warmup, 2): stage, window end
    inputs = (jax.random.split(key, config.num_warmup), schedule[:, 0], schedule[:, 1] == 1)
    (chains, state), _ = jax.lax.scan(one_step, (chains, state), inputs)
    return chains, jax.vmap(da_final)(state.da), state.inverse_mass


def summarize_stats(stats):
    """Moments and diagnostics of multi-chain draws of T for one eta.

    Args:
      stats: (num_chains, num_samples, k) draws.

    Returns:
      dict with mu_T (k,), cov_TT (k, k), ess (k,), rhat (k,).
    """
    flat = stats.reshape(-1, stats.shape[-1])
    mu = flat.mean(axis=0)
    centred = flat - mu
    cov = centred.T @ centred / (flat.shape[0] - 1)
    return {
        "mu_T": mu,
        "cov_TT": cov,
        # BlackJAX squeezes a single statistic away; keep the (k,) shape.
        "ess": effective_sample_size(stats, chain_axis=0, sample_axis=1).reshape(mu.shape),
        "rhat": potential_scale_reduction(stats, chain_axis=0, sample_axis=1).reshape(mu.shape),
    }


@partial(jax.jit, static_argnums=(0, 1))
def mcmc_batch(family, config, key, eta):
    """MCMC estimates for a batch of eta.

    Args:
      family, config: static; an ExponentialFamily and a SamplingConfig.
      key: PRNG key of this batch.
      eta: (B, k) natural parameters.

    Returns:
      dict of arrays with leading dimension B: mu_T (B, k), cov_TT (B, k, k),
      ess (B, k), rhat (B, k), num_divergent (B,), acceptance_rate (B,),
      step_size (B,).
    """
    domain = family.domain
    evaluate = _logdensity_batch(family, eta)
    if config.method == "nuts":
        step_fn = partial(nuts_step, family, eta)
    else:
        step_fn = partial(hmc_step, evaluate, config.num_integration_steps)

    key_init, key_warmup, key_sample = jax.random.split(key, 3)
    shape = (eta.shape[0], config.num_chains, domain.unconstrained_dim)
    chains = evaluate(INIT_SCALE * jax.random.normal(key_init, shape, eta.dtype))
    chains, step_size, inverse_mass = warmup(step_fn, chains, key_warmup, config)

    to_stats = jax.vmap(jax.vmap(lambda u: family.compute_stats_flat(domain.forward(u))))

    def one_step(chains, step_key):
        chains, accept_prob, divergent = step_fn(step_key, chains, step_size, inverse_mass)
        return chains, (to_stats(chains.u), accept_prob, divergent)

    step_keys = jax.random.split(key_sample, config.num_samples)
    _, (stats, accept_prob, divergent) = jax.lax.scan(one_step, chains, step_keys)
    # stats: (S, B, C, k) -> per eta (C, S, k)
    out = jax.vmap(summarize_stats)(jnp.transpose(stats, (1, 2, 0, 3)))
    out["num_divergent"] = divergent.sum(axis=(0, 2))
    out["acceptance_rate"] = accept_prob.mean(axis=(0, 2))
    out["step_size"] = step_size
    return out
