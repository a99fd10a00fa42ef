"""What an ET network is: a Flax NNX module mapping eta (k,) to mu_T (k,).

Every model is written for one natural parameter vector; callers vectorise
(``load_model`` wraps it with ``jnp.vectorize``, the trainer with ``vmap``).
The standardisation of the training data is part of the model (an
``Normalization`` held as non-trainable state), so a model is called with raw
eta and returns raw mu_T, and each model chooses how to use the scales: the
plain networks standardise in and out, while the networks whose Jacobian must
be symmetric positive semi-definite use a congruent scaling (see
``Normalization.congruent_scale``).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

#: Smallest scale used to standardise a coordinate (a constant column stays finite).
MIN_SCALE = 1e-6


class Normalization(NamedTuple):
    """Per-coordinate mean and scale of eta and mu_T in the training split, each (k,)."""

    eta_mean: jax.Array
    eta_scale: jax.Array
    mu_mean: jax.Array
    mu_scale: jax.Array

    @classmethod
    def from_data(cls, eta, mu_T) -> Normalization:
        """Means and standard deviations (floored at MIN_SCALE) of (N, k) arrays."""
        eta, mu_T = np.asarray(eta, np.float64), np.asarray(mu_T, np.float64)
        return cls(
            *(
                jnp.asarray(v, jnp.float32)
                for v in (
                    eta.mean(0),
                    np.maximum(eta.std(0), MIN_SCALE),
                    mu_T.mean(0),
                    np.maximum(mu_T.std(0), MIN_SCALE),
                )
            )
        )

    @classmethod
    def identity(cls, k: int) -> Normalization:
        """No standardisation: zero means, unit scales."""
        zeros, ones = jnp.zeros(k), jnp.ones(k)
        return cls(zeros, ones, zeros, ones)

    def to_dict(self) -> dict:
        """Plain lists, for config.yaml."""
        return {name: np.asarray(value).tolist() for name, value in self._asdict().items()}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(*(jnp.asarray(d[name], jnp.float32) for name in cls._fields))

    def standardize_eta(self, eta):
        """(eta - eta_mean) / eta_scale."""
        return (eta - self.eta_mean) / self.eta_scale

    def unstandardize_mu(self, y):
        """mu_mean + mu_scale * y."""
        return self.mu_mean + self.mu_scale * y

    @property
    def congruent_scale(self):
        """w (k,) = sqrt(mu_scale / eta_scale).

        With z = w * (eta - eta_mean) and mu = mu_mean + w * g(z), the
        Jacobian d mu / d eta = diag(w) (dg/dz) diag(w) is symmetric positive
        semi-definite whenever dg/dz is, and has the typical size
        mu_scale / eta_scale of Cov[T] when dg/dz is of order one.
        """
        return jnp.sqrt(self.mu_scale / self.eta_scale)


class NormalizationState(nnx.Variable):
    """Non-trainable model state holding the data's Normalization (saved with the model)."""


class ETModel(nnx.Module):
    """Base class of the ET networks: eta (k,) -> mu_T (k,).

    Subclasses are registered with ``@register_model(name)`` and implement
    ``__init__(eta_dim, normalization, *, hidden_sizes, rngs, **options)``
    (calling ``super().__init__(normalization)``) and ``mu_T``; where the
    model has them, they also implement ``cov_TT`` (its own covariance
    network or Hessian, used by the Jacobian loss instead of autodiff of
    ``mu_T``), ``log_partition`` and ``eta_from_mu``.

    Class attributes:
      provides: the methods beyond mu_T that the model implements.
      default_jacobian_weight: weight of the cov_TT term of the loss when the
        training config does not set one (models built on Sigma use 1).
    """

    provides: ClassVar[tuple[str, ...]] = ()
    default_jacobian_weight: ClassVar[float] = 0.0
    registry_name: ClassVar[str]

    def __init__(self, normalization: Normalization):
        self.normalization = NormalizationState(Normalization(*normalization))

    @property
    def norm(self) -> Normalization:
        return self.normalization.get_value()

    def mu_T(self, eta: jax.Array) -> jax.Array:
        """E[T(x) | eta]: (k,) -> (k,)."""
        raise NotImplementedError

    def jacobian(self, eta: jax.Array) -> jax.Array:
        """d mu_T / d eta (k, k): the model's cov_TT if it has one, else autodiff."""
        if "cov_TT" in self.provides:
            return self.cov_TT(eta)
        return jax.jacfwd(self.mu_T)(eta)

    def __call__(self, eta: jax.Array) -> jax.Array:
        return self.mu_T(eta)


def mlp_layers(sizes, rngs: nnx.Rngs) -> nnx.List:
    """Dense layers between consecutive entries of sizes (in, hidden..., out)."""
    return nnx.List(
        [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
    )


__all__ = ["ETModel", "Normalization", "NormalizationState", "mlp_layers", "MIN_SCALE"]
