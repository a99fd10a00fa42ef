"""Ground truth at many eta: the closed form where the family has one, else quadrature."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nnef_dists.sampling.quadrature import quadrature_moments, supports_quadrature


def exact_moments(family, eta) -> dict | None:
    """Exact mu_T (N, k) and cov_TT (N, k, k) in float64 NumPy, with their ``source``.

    The closed form (autodiff of ``log_partition``) where the family has one,
    quadrature where its domain allows (dimension <= 2), else None.
    """
    if family.has_exact:
        with jax.enable_x64(True):
            eta64 = jnp.asarray(np.asarray(eta, np.float64))
            mu = jax.vmap(family.exact_mu_T)(eta64)
            cov = jax.vmap(family.exact_cov_TT)(eta64)
            return {"mu_T": np.asarray(mu), "cov_TT": np.asarray(cov), "source": "closed form"}
    if supports_quadrature(family):
        return {**quadrature_moments(family, eta), "source": "quadrature"}
    return None
