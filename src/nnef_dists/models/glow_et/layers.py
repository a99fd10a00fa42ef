"""The invertible layers of glow_et, each for one vector x (k,).

Every layer has ``forward(x) -> (y, log|det dy/dx|)`` and the exact analytic
``inverse(y) -> x``; all of them start as the identity map except the LU
linear map, which starts as its fixed permutation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nnef_dists.models.base import mlp_layers
from nnef_dists.numerics import log_cosh, soft_clamp


class FlowConstant(nnx.Variable):
    """Non-trainable fixed part of a flow layer (permutation matrix, signs), saved with it."""


class ActNorm(nnx.Module):
    """y = x * exp(log_scale) + bias, per coordinate; starts as the identity.

    Glow initialises these from the first batch; here the input is already
    standardised, so the identity is the data-dependent initialisation.
    """

    def __init__(self, dim: int):
        self.log_scale = nnx.Param(jnp.zeros(dim))
        self.bias = nnx.Param(jnp.zeros(dim))

    def forward(self, x):
        return x * jnp.exp(self.log_scale[...]) + self.bias[...], jnp.sum(self.log_scale[...])

    def inverse(self, y):
        return (y - self.bias[...]) / jnp.exp(self.log_scale[...])


class LULinear(nnx.Module):
    """y = W x with W = P L U (Glow's LU-parametrised invertible 1x1 convolution).

    P is a fixed permutation matrix, L unit lower-triangular (its strict lower
    entries are parameters), U upper-triangular with diagonal
    ``sign * exp(log_s)`` (its strict upper entries and log_s are parameters,
    sign is a fixed +-1). det W = det P * prod(sign) * exp(sum(log_s)) is never
    zero, and log|det W| = sum(log_s). k^2 parameters in all, like a dense
    matrix. Starts as W = P (L = U = identity, sign = +1).

    Args:
      dim: k.
      permutation: the permutation matrix P (k, k); P x = x[perm].
    """

    def __init__(self, dim: int, permutation):
        self.dim = dim
        self.permutation = FlowConstant(jnp.asarray(permutation, jnp.float32))
        self.sign = FlowConstant(jnp.ones(dim))
        self.log_s = nnx.Param(jnp.zeros(dim))
        if dim > 1:  # no off-diagonal entries (and no empty parameters) for k = 1
            n_off = dim * (dim - 1) // 2
            self.lower = nnx.Param(jnp.zeros(n_off))
            self.upper = nnx.Param(jnp.zeros(n_off))

    def factors(self):
        """(P, L, U), each (k, k)."""
        k = self.dim
        lower, upper = jnp.eye(k), jnp.diag(self.sign[...] * jnp.exp(self.log_s[...]))
        if k > 1:
            rows, cols = np.tril_indices(k, -1)
            lower = lower.at[rows, cols].set(self.lower[...])
            upper = upper.at[cols, rows].set(self.upper[...])
        return self.permutation[...], lower, upper

    def matrix(self):
        """W = P L U (k, k)."""
        p, lower, upper = self.factors()
        return p @ lower @ upper

    def log_abs_det(self):
        """log|det W| = sum(log_s)."""
        return jnp.sum(self.log_s[...])

    def forward(self, x):
        p, lower, upper = self.factors()
        return p @ (lower @ (upper @ x)), self.log_abs_det()

    def inverse(self, y):
        p, lower, upper = self.factors()
        v = p.T @ y
        w = jax.scipy.linalg.solve_triangular(lower, v, lower=True, unit_diagonal=True)
        return jax.scipy.linalg.solve_triangular(upper, w, lower=False)


class AffineCoupling(nnx.Module):
    """Affine coupling: one part of x conditions a shift and a bounded log-scale of the rest.

    With a = the k//2 conditioning coordinates and b the other ceil(k/2)
    (a first, or a last when ``flip``), the MLP of ``hidden_sizes`` maps a to
    (t, r) and y_b = x_b * exp(s) + t with s = max_log_scale * tanh(r /
    max_log_scale); y_a = x_a. The MLP's last layer starts at zero, so the
    coupling starts as the identity. Needs k >= 2. ``activation`` names a
    function of ``jax.nn`` (between the hidden layers).
    """

    def __init__(
        self,
        dim: int,
        hidden_sizes: tuple[int, ...],
        *,
        flip: bool,
        max_log_scale: float,
        activation: str,
        rngs: nnx.Rngs,
    ):
        if dim < 2:
            raise ValueError("AffineCoupling needs dim >= 2; use SinhArcsinh for dim 1")
        self.n_cond = dim // 2
        self.n_out = dim - self.n_cond
        self.flip = flip
        self.max_log_scale = max_log_scale
        self.activation = activation
        self.layers = mlp_layers((self.n_cond, *hidden_sizes, 2 * self.n_out), rngs)
        last = self.layers[-1]
        last.kernel.set_value(jnp.zeros_like(last.kernel.get_value()))
        last.bias.set_value(jnp.zeros_like(last.bias.get_value()))

    def _split(self, x):
        """(conditioning part, transformed part)."""
        if self.flip:
            return x[self.n_out :], x[: self.n_out]
        return x[: self.n_cond], x[self.n_cond :]

    def _join(self, a, b):
        return jnp.concatenate([b, a] if self.flip else [a, b])

    def _shift_log_scale(self, a):
        h = a
        for layer in self.layers[:-1]:
            h = getattr(jax.nn, self.activation)(layer(h))
        out = self.layers[-1](h)
        return out[: self.n_out], soft_clamp(out[self.n_out :], self.max_log_scale)

    def forward(self, x):
        a, b = self._split(x)
        t, s = self._shift_log_scale(a)
        return self._join(a, b * jnp.exp(s) + t), jnp.sum(s)

    def inverse(self, y):
        a, b = self._split(y)
        t, s = self._shift_log_scale(a)
        return self._join(a, (b - t) / jnp.exp(s))


class SinhArcsinh(nnx.Module):
    """Elementwise y = sinh(a * asinh(x) + b), the coupling's stand-in when k = 1.

    With one coordinate there is nothing to condition on; an affine map would
    only repeat ActNorm and leave the whole flow affine, so this smooth
    monotone map (a > 0) with a closed-form inverse, x = sinh((asinh(y) - b) /
    a), gives the flow its nonlinearity instead. log a is bounded by
    max_log_scale like the coupling's log-scale (tails grow like |x|^a).
    Starts as the identity (log a = b = 0).
    """

    def __init__(self, dim: int, *, max_log_scale: float):
        self.max_log_scale = max_log_scale
        self.log_a = nnx.Param(jnp.zeros(dim))
        self.b = nnx.Param(jnp.zeros(dim))

    def _log_a(self):
        return soft_clamp(self.log_a[...], self.max_log_scale)

    def forward(self, x):
        log_a = self._log_a()
        u = jnp.exp(log_a) * jnp.arcsinh(x) + self.b[...]
        # dy/dx = cosh(u) * a / sqrt(1 + x^2)
        log_det = jnp.sum(log_a + log_cosh(u) - 0.5 * jnp.log1p(x**2))
        return jnp.sinh(u), log_det

    def inverse(self, y):
        return jnp.sinh((jnp.arcsinh(y) - self.b[...]) / jnp.exp(self._log_a()))
