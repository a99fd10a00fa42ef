"""Ground truth: the closed form where the family has one, else quadrature.

The one place that decides how exact answers are obtained, used by
evaluation, the CAVI providers and examples, the demo and the tests:

- ``exact_functions(family)``: mu_T, cov_TT and A as pure JAX functions of
  one eta (jit, vmap, grad), with their ``source``;
- ``exact_moments(family, eta)``: float64 NumPy moments at many eta.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nnef_dists.errors import FamilyError
from nnef_dists.families import ExponentialFamily
from nnef_dists.sampling.quadrature import (
    moments_from_nodes,
    quadrature_moments,
    rule_for,
    supports_quadrature,
)


class ExactFunctions(NamedTuple):
    """Exact answers for one eta (k,): mu_T -> (k,), cov_TT -> (k, k), log_partition -> ().

    ``log_partition`` is None for a closed form given by its moments only;
    ``source`` is "closed form" or "quadrature".
    """

    mu_T: Callable
    cov_TT: Callable
    log_partition: Callable | None
    source: str


def has_exact_answers(family: ExponentialFamily) -> bool:
    """Whether the family has a closed form or a quadrature rule."""
    return family.has_exact or supports_quadrature(family)


def exact_functions(family: ExponentialFamily) -> ExactFunctions:
    """The family's exact answers as pure JAX functions of one eta.

    The closed form (``exact_mu_T``, ``exact_cov_TT``, ``log_partition``)
    where the family has one; else the adaptive quadrature rule traced as a
    pure function (a fixed number of zooming passes, no host callback): about
    1e-12 relative in float64 (under ``jax.enable_x64(True)`` with float64
    eta), float32 rounding otherwise.

    Raises:
      FamilyError: neither a closed form nor a quadrature rule (support of
        dimension > 2).
    """
    if family.has_exact:
        has_log_z = type(family).log_partition is not ExponentialFamily.log_partition
        log_partition = family.log_partition if has_log_z else None
        return ExactFunctions(family.exact_mu_T, family.exact_cov_TT, log_partition, "closed form")
    if supports_quadrature(family):
        rule = rule_for(family)
        return ExactFunctions(
            lambda eta: moments_from_nodes(*rule(eta))[0],
            lambda eta: moments_from_nodes(*rule(eta))[1],
            lambda eta: moments_from_nodes(*rule(eta))[2],
            "quadrature",
        )
    raise FamilyError(
        f"{family.name}: no closed form and no quadrature rule (domain of dimension > 2)"
    )


def exact_moments(family: ExponentialFamily, eta) -> dict | None:
    """Exact mu_T (N, k) and cov_TT (N, k, k) in float64 NumPy, with their ``source``.

    The closed form where the family has one, quadrature where its domain
    allows (dimension <= 2; chunked and compiled once per family), else None.
    """
    if family.has_exact:
        functions = exact_functions(family)
        with jax.enable_x64(True):
            eta64 = jnp.asarray(np.asarray(eta, np.float64))
            mu = jax.vmap(functions.mu_T)(eta64)
            cov = jax.vmap(functions.cov_TT)(eta64)
            return {"mu_T": np.asarray(mu), "cov_TT": np.asarray(cov), "source": "closed form"}
    if supports_quadrature(family):
        return {**quadrature_moments(family, eta), "source": "quadrature"}
    return None
