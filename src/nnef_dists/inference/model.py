"""The models CAVI runs on: a bilinear coupling of two exponential-family blocks."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class BilinearModel(NamedTuple):
    """log p(x, y) = T(x)^T A S(y) + b_x . T(x) + b_y . S(y) + log h_x(x) + log h_y(y) + const.

    T (k_x statistics) and S (k_y statistics) are the sufficient statistics of
    the two variational families, h_x and h_y their base measures. Under the
    mean-field factorisation q(x) q(y), the optimal factor given the other is
    in the same family,

        q(x) ~ h_x(x) exp(eta_x . T(x)),   eta_x = b_x + A <S(y)>,
        q(y) ~ h_y(y) exp(eta_y . S(y)),   eta_y = b_y + A^T <T(x)>,

    which is what ``cavi`` iterates. A pytree (a NamedTuple of arrays), so a
    batch of models with stacked fields can be passed through ``jax.vmap``.

    Attributes:
      A: (k_x, k_y) coupling matrix.
      b_x: (k_x,) natural parameters of x that do not depend on y.
      b_y: (k_y,) natural parameters of y that do not depend on x.
    """

    A: jax.Array
    b_x: jax.Array
    b_y: jax.Array

    @property
    def dims(self) -> tuple[int, int]:
        """(k_x, k_y), from the trailing axes of A (valid for a batch too)."""
        return self.A.shape[-2], self.A.shape[-1]

    def update_x(self, mu_y):
        """eta_x = b_x + A <S>: mu_y (k_y,) -> (k_x,)."""
        return self.b_x + self.A @ mu_y

    def update_y(self, mu_x):
        """eta_y = b_y + A^T <T>: mu_x (k_x,) -> (k_y,)."""
        return self.b_y + mu_x @ self.A

    def elbo(self, eta_x, eta_y, mu_x, mu_y, log_z_x, log_z_y):
        """ELBO of q(x) q(y) up to the model's additive constant, a scalar.

            ELBO = <T>^T A <S> + (b_x - eta_x) . <T> + (b_y - eta_y) . <S>
                   + A_x(eta_x) + A_y(eta_y) + const,

        from E_q[log p(x, y)] - E_q[log q(x)] - E_q[log q(y)]: the base
        measures cancel. Args: eta_x, mu_x = <T> (k_x,); eta_y, mu_y = <S>
        (k_y,); log_z_x = A_x(eta_x), log_z_y = A_y(eta_y) scalars.
        """
        return (
            mu_x @ self.A @ mu_y
            + jnp.dot(self.b_x - eta_x, mu_x)
            + jnp.dot(self.b_y - eta_y, mu_y)
            + log_z_x
            + log_z_y
        )
