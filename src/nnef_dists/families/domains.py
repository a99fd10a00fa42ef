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

    def _bounds(self):
        """Flat (kind, lo, hi): kind 0 free, 1 lower bound, 2 upper bound, 3 both."""
        has_lo, has_hi = np.isfinite(self.lower).ravel(), np.isfinite(self.upper).ravel()
        kind = has_lo.astype(int) + 2 * has_hi.astype(int)
        lo = np.where(has_lo, self.lower.ravel(), 0.0)
        hi = np.where(has_hi, self.upper.ravel(), 1.0)
        return kind, lo, hi

    @staticmethod
    def _per_kind(kind, value, branches):
        """branches[k](v) on the coordinates of kind k; only kinds present are computed.

        Each branch sees 0 on the other coordinates, so an unused branch never
        overflows (and never poisons a gradient with 0 * inf).
        """
        present = np.unique(kind)
        if len(present) == 1:
            return branches[present[0]](value)
        out = jnp.zeros_like(value)
        for k in present:
            out = jnp.where(kind == k, branches[k](jnp.where(kind == k, value, 0.0)), out)
        return out

    def forward(self, u):
        kind, lo, hi = self._bounds()
        branches = {
            0: lambda v: v,
            1: lambda v: lo + jnp.exp(v),
            2: lambda v: hi - jnp.exp(v),
            3: lambda v: lo + (hi - lo) * jax.nn.sigmoid(v),
        }
        return self._per_kind(kind, u, branches).reshape(self.x_shape)

    def inverse(self, x):
        kind, lo, hi = self._bounds()
        branches = {
            0: lambda v: v,
            1: lambda v: jnp.log(v - lo),
            2: lambda v: jnp.log(hi - v),
            3: lambda v: jnp.log(v - lo) - jnp.log(hi - v),
        }
        return self._per_kind(kind, jnp.ravel(x), branches)

    def log_det_jacobian(self, u):
        kind, lo, hi = self._bounds()
        branches = {
            0: jnp.zeros_like,
            1: lambda v: v,
            2: lambda v: v,
            3: lambda v: jnp.log(hi - lo) + jax.nn.log_sigmoid(v) + jax.nn.log_sigmoid(-v),
        }
        return jnp.sum(self._per_kind(kind, u, branches))


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
