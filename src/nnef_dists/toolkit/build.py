"""``toolkit(source)``: the Toolkit of a family or of a trained model directory.

- a family with a closed form (``log_partition`` or ``exact_mu_T``): A, mu and
  Cov from it (autodiff of A where only A is given);
- else a family whose support has dimension <= 2: the adaptive quadrature
  rule (``sampling.quadrature``), about 1e-12 relative in float64;
- a model directory (or LoadedModel): the network's mu_T and cov_TT (its
  Jacobian where it has no cov_TT), A where it provides it (potential_et).

E[log h] and sampling come from the family's quadrature rule where it has
one (sampling: 1-D supports, by the inverse CDF).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from nnef_dists.errors import FamilyError
from nnef_dists.families import ExponentialFamily
from nnef_dists.sampling.exact import exact_functions
from nnef_dists.sampling.quadrature import moments_from_nodes, rule_for, supports_quadrature
from nnef_dists.toolkit import quadrature
from nnef_dists.toolkit.toolkit import Toolkit


def toolkit(source) -> Toolkit:
    """The Toolkit of an ExponentialFamily, a model directory or a LoadedModel.

    Raises:
      FamilyError: a family with neither a closed form nor a quadrature rule
        (train a network for it and pass its model directory).
    """
    if isinstance(source, ExponentialFamily):
        return _of_family(source)
    from nnef_dists.models import LoadedModel, load_model

    model = source if isinstance(source, LoadedModel) else load_model(Path(source))
    return _of_model(model)


def _of_family(family: ExponentialFamily) -> Toolkit:
    exact = exact_functions(family)  # FamilyError: neither closed form nor quadrature
    if exact.source == "quadrature":
        rule = rule_for(family)

        def moments(eta):
            mu, cov, _, _ = moments_from_nodes(*rule(eta))
            return mu, cov
    else:

        def moments(eta):
            return exact.mu_T(eta), exact.cov_TT(eta)

    by_quadrature = supports_quadrature(family)
    return Toolkit(
        name=family.name,
        source=exact.source,
        eta_dim=family.stat_dim,
        moments=moments,
        log_partition_fn=exact.log_partition,
        in_space=family.in_natural_space,
        start=lambda mu: jnp.asarray(family.reference_eta(), mu.dtype),
        statistics=family.compute_stats_flat,
        log_base=family.log_base_measure,
        expected_log_base=_expected_log_base(family, by_quadrature),
        sampler=_sampler(family, by_quadrature),
    )


def _expected_log_base(family, by_quadrature: bool):
    if type(family).log_base_measure is ExponentialFamily.log_base_measure:
        return lambda eta: jnp.zeros((), eta.dtype)
    if by_quadrature:
        return lambda eta: quadrature.expected_log_base(family, eta)
    return None


def _sampler(family, by_quadrature: bool):
    if by_quadrature and quadrature.is_one_dimensional(family):
        return lambda key, eta, n: quadrature.inverse_cdf_sample(family, key, eta, n)
    return None


def _of_model(model) -> Toolkit:
    provides = model.provides
    cov = model.cov_TT if "cov_TT" in provides else model.jacobian
    norm = model.module.norm
    family = _family_or_none(model)
    if "eta_from_mu" in provides:
        start = model.eta_from_mu
    else:
        start = lambda mu: jnp.asarray(norm.eta.mean, mu.dtype)  # noqa: E731
    in_space = family.in_natural_space if family is not None else lambda eta: jnp.array(True)
    by_quadrature = family is not None and supports_quadrature(family)
    return Toolkit(
        name=f"{model.name} ({model.directory})",
        source="network",
        eta_dim=int(norm.eta.mean.shape[0]),
        moments=lambda eta: (model.mu_T(eta), cov(eta)),
        log_partition_fn=model.log_partition if "log_partition" in provides else None,
        in_space=in_space,
        start=start,
        statistics=None if family is None else family.compute_stats_flat,
        log_base=None if family is None else family.log_base_measure,
        expected_log_base=None if family is None else _expected_log_base(family, by_quadrature),
        sampler=None,
    )


def _family_or_none(model):
    try:
        return model.family
    except (FamilyError, ImportError, jax.errors.JAXTypeError):
        return None
