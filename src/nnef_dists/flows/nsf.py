"""Autoregressive rational-quadratic spline flows (NSF; Durkan et al. 2019).

Each dimension is pushed through a monotone rational-quadratic spline with K
bins on [-B, B] whose widths, heights and interior derivatives come from a
MADE, and through the identity outside [-B, B] (linear tails; the boundary
derivatives are 1, so the map is C^1). In bin k, with xi = (x - x_k) / w_k,
s_k = h_k / w_k and knot derivatives d_k, d_{k+1}:

    y = y_k + h_k (s_k xi^2 + d_k xi (1 - xi)) / (s_k + (d_k + d_{k+1} - 2 s_k) xi (1 - xi)),

    dy/dx = s_k^2 (d_{k+1} xi^2 + 2 s_k xi (1 - xi) + d_k (1 - xi)^2)
            / (s_k + (d_k + d_{k+1} - 2 s_k) xi (1 - xi))^2,

and the inverse solves a quadratic in xi (the root in [0, 1]).

The derivatives at the two ends are 1 by default (identity tails); a spline
on a closed interval learns them (``ends="free"``), and a circular spline
(Rezende et al. 2020, arXiv:2002.02428) learns one shared by both ends
(``ends="periodic"``), so that it is C^1 on the circle.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from nnef_dists.flows.made import MADESpec, autoregressive_inverse

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3


def _knots(raw: jax.Array, bound: float, minimum: float) -> jax.Array:
    """Raw bin sizes (..., K) -> knot positions (..., K + 1) from -bound to bound."""
    k = raw.shape[-1]
    sizes = minimum + (1 - minimum * k) * jax.nn.softmax(raw, axis=-1)
    cum = jnp.cumsum(sizes, axis=-1)
    knots = jnp.concatenate([jnp.zeros_like(cum[..., :1]), cum], axis=-1)
    knots = 2 * bound * knots - bound
    return knots.at[..., 0].set(-bound).at[..., -1].set(bound)


#: ends -> how many raw derivatives a spline of K bins takes, beyond K - 1 interior ones
ENDS = {"identity": 0, "periodic": 1, "free": 2}


def _derivatives(raw: jax.Array, ends: str = "identity") -> jax.Array:
    """Raw knot derivatives -> knot derivatives (..., K + 1).

    ``raw`` holds the K - 1 interior derivatives, then ``ENDS[ends]`` more: none
    (both ends 1), one (shared by both ends) or two (first end, last end). The
    shift log(e - 1) makes raw = 0 give derivative 1 (the identity spline).
    """
    d = MIN_DERIVATIVE + jax.nn.softplus(raw + jnp.log(jnp.expm1(1.0 - MIN_DERIVATIVE)))
    inner, extra = d[..., : d.shape[-1] - ENDS[ends]], d[..., d.shape[-1] - ENDS[ends] :]
    first, last = {
        "identity": (jnp.ones_like(d[..., :1]),) * 2,
        "periodic": (extra, extra),
        "free": (extra[..., :1], extra[..., 1:]),
    }[ends]
    return jnp.concatenate([first, inner, last], axis=-1)


def _take(array: jax.Array, index: jax.Array) -> jax.Array:
    """array[..., index] per element: (..., K), (...) -> (...)."""
    return jnp.sum(array * jax.nn.one_hot(index, array.shape[-1], dtype=array.dtype), -1)


def rational_quadratic_spline(
    x, widths, heights, derivatives, bound: float, inverse=False, ends: str = "identity"
):
    """Elementwise monotone RQ spline on [-bound, bound], identity outside.

    Args:
      x: (...,) inputs (outputs of the forward map when ``inverse``).
      widths, heights: (..., K) unnormalised bin widths and heights.
      derivatives: (..., K - 1 + ENDS[ends]) unnormalised knot derivatives.
      bound: B; inverse: evaluate the inverse map.
      ends: ``identity`` (derivative 1 at both ends, identity outside), ``free``
        or ``periodic`` (learned; x is then taken to lie in [-B, B]).

    Returns:
      (y, log |dy/dx|), both (...,); for the inverse, y is the preimage and the
      log-derivative is that of the inverse map.
    """
    xk, yk = _knots(widths, bound, MIN_BIN_WIDTH), _knots(heights, bound, MIN_BIN_HEIGHT)
    d = _derivatives(derivatives, ends)
    inside = (jnp.abs(x) < bound) | (ends != "identity")
    xc = jnp.clip(x, -bound, bound)
    search = yk if inverse else xk
    k = jnp.clip(jnp.sum(xc[..., None] >= search[..., 1:-1], axis=-1), 0, widths.shape[-1] - 1)
    x0, w = _take(xk, k), _take(xk, k + 1) - _take(xk, k)
    y0, h = _take(yk, k), _take(yk, k + 1) - _take(yk, k)
    d0, d1 = _take(d, k), _take(d, k + 1)
    s = h / w
    if inverse:
        dy = xc - y0
        a = h * (s - d0) + dy * (d1 + d0 - 2 * s)
        b = h * d0 - dy * (d1 + d0 - 2 * s)
        c = -s * dy
        xi = 2 * c / (-b - jnp.sqrt(jnp.maximum(b**2 - 4 * a * c, 0.0)))
    else:
        xi = (xc - x0) / w
    t = xi * (1 - xi)
    denominator = s + (d1 + d0 - 2 * s) * t
    log_dy = 2 * jnp.log(s) + jnp.log(d1 * xi**2 + 2 * s * t + d0 * (1 - xi) ** 2)
    log_dy = log_dy - 2 * jnp.log(denominator)
    if inverse:
        y, log_dy = x0 + xi * w, -log_dy
    else:
        y = y0 + h * (s * xi**2 + d0 * t) / denominator
    return jnp.where(inside, y, x), jnp.where(inside, log_dy, 0.0)


class SplineMADE(nnx.Module):
    """One autoregressive NSF layer: x (..., D), context (..., C) or None <-> z (..., D).

    Args:
      spec: the MADE's dimensions and size (``MADESpec``).
      order: (D,) autoregressive order (default 0..D-1).
      bins: K; bound: B, the half-width of the spline's interval.
    """

    def __init__(self, spec: MADESpec, *, order=None, bins=8, bound=5.0, rngs: nnx.Rngs):
        self.dim, self.bins, self.bound = spec.dim, bins, bound
        self.made = spec.build(3 * bins - 1, order, rngs)

    def _spline(self, x, params, inverse):
        k = self.bins
        widths, heights, derivs = params[..., :k], params[..., k : 2 * k], params[..., 2 * k :]
        return rational_quadratic_spline(x, widths, heights, derivs, self.bound, inverse)

    def forward(self, x: jax.Array, context: jax.Array | None = None):
        """x (..., D) -> (z (..., D), log |det dz/dx| (...))."""
        z, log_dz = self._spline(x, self.made(x, context), inverse=False)
        return z, log_dz.sum(-1)

    def inverse(self, z: jax.Array, context: jax.Array | None = None) -> jax.Array:
        """z (..., D) -> x (..., D), by D passes of the MADE."""
        step = lambda x: self._spline(z, self.made(x, context), inverse=True)[0]
        return autoregressive_inverse(step, z, self.dim, context)
