"""MCMC transition kernels on a whole batch of chains, as init/step pairs (BlackJAX style).

A batch of B natural parameters is sampled at once: the chains live in one
array of positions u of shape (B, C, d) in the unconstrained space of the
family's domain (C chains per eta), so each step is a few large vectorised
operations. A kernel is

    init(u (B, C, d)) -> Chains
    step(words (B, W) uint32, chains, step_size (B,), inverse_mass (B, d))
        -> (Chains, TransitionInfo)

where ``words`` are the W random 32-bit words of this transition of every eta
(``random_words``). ``KERNELS`` maps ``sampling.method`` to its builder:

- ``hmc``: written here on the whole (B, C, d) array, leapfrog steps unrolled
  (BlackJAX's HMC kernel, vmapped over chains, splits keys per chain and step
  and ran about three times as slow on a 2-core CPU in development);
- ``nuts``: BlackJAX's NUTS kernel, vmapped over eta and chains.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp

from nnef_dists.sampling import random_words

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


class TransitionInfo(NamedTuple):
    """Per chain (B, C): the acceptance probability and whether the transition diverged."""

    acceptance_rate: jax.Array
    is_divergent: jax.Array


class Kernel(NamedTuple):
    """``init``, ``step`` (module docstring) and W, the random words per eta of one step."""

    init: Callable
    step: Callable
    num_words: int


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
      (new Chains, TransitionInfo).
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
    return new, TransitionInfo(accept_prob, -log_ratio > DIVERGENCE_THRESHOLD)


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
    return Chains(u, logp, grad), TransitionInfo(info.acceptance_rate, info.is_divergent)


def hmc_kernel(family, eta, config) -> Kernel:
    """HMC with ``config.num_integration_steps`` leapfrog steps, for eta (B, k)."""
    target = Target.of(family, eta)
    words = hmc_word_count(config.num_chains, family.domain.unconstrained_dim)
    return Kernel(target.evaluate, partial(hmc_step, target, config.num_integration_steps), words)


def nuts_kernel(family, eta, config) -> Kernel:
    """BlackJAX's NUTS, for eta (B, k)."""
    target = Target.of(family, eta)
    return Kernel(target.evaluate, partial(nuts_step, family, eta), 2 * config.num_chains)


#: ``sampling.method`` -> the builder (family, eta (B, k), SamplingConfig) -> Kernel.
KERNELS = {"hmc": hmc_kernel, "nuts": nuts_kernel}
