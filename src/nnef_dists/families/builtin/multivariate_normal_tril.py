"""Multivariate normal family with the lower triangle of x x^T as statistic."""

from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np

from nnef_dists.families.builtin._common import pair_products
from nnef_dists.families.builtin.multivariate_normal import MultivariateNormal
from nnef_dists.families.registry import register_family


@register_family("multivariate_normal_tril")
@dataclass(frozen=True)
class MultivariateNormalTril(MultivariateNormal):
    """N(m, S) on R^d with T(x) = [x, tril(x x^T)] (np.tril_indices(d) order).

    A minimal parametrisation: eta = [eta_x (d,), eta_tril (d (d + 1) / 2,)].
    The natural-parameter matrix M has eta_tril on its diagonal and half of
    each off-diagonal entry at (i, j) and (j, i), so eta_tril . tril(x x^T) =
    x^T M x. Validity, A(eta) and ``reparam_eta`` (the stored eta is the
    reparametrised one) are those of ``multivariate_normal`` with this M.
    """

    @cached_property
    def _tril(self):
        """(rows, cols, is_diagonal), each of shape (d (d + 1) / 2,)."""
        # int32: int64 index constants break a jitted function called both
        # inside and outside jax.enable_x64 (int64/int32 clash in JAX 0.10).
        rows, cols = (i.astype(np.int32) for i in np.tril_indices(self.d))
        return rows, cols, rows == cols

    @cached_property
    def stat_shapes(self):
        return {"x": (self.d,), "xxT_tril": (self.d * (self.d + 1) // 2,)}

    def _compute_stats(self, x):
        rows, cols, _ = self._tril
        return {"x": x, "xxT_tril": pair_products(x, rows, cols)}

    def _split(self, eta):
        rows, cols, diag = self._tril
        parts = self.unflatten(eta)
        t = parts["xxT_tril"]
        half = jnp.where(diag, t, 0.5 * t)
        M = jnp.zeros((*half.shape[:-1], self.d, self.d), dtype=half.dtype)
        return parts["x"], M.at[..., rows, cols].set(half).at[..., cols, rows].set(half)

    def _join(self, eta_x, M):
        rows, cols, diag = self._tril
        t = M[..., rows, cols]
        return self.flatten({"x": eta_x, "xxT_tril": jnp.where(diag, t, 2.0 * t)})
