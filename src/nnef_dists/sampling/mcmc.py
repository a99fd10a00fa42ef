"""Batched MCMC estimates of E[T(x) | eta] and Cov[T(x) | eta]: the batch driver.

For a batch of eta, ``num_chains`` chains per eta start from dispersed
points in the unconstrained space of the family's domain and run one
``lax.scan`` of warm-up (``adaptation``) and sampling steps of the chosen
kernel (``kernels.KERNELS``); only T(x) of the draws is kept. Per eta the
result holds the pooled mean and covariance of T, the multi-chain ESS and
R-hat per statistic (``diagnostics``), the number of divergent transitions,
the mean acceptance rate and the adapted step size.

Randomness is per eta: eta number i of a data set has the key
``fold_in(key, i)`` (``eta_keys``), and the words of transition t of its
chains are a Threefry hash of that key and a counter (``random_words``), so
an eta's estimate depends on the seed, its index and the chunk size alone,
not on the batch size or on how many devices share the batch. Matrix
products are full float32 (``numerics.full_precision_matmuls``) on every platform.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from nnef_dists import parallel
from nnef_dists.numerics import full_precision_matmuls
from nnef_dists.sampling import random_words
from nnef_dists.sampling.adaptation import SAMPLING, pooled_window_adaptation, schedule
from nnef_dists.sampling.diagnostics import summarize_draws
from nnef_dists.sampling.kernels import KERNELS

#: Standard deviation of the dispersed initial points in unconstrained space.
INIT_SCALE = 2.0
#: Eta sampled side by side by one device when ``sampling.chunk_size`` is not set.
#: A GPU is busy only with many eta in flight (gamma on an H200, the whole command with
#: a filled compilation cache: 3.9e3 eta/s in chunks of 4096, 3.4e4 in chunks of 65,536,
#: 1.1e5 in chunks of 262,144), but a batch is padded to a whole chunk: set
#: ``sampling.chunk_size`` (and ``grid.batch_size`` at least as large) for large runs.
CPU_CHUNK_SIZE, ACCELERATOR_CHUNK_SIZE = 256, 4096


def run_chains(step_fn, num_words, to_stats, chains, key_data, config):
    """Warm-up, then sampling, in one scan (so the transition is compiled once).

    Args:
      step_fn: a kernel's step (``kernels``): (random words (B, num_words),
        chains, step_size (B,), inverse_mass (B, d)) -> (chains, TransitionInfo).
      num_words: random 32-bit words per eta that one transition uses.
      to_stats: u (B, C, d) -> T(x) (B, C, k).
      chains: initial Chains (B, C, d).
      key_data: (B, 2) uint32, one Threefry key per eta, from which
        ``random_words`` derives the words of every transition.
      config: SamplingConfig (num_warmup, num_samples, step_size, target_acceptance_rate).

    Returns:
      (stats (B, C, k, num_samples), AdaptationState after warm-up, number of
      divergent transitions (B,) and mean acceptance probability (B,), both
      over the sampling steps).
    """
    adapter = pooled_window_adaptation(config.target_acceptance_rate)
    num_eta, num_chains, dim = chains.u.shape
    num_warmup, num_samples = config.num_warmup, config.num_samples
    random_words.check_counter_range(num_warmup + num_samples, num_words)
    state = adapter.init(jnp.full((num_eta,), config.step_size, dtype=chains.u.dtype), dim)

    def one_step(carry, inputs):
        chains, state, stats, divergent_sum, accept_sum, block = carry
        t, stage, window_end = inputs
        block, words = random_words.words_at(key_data, block, t)
        chains, info = step_fn(words, chains, state.step_size, state.inverse_mass)
        state = jax.lax.cond(
            stage == SAMPLING,
            lambda s: s,
            lambda s: adapter.update(s, stage, window_end, chains.u, info.acceptance_rate),
            state,
        )
        state = jax.lax.cond(t == num_warmup - 1, adapter.final, lambda s: s, state)
        sampling = t >= num_warmup
        # Warm-up steps write to draw 0, which the first sampling step overwrites.
        # Draws are stored along the last axis, where the FFT of the ESS wants them.
        draw = jnp.maximum(t - num_warmup, 0)
        stats = jax.lax.dynamic_update_index_in_dim(stats, to_stats(chains.u), draw, 3)
        divergent_sum = divergent_sum + jnp.where(
            sampling, info.is_divergent.sum(axis=1, dtype=jnp.int32), 0
        )
        accept_sum = accept_sum + jnp.where(sampling, info.acceptance_rate.mean(axis=1), 0.0)
        return (chains, state, stats, divergent_sum, accept_sum, block), None

    k = to_stats(chains.u).shape[-1]
    carry = (
        chains,
        state,
        jnp.zeros((num_eta, num_chains, k, num_samples), chains.u.dtype),
        jnp.zeros(num_eta, jnp.int32),
        jnp.zeros(num_eta, chains.u.dtype),
        random_words.empty_block(key_data, num_words),
    )
    inputs = schedule(num_warmup, num_samples)
    (_, state, stats, divergent_sum, accept_sum, _), _ = jax.lax.scan(one_step, carry, inputs)
    return stats, state, divergent_sum, accept_sum / num_samples


def chunk_size(config) -> int:
    """``config.chunk_size``, or the default of the platform JAX runs on."""
    if config.chunk_size is not None:
        return config.chunk_size
    return CPU_CHUNK_SIZE if jax.default_backend() == "cpu" else ACCELERATOR_CHUNK_SIZE


#: The largest chunk ``chunk_advice`` suggests (run on an H200, 4 chains x 1000 draws).
MAX_ADVISED_CHUNK = 1 << 18


def chunk_advice(config, num_eta: int) -> str | None:
    """A line for a run of num_eta eta to be sampled on accelerators in the default chunks.

    With ``sampling.chunk_size`` unset a GPU samples 4096 eta at a time and stays
    mostly idle (see ACCELERATOR_CHUNK_SIZE); worth saying from 8 such chunks per
    device. The advised chunk is at most the eta per device (a batch is padded to
    whole chunks on every device) and MAX_ADVISED_CHUNK. None: nothing to say
    (a chunk size is set, quadrature, or a CPU).
    """
    if config.chunk_size is not None or config.method == "quadrature":
        return None
    if jax.default_backend() == "cpu":
        return None
    devices = jax.local_device_count()
    per_device = num_eta // devices
    if per_device < 8 * ACCELERATOR_CHUNK_SIZE:
        return None
    chunk = min(MAX_ADVISED_CHUNK, 1 << (per_device.bit_length() - 1))
    return (
        f"{num_eta} eta on {devices} {jax.default_backend()} device(s) in chunks of "
        f"{ACCELERATOR_CHUNK_SIZE} (the default sampling.chunk_size) keep them mostly idle: "
        f"sampling.chunk_size {chunk} with grid.batch_size {chunk * devices} or a multiple "
        "is many times faster (README: Scaling out)"
    )


@full_precision_matmuls  # outside the jit: what it traces, it traces in full float32
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
    kernel, chains, key_data = _start_chains(family, config, keys, eta)
    to_stats = jax.vmap(jax.vmap(lambda u: family.compute_stats_flat(domain.forward(u))))
    stats, state, num_divergent, acceptance_rate = run_chains(
        kernel.step, kernel.num_words, to_stats, chains, key_data, config
    )
    out = summarize_draws(stats)
    out["num_divergent"] = num_divergent
    out["acceptance_rate"] = acceptance_rate
    out["step_size"] = state.step_size
    return out


def _start_chains(family, config, keys, eta):
    """(Kernel, its initial Chains (B, C, d), key data (B, 2)) for eta (B, k) and keys (B,)."""
    kernel = KERNELS[config.method](family, eta, config)
    keys_init, keys_run = jax.vmap(jax.random.split, out_axes=1)(keys)
    key_data = jax.vmap(lambda key: jax.random.bits(key, (2,), jnp.uint32))(keys_run)
    shape = (config.num_chains, family.domain.unconstrained_dim)
    start = jax.vmap(lambda key: jax.random.normal(key, shape, eta.dtype))(keys_init)
    return kernel, kernel.init(INIT_SCALE * start), key_data


def last_draws(family, config, keys, eta):
    """x (B, C, *x_shape): the last state of each of C = ``config.num_chains`` chains
    per eta of eta (B, k) (keys (B,), one per eta), after ``num_warmup`` steps of
    warm-up (step size and mass adapted per eta, pooled over its chains) and
    ``num_samples`` steps with them. The chains start apart and share nothing but
    the adapted settings, so their last states are draws from p(x | eta) as far
    as the chains have mixed. Many draws at one eta: repeat it in eta with
    several keys (a few chains per row compile fast; C in the thousands does not)."""
    domain = family.domain
    kernel, chains, key_data = _start_chains(family, config, keys, eta)
    to_x = jax.vmap(jax.vmap(lambda u: jnp.ravel(domain.forward(u))))
    draws, *_ = run_chains(kernel.step, kernel.num_words, to_x, chains, key_data, config)
    return draws[..., -1].reshape(*draws.shape[:2], *family.x_shape)


def eta_keys(key, index):
    """The key of every eta: fold_in(key, i) for its index i in the data set.

    Args:
      key: the data set's sampling key.
      index: (B,) integer indices of the eta.

    Returns:
      (B,) PRNG keys.
    """
    return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.asarray(index, jnp.uint32))
