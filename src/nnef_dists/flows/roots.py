"""Inverting an increasing scalar map elementwise: bisection, then Newton, differentiable.

Layers whose inverse has no closed form (Gaussianization, planar) solve
``f(x) = y`` for x, elementwise, where f is increasing and ``lo <= x <= hi``
is known to bracket the root. Bisection halves the bracket ``bisections``
times (without gradients); ``newton`` Newton steps then polish the root,
and their derivatives give the implicit-function gradient

    dx/dtheta = -(df/dtheta) / (df/dx)   at f(x; theta) = y,

exactly at convergence, so the inverse can be trained through.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def solve_increasing(
    f: Callable, y: jax.Array, lo: jax.Array, hi: jax.Array, bisections: int = 40, newton: int = 2
) -> jax.Array:
    """x with f(x) = y, elementwise, for f increasing and lo <= x <= hi.

    Args:
      f: elementwise increasing map (...,) -> (...,) (it may close over parameters).
      y: (...,) targets; lo, hi: (...,) a bracket of the root.
      bisections: halvings of the bracket; newton: polishing Newton steps (differentiable).

    Returns:
      x (...,); a Newton step that would leave the initial bracket is clipped to it.
    """
    lo0, hi0 = jnp.broadcast_arrays(*(jax.lax.stop_gradient(v) for v in (lo, hi, y)))[:2]
    target = jax.lax.stop_gradient(y)

    def halve(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        below = jax.lax.stop_gradient(f(mid)) < target
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, bisections, halve, (lo0, hi0))
    x = 0.5 * (lo + hi)
    for _ in range(newton):
        value, slope = jax.jvp(f, (x,), (jnp.ones_like(x),))
        x = jnp.clip(x - (value - y) / slope, lo0, hi0)
    return x
