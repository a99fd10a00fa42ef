"""Charts: fixed bijections from a bounded manifold to coordinates where flow layers act.

Each is a layer without parameters, ``forward(x, c) -> (y, log |det|)`` and
``inverse(y, c) -> x``, the log-determinant taken against the manifold's own
volume (Lebesgue on the free coordinates, area on spheres):

- ``IntervalChart``: (0, 1)^N -> R^N, y = logit(x), log |det| = -sum log x (1 - x);
- ``SimplexChart``: the simplex of N + 1 components (only the first N are
  free) -> R^N by stick-breaking: v_i = x_i / r_i with r_i = 1 - sum_{j<i} x_j,
  y_i = logit v_i; the Jacobian is triangular, log |det dy / dx_{1..N}| =
  -sum_i [log v_i + log(1 - v_i) + log r_i]; the inverse is
  x_i = v_i prod_{j<i} (1 - v_j), x_{N+1} = prod_j (1 - v_j);
- ``IntervalChart`` and ``SimplexChart`` then standardise their coordinates
  by a shift and scale set from the training data (``standardise``);
- ``SphereChart``: S^1 -> the angle phi in [-pi, pi), S^2 -> (t, phi) with
  t = x_3 the height and phi the azimuth. Both keep volume: arc length is
  d phi, and area on S^2 is dt dphi (Archimedes), so log |det| = 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class ChartStat(nnx.Variable):
    """A fixed shift or scale of chart coordinates, set from training data (not trained)."""


class _StandardisedChart(nnx.Module):
    """A chart followed by a per-coordinate standardisation y = (u - shift) / scale, set
    by ``standardise`` from data (identity until then), so that the layers after it see
    coordinates of order 1 (the logits of small Dirichlet components reach -7 and more)."""

    def __init__(self, n: int):
        self.shift, self.scale = ChartStat(jnp.zeros(n)), ChartStat(jnp.ones(n))

    def forward(self, x: jax.Array, context=None):
        """x (..., ambient) -> (y (..., n), log |det| (...))."""
        u, log_det = self._chart(x)
        y = (u - self.shift[...]) / self.scale[...]
        return y, log_det - jnp.sum(jnp.log(self.scale[...]))

    def inverse(self, y: jax.Array, context=None) -> jax.Array:
        return self._chart_inverse(y * self.scale[...] + self.shift[...])

    def standardise(self, x) -> None:
        """Shift and scale from points x (N, ambient): the chart coordinates' mean and std."""
        u = np.asarray(self._chart(jnp.asarray(x))[0], np.float64)
        u = u[np.all(np.isfinite(u), 1)]
        if not len(u):
            return
        self.shift[...] = jnp.asarray(u.mean(0), jnp.float32)
        self.scale[...] = jnp.asarray(np.maximum(u.std(0), 1e-3), jnp.float32)


class IntervalChart(_StandardisedChart):
    """(0, 1)^n <-> R^n by the logit."""

    def _chart(self, x):
        return jnp.log(x) - jnp.log1p(-x), -jnp.sum(jnp.log(x) + jnp.log1p(-x), -1)

    def _chart_inverse(self, u):
        """Kept off 0 and 1, which a float draws could round to."""
        eps = jnp.finfo(u.dtype).epsneg
        return jnp.clip(jax.nn.sigmoid(u), eps, 1 - eps)


class SimplexChart(_StandardisedChart):
    """The simplex {x (n + 1) >= 0, sum x = 1} <-> R^n by stick-breaking."""

    def _chart(self, x):
        tail = jnp.flip(jnp.cumsum(jnp.flip(x, -1), -1), -1)  # sum_{j>=i} x_j: no cancellation
        rest = tail[..., :-1]  # r_i = 1 - sum_{j<i} x_j
        log_v = jnp.log(x[..., :-1]) - jnp.log(rest)
        log_1mv = jnp.log(tail[..., 1:]) - jnp.log(rest)
        return log_v - log_1mv, -jnp.sum(log_v + log_1mv + jnp.log(rest), -1)

    def _chart_inverse(self, u):
        """Components kept above the smallest normal float, which a draw could round to 0."""
        log_v, log_1mv = jax.nn.log_sigmoid(u), jax.nn.log_sigmoid(-u)
        before = jnp.cumsum(log_1mv, -1) - log_1mv  # log prod_{j<i} (1 - v_j)
        x = jnp.concatenate(
            [jnp.exp(log_v + before), jnp.exp(before[..., -1:] + log_1mv[..., -1:])], -1
        )
        return jnp.maximum(x, jnp.finfo(u.dtype).tiny)


class SphereChart(nnx.Module):
    """S^n (unit vectors in R^{n+1}, n = 1 or 2) <-> angles: phi, or (t, phi)."""

    def __init__(self, n: int):
        if n not in (1, 2):
            raise ValueError(f"spheres S^1 and S^2 are supported, not S^{n}")
        self.n = n

    def forward(self, x: jax.Array, context=None):
        """x (..., n + 1) unit vectors -> (angles (..., n), 0 (...))."""
        phi = jnp.arctan2(x[..., 1], x[..., 0])
        phi = jnp.where(phi >= jnp.pi, phi - 2 * jnp.pi, phi)[..., None]
        angles = phi if self.n == 1 else jnp.concatenate([jnp.clip(x[..., 2:], -1, 1), phi], -1)
        return angles, jnp.zeros(x.shape[:-1], x.dtype)

    def inverse(self, angles: jax.Array, context=None) -> jax.Array:
        """angles (..., n) -> unit vectors (..., n + 1)."""
        phi = angles[..., -1]
        if self.n == 1:
            return jnp.stack([jnp.cos(phi), jnp.sin(phi)], -1)
        t = angles[..., 0]
        r = jnp.sqrt(jnp.clip(1 - t**2, 0.0))
        return jnp.stack([r * jnp.cos(phi), r * jnp.sin(phi), t], -1)
