"""Moments and convergence diagnostics of multi-chain draws of T, for many eta at once."""

from __future__ import annotations

import jax.numpy as jnp
from blackjax.diagnostics import effective_sample_size, potential_scale_reduction


def summarize_draws(stats):
    """Moments and diagnostics of multi-chain draws of T, for every eta at once.

    Args:
      stats: (B, num_chains, k, num_samples) draws, as ``mcmc.run_chains`` returns them.

    Returns:
      dict with mu_T (B, k) (the pooled mean), cov_TT (B, k, k) (the pooled
      covariance), ess (B, k) (BlackJAX's multi-chain effective sample size)
      and rhat (B, k) (the potential scale reduction).
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
