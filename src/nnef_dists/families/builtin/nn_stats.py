"""A family whose statistics are a fixed random network: T(x) = tanh(W2 tanh(W1 x + b1) + b2)."""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.registry import register_family


@register_family("nn_stats")
@dataclass(frozen=True)
class NNStats(ExponentialFamily):
    """p(x) ~ exp(eta . T(x) - x^2 / 2) on the real line, T a one-hidden-layer tanh network.

    T is bounded in (-1, 1)^num_stats, so every eta is valid. No closed-form A.

    Args:
      seed: seed of numpy.random.default_rng drawing W1 (hidden, 1), b1 (hidden,),
        W2 (num_stats, hidden), b2 (num_stats,), in that order, each standard
        normal scaled by 1 / sqrt(fan_in) (fan_in = 1 for layer 1, hidden for layer 2).
      hidden: width of the hidden layer.
      num_stats: number of statistics.
    """

    x_shape: tuple = (1,)
    seed: int = 0
    hidden: int = 16
    num_stats: int = 3

    @cached_property
    def weights(self) -> tuple:
        """(W1, b1, W2, b2) as float64 NumPy arrays, drawn once."""
        rng = np.random.default_rng(self.seed)
        h, k = self.hidden, self.num_stats
        shapes_and_fan_in = [((h, 1), 1), ((h,), 1), ((k, h), h), ((k,), h)]
        return tuple(rng.standard_normal(shape) / np.sqrt(fan) for shape, fan in shapes_and_fan_in)

    @cached_property
    def stat_shapes(self):
        return {"t": (self.num_stats,)}

    def _compute_stats(self, x):
        w1, b1, w2, b2 = (jnp.asarray(w, dtype=jnp.result_type(x)) for w in self.weights)
        return {"t": jnp.tanh(w2 @ jnp.tanh(w1 @ x + b1) + b2)}

    def log_base_measure(self, x):
        return -0.5 * jnp.sum(x**2)
