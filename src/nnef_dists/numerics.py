"""Small numerically careful functions shared by the layers."""

from __future__ import annotations

import math

import jax.numpy as jnp


def soft_clamp(x, bound: float):
    """``bound * tanh(x / bound)``: slope 1 at zero, values smoothly limited to (-bound, bound)."""
    return bound * jnp.tanh(x / bound)


def log_cosh(x):
    """log cosh(x) = |x| + log1p(exp(-2|x|)) - log 2, without overflow for large |x|."""
    ax = jnp.abs(x)
    return ax + jnp.log1p(jnp.exp(-2.0 * ax)) - math.log(2.0)
