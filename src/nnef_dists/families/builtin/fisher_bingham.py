"""Fisher-Bingham family on the sphere S^2: T(x) = [x, triu(x x^T)]."""

from dataclasses import dataclass

import numpy as np

from nnef_dists.families.base import ExponentialFamily
from nnef_dists.families.builtin._common import pair_products
from nnef_dists.families.domains import Sphere
from nnef_dists.families.registry import register_family

# int32 indices: see MultivariateNormalTril._tril.
_ROWS, _COLS = (i.astype(np.int32) for i in np.triu_indices(3))


@register_family("fisher_bingham")
@dataclass(frozen=True)
class FisherBingham(ExponentialFamily):
    """p(x) ~ exp(eta_x . x + eta_xx . triu(x x^T)) on the unit sphere in R^3.

    triu is the upper triangle in np.triu_indices(3) order (6 entries). Every
    eta is valid (the sphere is compact); base measure = surface area. No
    closed-form A(eta). T is not minimal: the diagonal of x x^T sums to 1.
    """

    x_shape: tuple = (3,)
    domain = Sphere(3)
    stat_shapes = {"x": (3,), "xxT_upper": (6,)}

    def _compute_stats(self, x):
        return {"x": x, "xxT_upper": pair_products(x, _ROWS, _COLS)}
