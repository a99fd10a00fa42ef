"""Helpers shared by the built-in families."""

import jax.numpy as jnp
import numpy as np


def pair_products(x, rows, cols):
    """x[..., rows] * x[..., cols] for static index arrays: shape (..., len(rows)).

    Written as products of static slices, not a gather: the gradient is then
    elementwise work that XLA fuses (a gather's gradient is a scatter, which
    made the sampler's leapfrog steps several times as slow on CPU).
    """
    pairs = [x[..., i] * x[..., j] for i, j in zip(rows.tolist(), cols.tolist(), strict=True)]
    return jnp.stack(pairs, axis=-1)


def resolve_x_shape(family, shape: tuple) -> None:
    """Set ``family.x_shape`` to ``shape`` (its parameters fix it), or raise.

    For families whose x_shape follows from a parameter (d, K): a missing
    x_shape (None) is filled in, a matching one (tuple or list) is normalised
    to a tuple, and a different one is a ValueError naming both.
    """
    shape = tuple(int(n) for n in shape)
    given = family.x_shape
    if given is not None and tuple(np.atleast_1d(given).tolist()) != shape:
        raise ValueError(f"{type(family).__name__}: x_shape {given!r} != expected {shape}")
    object.__setattr__(family, "x_shape", shape)


def dirichlet_guess(mean_log):
    """Approximate Dirichlet eta = alpha - 1 (K,) from E[log x_k] (K,) (beta: K = 2).

    With psi(a) ~ log(a - 1/2), psi(a_k) - psi(a_0) = m_k gives
    a_k = 1/2 + e^(m_k) (a_0 - 1/2) and, summing, a_0 = (K - S) / (2 (1 - S)),
    S = sum_k e^(m_k) < 1 (Jensen).
    """
    weights = jnp.exp(mean_log)
    total = jnp.sum(weights)
    alpha0 = (mean_log.shape[0] - total) / (2.0 * (1.0 - total))
    return 0.5 + weights * (alpha0 - 0.5) - 1.0
