"""Domains: maps from unconstrained space R^n to the support of x.

A sampler moves in unconstrained space u and targets

    log p_u(u) = log p_x(forward(u)) + log_det_jacobian(u),

so bounds and manifolds never appear as a -inf wall. Every domain has

- ``forward(u)``: u of shape (unconstrained_dim,) -> x of shape x_shape;
- ``inverse(x)``: a right inverse, forward(inverse(x)) == x;
- ``log_det_jacobian(u)``: the density correction above (a scalar);
- ``dim``: the intrinsic dimension of the support (used to pick quadrature).

``Box`` and ``Simplex`` are bijections and ``log_det_jacobian`` is
log|det d forward / du|. ``Sphere`` is the radial augmentation: u in R^d is
pushed to x = u / |u| on S^(d-1), and ``log_det_jacobian(u) = -|u|^2 / 2``
makes x follow p_x with respect to the surface measure while |u| follows an
independent chi distribution with d degrees of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


class Domain:
    """Base class; subclasses define the four members of the module docstring."""

    x_shape: tuple
    unconstrained_dim: int
    dim: int

    def forward(self, u):
        raise NotImplementedError

    def inverse(self, x):
        raise NotImplementedError

    def log_det_jacobian(self, u):
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Box(Domain):
    """Per-coordinate bounds lower <= x <= upper (either may be infinite).

    Coordinates map by x = u (no bound), x = lo + exp(u) (lower bound),
    x = hi - exp(u) (upper bound) or x = lo + (hi - lo) sigmoid(u) (both).

    Args:
      lower, upper: arrays of shape x_shape, entries may be -inf / +inf.
    """

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self):
        lower = np.broadcast_to(np.asarray(self.lower, dtype=float), np.shape(self.upper))
        upper = np.broadcast_to(np.asarray(self.upper, dtype=float), lower.shape)
        if np.any(lower >= upper):
            raise ValueError(f"Box domain needs lower < upper, got {lower} and {upper}")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @property
    def x_shape(self):
        return self.lower.shape

    @property
    def unconstrained_dim(self):
        return int(np.prod(self.x_shape, dtype=int))

    @property
    def dim(self):
        return self.unconstrained_dim

    def _kinds(self):
        has_lo, has_hi = np.isfinite(self.lower).ravel(), np.isfinite(self.upper).ravel()
        lo = np.where(has_lo, self.lower.ravel(), 0.0)
        hi = np.where(has_hi, self.upper.ravel(), 1.0)
        return has_lo, has_hi, lo, hi

    def forward(self, u):
        has_lo, has_hi, lo, hi = self._kinds()
        # exp only where one bound is finite, so unused branches never overflow.
        e = jnp.exp(jnp.where(has_lo ^ has_hi, u, 0.0))
        x = jnp.where(
            has_lo & has_hi,
            lo + (hi - lo) * jax.nn.sigmoid(u),
            jnp.where(has_lo, lo + e, jnp.where(has_hi, hi - e, u)),
        )
        return x.reshape(self.x_shape)

    def inverse(self, x):
        has_lo, has_hi, lo, hi = self._kinds()
        x = jnp.ravel(x)
        # Safe arguments keep the unused branches of jnp.where finite.
        frac = jnp.where(has_lo & has_hi, (x - lo) / (hi - lo), 0.5)
        above = jnp.where(has_lo, x - lo, 1.0)
        below = jnp.where(has_hi, hi - x, 1.0)
        return jnp.where(
            has_lo & has_hi,
            jnp.log(frac) - jnp.log1p(-frac),
            jnp.where(has_lo, jnp.log(above), jnp.where(has_hi, jnp.log(below), x)),
        )

    def log_det_jacobian(self, u):
        has_lo, has_hi, lo, hi = self._kinds()
        per_coord = jnp.where(
            has_lo & has_hi,
            jnp.log(hi - lo) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u),
            jnp.where(has_lo | has_hi, u, 0.0),
        )
        return jnp.sum(per_coord)


@dataclass(frozen=True, eq=False)
class Sphere(Domain):
    """The unit sphere S^(d-1) in R^d (d = 2 is the circle), by radial augmentation.

    Args:
      d: ambient dimension; x has shape (d,).
    """

    d: int

    @property
    def x_shape(self):
        return (self.d,)

    @property
    def unconstrained_dim(self):
        return self.d

    @property
    def dim(self):
        return self.d - 1

    def forward(self, u):
        return u / jnp.linalg.norm(u)

    def inverse(self, x):
        return x / jnp.linalg.norm(x)

    def log_det_jacobian(self, u):
        return -0.5 * jnp.sum(u**2)


@dataclass(frozen=True, eq=False)
class Simplex(Domain):
    """The probability simplex {x in R^K : x_i > 0, sum x_i = 1}.

    Additive log-ratio map x = softmax([u, 0]) with u in R^(K-1); the density
    is with respect to Lebesgue measure on x_1..x_(K-1), for which
    |det d x_(1:K-1) / du| = prod_(i=1..K) x_i.

    Args:
      K: number of components; x has shape (K,).
    """

    K: int

    @property
    def x_shape(self):
        return (self.K,)

    @property
    def unconstrained_dim(self):
        return self.K - 1

    @property
    def dim(self):
        return self.K - 1

    def forward(self, u):
        return jax.nn.softmax(jnp.append(u, 0.0))

    def inverse(self, x):
        return jnp.log(x[:-1]) - jnp.log(x[-1])

    def log_det_jacobian(self, u):
        return jnp.sum(jax.nn.log_softmax(jnp.append(u, 0.0)))
