"""Flows on the spheres S^1 and S^2, in the angles of ``charts.SphereChart``.

On S^1 the angle phi in [-pi, pi) goes through a circular rational-quadratic
spline (one derivative shared by both ends, so the map is C^1 on the circle)
and a rotation by a learned angle (Rezende et al. 2020, arXiv:2002.02428). On
S^2, in (t, phi) with area dt dphi, a layer is autoregressive: the height t
goes through a spline on [-1, 1] with learned end derivatives, then phi
through a circular spline whose parameters depend on t; every other layer
takes phi first, then t given (cos phi, sin phi). All parameters depend on
the context. The base is uniform on the sphere: 1 / (2 pi) on S^1 and
1 / (4 pi) on S^2, i.e. uniform on the angles, and ``to_normal`` maps it to
N(0, I) by the normal quantile of each angle's uniform CDF.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.scipy.special import ndtri

from nnef_dists.flows.base import join
from nnef_dists.flows.conditioner import Conditioner
from nnef_dists.flows.nsf import ENDS, rational_quadratic_spline


def wrap(angle: jax.Array) -> jax.Array:
    """Angles mod 2 pi into [-pi, pi)."""
    return jnp.mod(angle + jnp.pi, 2 * jnp.pi) - jnp.pi


class _Spline1D(nnx.Module):
    """One coordinate's spline, its parameters a function of a context: circular (with a
    rotation) on [-pi, pi), or with free ends on [-1, 1]."""

    def __init__(self, context_dim: int, circular: bool, bins: int, hidden: int, rngs):
        self.circular, self.bins = circular, bins
        self.ends = "periodic" if circular else "free"
        self.bound = jnp.pi if circular else 1.0
        size = 3 * bins - 1 + ENDS[self.ends] + int(circular)
        self.params = Conditioner(context_dim, size, hidden=hidden, rngs=rngs)

    def __call__(self, x: jax.Array, context: jax.Array | None, inverse: bool = False):
        """x (...,) -> (y (...,), log |dy/dx| (...,)) or, with ``inverse``, the inverse map."""
        p, k = self.params(context, x.shape), self.bins
        spline = lambda v, inv: rational_quadratic_spline(
            v,
            p[..., :k],
            p[..., k : 2 * k],
            p[..., 2 * k : 3 * k - 1 + ENDS[self.ends]],
            self.bound,
            inverse=inv,
            ends=self.ends,
        )
        if not self.circular:
            return spline(x, inverse)
        if inverse:
            return spline(wrap(x - p[..., -1]), True)
        y, log_dy = spline(x, False)
        return wrap(y + p[..., -1]), log_dy


class SphereSpline(nnx.Module):
    """One spline layer on S^n (n = 1, 2) in angles: (..., n), context (..., C) or None.

    Args:
      n: the sphere's dimension; context_dim: C; bins: K per spline;
      hidden: conditioner width; flip: on S^2, phi first and t given phi.
    """

    def __init__(self, n, context_dim, *, bins=8, hidden=64, flip=False, rngs: nnx.Rngs):
        self.n, self.flip = n, flip and n == 2
        circular_first = n == 1 or self.flip
        self.first = _Spline1D(context_dim, circular_first, bins, hidden, rngs)
        self.second = (
            _Spline1D(context_dim + (2 if self.flip else 1), not self.flip, bins, hidden, rngs)
            if n == 2
            else None
        )

    def _embed(self, value):
        """The first coordinate as context for the second: t, or (cos phi, sin phi)."""
        return jnp.stack([jnp.cos(value), jnp.sin(value)], -1) if self.flip else value[..., None]

    def forward(self, x: jax.Array, context: jax.Array | None = None):
        """angles (..., n) -> (angles (..., n), log |det| (...))."""
        if self.n == 1:
            y, log_dy = self.first(x[..., 0], context)
            return y[..., None], log_dy
        i, j = (1, 0) if self.flip else (0, 1)
        yi, ldi = self.first(x[..., i], context)
        yj, ldj = self.second(x[..., j], join(context, self._embed(x[..., i])))
        y = jnp.stack([yj, yi] if self.flip else [yi, yj], -1)
        return y, ldi + ldj

    def inverse(self, y: jax.Array, context: jax.Array | None = None) -> jax.Array:
        if self.n == 1:
            return self.first(y[..., 0], context, inverse=True)[0][..., None]
        i, j = (1, 0) if self.flip else (0, 1)
        xi = self.first(y[..., i], context, inverse=True)[0]
        xj = self.second(y[..., j], join(context, self._embed(xi)), inverse=True)[0]
        return jnp.stack([xj, xi] if self.flip else [xi, xj], -1)


class UniformSphere(nnx.Module):
    """The uniform density on S^n (n = 1, 2) in angles: t in [-1, 1], phi in [-pi, pi)."""

    def __init__(self, n: int):
        self.n = n
        self.low = (-1.0, -jnp.pi)[2 - n :]
        self.width = (2.0, 2 * jnp.pi)[2 - n :]

    def log_prob(self, y: jax.Array, context=None) -> jax.Array:
        """(..., n) -> (...): -log(2 pi) on S^1, -log(4 pi) on S^2."""
        return jnp.full(y.shape[:-1], -sum(map(math.log, self.width)), y.dtype)

    def sample(self, key: jax.Array, shape: tuple, context=None) -> jax.Array:
        """Uniform angles (*shape, n)."""
        low, width = jnp.array(self.low), jnp.array(self.width)
        return low + width * jax.random.uniform(key, (*shape, self.n))

    def to_normal(self, y: jax.Array, context=None) -> jax.Array:
        """Angles (..., n) -> N(0, I) by the normal quantile of each uniform CDF."""
        u = (y - jnp.array(self.low, y.dtype)) / jnp.array(self.width, y.dtype)
        u = jnp.clip(u, 1e-7, 1 - 1e-7)
        return ndtri(u)
