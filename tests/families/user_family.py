"""A family defined outside the package, found by import path in test_registry."""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np

from nnef_dists.families import ExponentialFamily


@dataclass(frozen=True)
class Exponential(ExponentialFamily):
    """Exponential(rate): T(x) = [x] on x > 0, eta = -rate < 0, A(eta) = -log(-eta)."""

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"x": (1,)}

    def _compute_stats(self, x):
        return {"x": x}

    def x_bounds(self):
        return np.zeros(self.x_shape), np.full(self.x_shape, np.inf)

    def eta_bounds(self):
        return {"x": (-np.inf, 0.0)}

    def log_partition(self, eta):
        return -jnp.log(-eta[0])


@dataclass(frozen=True)
class GammaNumpy(ExponentialFamily):
    """Gamma written by a user with NumPy bounds: T(x) = [log x, x] on x > 0."""

    x_shape: tuple = (1,)

    @cached_property
    def stat_shapes(self):
        return {"log_x": (1,), "x": (1,)}

    def _compute_stats(self, x):
        return {"log_x": jnp.log(x), "x": x}

    def x_bounds(self):
        return np.zeros(self.x_shape), np.full(self.x_shape, np.inf)

    def eta_bounds(self):
        return {"log_x": (-1.0, np.inf), "x": (-np.inf, 0.0)}


@dataclass(frozen=True)
class GammaJnp(GammaNumpy):
    """The same family written with jax.numpy bounds, as the README's example does."""

    def x_bounds(self):
        return jnp.zeros(self.x_shape), jnp.full(self.x_shape, jnp.inf)

    def eta_bounds(self):
        return {"log_x": (jnp.asarray(-1.0), jnp.inf), "x": (-jnp.inf, jnp.asarray(0.0))}


@dataclass(frozen=True)
class GammaNoEtaBounds(GammaNumpy):
    """Gamma's statistics given without eta_bounds: any eta passes as natural."""

    def eta_bounds(self):
        return {}
