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
here on the whole (B, C, d) array, from a few random 32-bit words per eta and
transition: BlackJAX's HMC kernel, vmapped over chains, splits keys per chain
and step, and ran about three times as slow as this one on a 2-core CPU in
development. ``method: nuts`` uses BlackJAX's NUTS kernel.

Randomness is per eta: eta number i of a data set has the key
``fold_in(key, i)``, and the words of transition t of its chains are a
Threefry hash of that key and a counter (``random_words``), so an eta's
estimate depends on the seed and its index alone, not on the batch size or on
how many devices share the batch.

Only T(x) of the draws is kept; per eta the result holds the pooled mean and
covariance of T, BlackJAX's multi-chain effective sample size and R-hat per
statistic, the number of divergent transitions, the mean acceptance rate and
the adapted step size.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.mass_matrix import mass_matrix_adaptation
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.adaptation.window_adaptation import build_schedule
from blackjax.diagnostics import effective_sample_size, potential_scale_reduction
from jax.sharding import PartitionSpec as P

from nnef_dists import parallel
from nnef_dists.sampling import random_words

#: Standard deviation of the dispersed initial points in unconstrained space.
INIT_SCALE = 2.0
#: Each transition's step size is the adapted one times U(1 - JITTER, 1 + JITTER),
#: drawn per eta, so trajectory lengths vary and no chain locks onto a period
#: of the target (fixed-length HMC on near-Gaussian targets otherwise can).
STEP_SIZE_JITTER = 0.5
#: Leapfrog steps of one transition written out one after the other (see hmc_step).
MAX_UNROLL = 8
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


class Target(NamedTuple):
    """The batched target: u (B, C, d) -> log p(u | eta_b) (B, C) or its gradient."""

    value: Callable
    grad: Callable

    @classmethod
    def of(cls, family, eta):
        """The target of every chain of a batch of eta (B, k)."""

        def batched(fn):
            return jax.vmap(jax.vmap(fn, in_axes=(0, None)))

        value = batched(family.log_density_unconstrained)
        grad = batched(jax.grad(family.log_density_unconstrained))
        return cls(lambda u: value(u, eta), lambda u: grad(u, eta))

    def evaluate(self, u):
        return Chains(u, self.value(u), self.grad(u))


def hmc_word_count(num_chains: int, dim: int) -> int:
    """Random words per eta that one HMC transition uses (see ``split_words``)."""
    return num_chains * dim + num_chains + 1


def split_words(words, num_chains, dim, dtype):
    """The random numbers of one HMC transition of every eta.

    Args:
      words: (B, hmc_word_count(C, d)) uint32 random words of this transition.

    Returns:
      (momenta (B, C, d) standard normal, by the inverse normal CDF;
      acceptance uniforms (B, C); step-size jitter uniforms (B,)).
    """
    num_normal = num_chains * dim
    u = random_words.to_uniform(words, dtype)
    normal = jax.scipy.special.ndtri(u[:, :num_normal]).reshape(-1, num_chains, dim)
    return normal, u[:, num_normal:-1], u[:, -1]


def hmc_step(target, num_integration_steps, words, chains, step_size, inverse_mass):
    """One HMC transition of every chain (leapfrog + Metropolis).

    The leapfrog steps evaluate gradients only; the log density is evaluated
    once, at the end of the trajectory.

    Args:
      target: the batched Target.
      num_integration_steps: leapfrog steps per transition (static).
      words: (B, hmc_word_count(C, d)) uint32 random words of this transition.
      chains: current Chains.
      step_size: (B,) step size per eta (jittered, see STEP_SIZE_JITTER);
        inverse_mass: (B, d) diagonal.

    Returns:
      (new Chains, acceptance probability (B, C), divergent (B, C) bool).
    """
    _, num_chains, dim = chains.u.shape
    normal, uniform, jitter = split_words(words, num_chains, dim, chains.u.dtype)
    jitter = 1 + STEP_SIZE_JITTER * (2 * jitter - 1)
    eps = (step_size * jitter)[:, None, None]
    inv_m = inverse_mass[:, None, :]
    momentum = normal / jnp.sqrt(inv_m)

    def kinetic(p):
        return 0.5 * jnp.sum(inv_m * p**2, axis=-1)

    def leapfrog(_, state):
        u, p, grad = state
        p = p + 0.5 * eps * grad
        u = u + eps * inv_m * p
        grad = target.grad(u)
        return u, p + 0.5 * eps * grad, grad

    # Unrolled (up to MAX_UNROLL steps), XLA fuses the steps' elementwise work;
    # a rolled loop ran 20-25% slower overall on a 2-core CPU (gamma and
    # multivariate_normal_tril, L = 5).
    u, p_end, grad = jax.lax.fori_loop(
        0,
        num_integration_steps,
        leapfrog,
        (chains.u, momentum, chains.grad),
        unroll=min(num_integration_steps, MAX_UNROLL),
    )
    proposal = Chains(u, target.value(u), grad)
    log_ratio = proposal.logp - kinetic(p_end) - chains.logp + kinetic(momentum)
    # A proposal whose density is not finite (x rounded onto a bound, say) is
    # rejected, never accepted with an infinite log density.
    log_ratio = jnp.where(jnp.isfinite(proposal.logp) & ~jnp.isnan(log_ratio), log_ratio, -jnp.inf)
    accept_prob = jnp.exp(jnp.minimum(log_ratio, 0.0))
    accept = uniform < accept_prob  # uniform lies strictly inside (0, 1)
    new = jax.tree.map(
        lambda a, b: jnp.where(accept.reshape(accept.shape + (1,) * (a.ndim - 2)), a, b),
        proposal,
        chains,
    )
    return new, accept_prob, -log_ratio > DIVERGENCE_THRESHOLD


def nuts_step(family, eta, words, chains, step_size, inverse_mass):
    """One BlackJAX NUTS transition of every chain; same contract as hmc_step.

    words: (B, 2 C) uint32, the data of one Threefry key per chain.
    """
    kernel = blackjax.nuts.build_kernel()

    def one_chain(key, u, logp, grad, eta_b, eps, inv_m):
        state = blackjax.nuts.init(u, lambda x: family.log_density_unconstrained(x, eta_b))
        state = state._replace(logdensity=logp, logdensity_grad=grad)
        new, info = kernel(
            key, state, lambda x: family.log_density_unconstrained(x, eta_b), eps, inv_m
        )
        return new.position, new.logdensity, new.logdensity_grad, info

    num_chains = chains.logp.shape[1]
    keys = jax.random.wrap_key_data(words.reshape(-1, num_chains, 2), impl="threefry2x32")
    per_eta = jax.vmap(one_chain, in_axes=(0, 0, 0, 0, None, None, None))
    u, logp, grad, info = jax.vmap(per_eta)(
        keys, chains.u, chains.logp, chains.grad, eta, step_size, inverse_mass
    )
    return Chains(u, logp, grad), info.acceptance_rate, info.is_divergent


def _adaptation_parts(target_acceptance_rate):
    da_init, da_update, da_final = dual_averaging_adaptation(target_acceptance_rate)
    mm_init, mm_update, mm_final = mass_matrix_adaptation(is_diagonal_matrix=True)
    return (da_init, da_update, da_final), (mm_init, mm_update, mm_final)


#: Stage label of the steps after warm-up (BlackJAX's schedule uses 0 fast, 1 slow).
SAMPLING = 2


def run_chains(step_fn, num_words, to_stats, chains, key_data, config):
    """Warm-up, then sampling, in one scan (so the transition is compiled once).

    Warm-up is Stan's window adaptation, pooled over the chains of each eta:
    dual averaging of one step size per eta on the chains' mean acceptance
    probability, and Welford's diagonal covariance of all its chains' positions.

    Args:
      step_fn: (random words (B, num_words), chains, step_size (B,),
        inverse_mass (B, d)) -> (chains, acceptance probability (B, C), divergent (B, C)).
      num_words: random 32-bit words per eta that one transition uses.
      to_stats: u (B, C, d) -> T(x) (B, C, k).
      chains: initial Chains (B, C, d).
      key_data: (B, 2) uint32, one Threefry key per eta, from which
        ``random_words`` derives the words of every transition.
      config: SamplingConfig (num_warmup, num_samples, step_size, target_acceptance_rate).

    Returns:
      (stats (B, C, k, num_samples), Adaptation after warm-up, number of
      divergent transitions (B,) and mean acceptance probability (B,), both
      over the sampling steps).
    """
    (da_init, da_update, da_final), (mm_init, mm_update, mm_final) = _adaptation_parts(
        config.target_acceptance_rate
    )
    num_eta, num_chains, dim = chains.u.shape
    num_warmup, num_samples = config.num_warmup, config.num_samples
    random_words.check_counter_range(num_warmup + num_samples, num_words)
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

    def adapt(state, stage, window_end, u, accept_prob):
        da = jax.vmap(da_update)(state.da, accept_prob.mean(axis=1))
        mm = jax.lax.cond(
            stage == 1, lambda: jax.vmap(welford_all_chains)(state.mm, u), lambda: state.mm
        )
        state = Adaptation(da, mm, jnp.exp(da.log_step_size), state.inverse_mass)
        return jax.lax.cond(window_end, end_of_window, lambda s: s, state)

    def end_of_window(state):
        mm = jax.vmap(mm_final)(state.mm)
        da = jax.vmap(da_init)(jax.vmap(da_final)(state.da))
        return Adaptation(da, mm, jnp.exp(da.log_step_size), mm.inverse_mass_matrix)

    def end_of_warmup(state):
        return state._replace(step_size=jax.vmap(da_final)(state.da))

    def one_step(carry, inputs):
        chains, state, stats, divergent_sum, accept_sum, block = carry
        t, stage, window_end = inputs
        block, words = random_words.words_at(key_data, block, t)
        chains, accept_prob, divergent = step_fn(words, chains, state.step_size, state.inverse_mass)
        state = jax.lax.cond(
            stage == SAMPLING,
            lambda s: s,
            lambda s: adapt(s, stage, window_end, chains.u, accept_prob),
            state,
        )
        state = jax.lax.cond(t == num_warmup - 1, end_of_warmup, lambda s: s, state)
        sampling = t >= num_warmup
        # Warm-up steps write to draw 0, which the first sampling step overwrites.
        # Draws are stored along the last axis, where the FFT of the ESS wants them.
        draw = jnp.maximum(t - num_warmup, 0)
        stats = jax.lax.dynamic_update_index_in_dim(stats, to_stats(chains.u), draw, 3)
        divergent_sum = divergent_sum + jnp.where(
            sampling, divergent.sum(axis=1, dtype=jnp.int32), 0
        )
        accept_sum = accept_sum + jnp.where(sampling, accept_prob.mean(axis=1), 0.0)
        return (chains, state, stats, divergent_sum, accept_sum, block), None

    warmup_schedule = build_schedule(num_warmup).reshape(num_warmup, 2)  # stage, window end
    num_steps = num_warmup + num_samples
    inputs = (
        jnp.arange(num_steps),
        jnp.concatenate([warmup_schedule[:, 0], jnp.full(num_samples, SAMPLING)]),
        jnp.concatenate([warmup_schedule[:, 1] == 1, jnp.zeros(num_samples, bool)]),
    )
    k = to_stats(chains.u).shape[-1]
    carry = (
        chains,
        state,
        jnp.zeros((num_eta, num_chains, k, num_samples), chains.u.dtype),
        jnp.zeros(num_eta, jnp.int32),
        jnp.zeros(num_eta, chains.u.dtype),
        random_words.empty_block(key_data, num_words),
    )
    (_, state, stats, divergent_sum, accept_sum, _), _ = jax.lax.scan(one_step, carry, inputs)
    return stats, state, divergent_sum, accept_sum / num_samples


def summarize_draws(stats):
    """Moments and diagnostics of multi-chain draws of T, for every eta at once.

    Args:
      stats: (B, num_chains, k, num_samples) draws, as run_chains returns them.

    Returns:
      dict with mu_T (B, k), cov_TT (B, k, k), ess (B, k) and rhat (B, k).
    """
    num_eta, num_chains, k, num_samples = stats.shape
    mu = stats.mean(axis=(1, 3))
    centred = stats - mu[:, None, :, None]
    cov = jnp.einsum("bcis,bcjs->bij", centred, centred) / (num_samples * num_chains - 1)
    # BlackJAX squeezes a single statistic away; keep the (B, k) shape.
    ess = effective_sample_size(stats, chain_axis=1, sample_axis=3)
    rhat = potential_scale_reduction(stats, chain_axis=1, sample_axis=3)
    return {
        "mu_T": mu,
        "cov_TT": cov,
        "ess": ess.reshape(num_eta, k),
        "rhat": rhat.reshape(num_eta, k),
    }


#: Eta sampled side by side by one device when ``sampling.chunk_size`` is not set.
CPU_CHUNK_SIZE, ACCELERATOR_CHUNK_SIZE = 256, 4096


def chunk_size(config) -> int:
    """``config.chunk_size``, or the default of the platform JAX runs on."""
    if config.chunk_size is not None:
        return config.chunk_size
    return CPU_CHUNK_SIZE if jax.default_backend() == "cpu" else ACCELERATOR_CHUNK_SIZE


@partial(jax.jit, static_argnums=(0, 1))
def mcmc_batch(family, config, keys, eta):
    """MCMC estimates for a batch of eta, split over every local device.

    The batch is padded to a multiple of (device count x chunk size); each
    device runs ``mcmc_local`` on one chunk of its share after the other.
    Every chunk is one compiled program of a fixed shape, and every eta has
    its own key, so an eta's results do not depend on the batch size or on
    the number of devices (XLA may round a vectorised operation differently
    at different array sizes, and a Markov chain amplifies any rounding
    difference into a different trajectory).

    Arguments and results are those of ``mcmc_local``.
    """
    mesh = parallel.local_mesh()
    size = chunk_size(config)
    (keys, eta), num_eta = parallel.pad_rows((keys, eta), mesh.size * size)

    def local(keys, eta):
        chunks = jax.tree.map(lambda a: a.reshape(-1, size, *a.shape[1:]), (keys, eta))
        out = jax.lax.map(lambda chunk: mcmc_local(family, config, *chunk), chunks)
        return jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), out)

    out = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=P(parallel.AXIS),
        out_specs=P(parallel.AXIS),
        check_vma=False,  # lax.cond branches mix per-device and replicated values
    )(keys, eta)
    return {name: value[:num_eta] for name, value in out.items()}


def mcmc_local(family, config, keys, eta):
    """MCMC estimates for a batch of eta on one device.

    Args:
      family, config: static; an ExponentialFamily and a SamplingConfig.
      keys: (B,) PRNG keys, one per eta (see ``eta_keys``).
      eta: (B, k) natural parameters.

    Returns:
      dict of arrays with leading dimension B: mu_T (B, k), cov_TT (B, k, k),
      ess (B, k), rhat (B, k), num_divergent (B,), acceptance_rate (B,),
      step_size (B,).
    """
    domain = family.domain
    target = Target.of(family, eta)
    if config.method == "nuts":
        step_fn, num_words = partial(nuts_step, family, eta), 2 * config.num_chains
    else:
        step_fn = partial(hmc_step, target, config.num_integration_steps)
        num_words = hmc_word_count(config.num_chains, domain.unconstrained_dim)

    keys_init, keys_run = jax.vmap(jax.random.split, out_axes=1)(keys)
    key_data = jax.vmap(lambda key: jax.random.bits(key, (2,), jnp.uint32))(keys_run)
    shape = (config.num_chains, domain.unconstrained_dim)
    start = jax.vmap(lambda key: jax.random.normal(key, shape, eta.dtype))(keys_init)
    chains = target.evaluate(INIT_SCALE * start)
    to_stats = jax.vmap(jax.vmap(lambda u: family.compute_stats_flat(domain.forward(u))))
    stats, state, num_divergent, acceptance_rate = run_chains(
        step_fn, num_words, to_stats, chains, key_data, config
    )
    out = summarize_draws(stats)
    out["num_divergent"] = num_divergent
    out["acceptance_rate"] = acceptance_rate
    out["step_size"] = state.step_size
    return out


def eta_keys(key, index):
    """The key of every eta: fold_in(key, i) for its index i in the data set.

    Args:
      key: the data set's sampling key.
      index: (B,) integer indices of the eta.

    Returns:
      (B,) PRNG keys.
    """
    return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.asarray(index, jnp.uint32))
